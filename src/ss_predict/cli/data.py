"""ss-data: stats, convert, audit and build of data sets (data/formats, data/build); a SCRATCH-1D label file given
as sequences is refused."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..config.compose import load_config
from ..config.schema import HomologyConfig, MmseqsConfig
from ..core.files import atomic_write_text, refuse_input_as_output
from ..data.build.audit import audit, format_report, load_set, parse_set
from ..data.build.builder import build
from ..data.build.homology import Blast, MMseqs
from ..data.formats import WRITERS, detect, read_any
from ..errors import UserError
from ..config.rules import threads
from .args import OneLineParser, guarded, path

H, M = HomologyConfig(), MmseqsConfig()  # the criteria's and the search's defaults (and rules): config/schema.py


def _refuse_scratch_labels(name: str) -> None:
    """A SCRATCH-1D label file (SSpro8.dssp ...) read alone would pass for protein sequences made of H, E, C."""
    p = Path(name)
    label_file = p.name in ("SSpro8.dssp", "SSpro.dssp", "ACCpro.dssp", "ACCpro20.dssp")
    if p.is_file() and (label_file or p.suffix == ".dssp" and (p.parent / "Proteins.fa").exists()
                        and p.open("rb").read(1) == b">"):
        raise UserError(f"{p} is a SCRATCH-1D label file, not sequences: give its folder (ss-data stats {p.parent}) "
                        f"or {p.parent / 'Proteins.fa'}; format scratch reads the sequences with their SSpro8.dssp labels")


def _parser() -> OneLineParser:
    ap = OneLineParser(prog="ss-data", description="Inspect, convert and build data sets.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("stats", help="proteins, residues and scored residues of a file")
    st.add_argument("path", type=path)
    st.add_argument("--format", help="format (default: detected)")
    cv = sub.add_parser("convert", help="convert any supported file to the Zhou or 3-line format")
    cv.add_argument("input", type=path)
    cv.add_argument("output", type=path)
    cv.add_argument("--to", required=True, choices=list(WRITERS))
    cv.add_argument("--format", help="input format (default: detected)")
    au = sub.add_parser("audit", help="homologous pairs between a training set and benchmark sets "
                        "(the builder's criteria); exit 1 if any pair is found")
    au.add_argument("train", type=path,
                    help="training set file, optionally PATH:SPLIT (e.g. train_set.jsonl.gz:train)")
    au.add_argument("benchmarks", nargs="+", type=path,
                    help="benchmark set files (any supported format), PATH[:SPLIT]")
    for key, doc in (("identity", f"identical positions / shorter chain ({H.identity})"),
                     ("min_aln_len", f"aligned residues ({H.min_aln_len})"),
                     ("evalue", f"e-value, MMseqs2 and BLAST+ ({M.evalue})"),
                     ("min_contained", f"exact containment of a whole chain ({H.min_contained})"),
                     ("min_cover", "an alignment under --min-aln-len still counts if it covers this share of the "
                                   f"shorter chain and >= --min-contained residues ({H.min_cover})")):
        defaults = M if key == "evalue" else H  # the type: the key's rule
        au.add_argument("--" + key.replace("_", "-"), type=defaults.__dataclass_fields__[key].metadata["rule"].arg,
                        default=getattr(defaults, key), help=doc)
    au.add_argument("--threads", type=threads, default=M.threads)
    au.add_argument("--no-blast", action="store_true", help="MMseqs2 only (no BLAST+ second search)")
    au.add_argument("-o", "--output", type=path, help="write the pairs (TSV) here instead of standard output")
    bd = sub.add_parser("build", help="build the homology-filtered training set (Hydra overrides follow)")
    bd.add_argument("overrides", nargs="*", help="e.g. valid_fraction=0.1 paths.output_dir=/tmp/x")
    bd.add_argument("--config-name", default="build",
                    help="build (the default pools) or build_cullpdb (the classic CullPDB -> CB513 protocol)")
    return ap


@guarded
def data_main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        _command(args)
    except BrokenPipeError:
        raise
    except OSError as e:  # a file or folder that cannot be read or written (permissions, a full disk)
        raise UserError(f"{e.filename + ': ' if e.filename else ''}{e.strerror or type(e).__name__}") from None


def _command(args) -> None:
    if args.cmd == "stats":
        _refuse_scratch_labels(args.path)
        fmt = args.format or detect(args.path)
        proteins = read_any(args.path, fmt)
        n3only = sum(1 for p in proteins if p.ss8 is None and p.ss3 is not None)
        print(f"format:           {fmt}\nproteins:         {len(proteins)}\n"
              f"residues:         {sum(len(p) for p in proteins)}\n"
              f"scored residues:  {sum(p.n_scored for p in proteins)}\n"
              f"3-state only:     {n3only}\nwith profiles:    {sum(p.profile is not None for p in proteins)}")
    elif args.cmd == "convert":
        refuse_input_as_output(args.output, [args.input], "output", "the converted records")
        proteins = read_any(args.input, args.format)
        counts = WRITERS[args.to](proteins, args.output)
        if counts:  # the Zhou layout keeps only residues with an 8-state label
            print(f"wrote {counts['proteins']} proteins ({counts['rows']} rows) to {args.output}; dropped "
                  f"{counts['dropped_residues']} residues without an 8-state label and "
                  f"{counts['dropped_chains']} chains without any (3-state-only or unlabelled)")
        else:
            print(f"wrote {len(proteins)} proteins to {args.output}")
    elif args.cmd == "audit":
        _audit(args)
    else:
        cfg = load_config(args.config_name, args.overrides)
        t0 = time.perf_counter()
        m = build(cfg)
        print(json.dumps({"output": str(cfg.output), "manifest": str(cfg.manifest), **m["counts"],
                          "removed_per_benchmark": m["removed_per_benchmark"],
                          "seconds": round(time.perf_counter() - t0, 1)}, indent=1))


def _audit(args) -> None:
    refuse_input_as_output(args.output, [parse_set(a)[0] for a in (args.train, *args.benchmarks)], "-o",
                           "the report")
    train = load_set(args.train)
    benches = {b: load_set(b) for b in args.benchmarks}
    tool = [MMseqs(evalue=args.evalue, threads=args.threads)]
    if not args.no_blast:
        tool.append(Blast(evalue=args.evalue, threads=args.threads))
    results = audit(train, benches, tool, args.identity, args.min_aln_len, args.min_contained, args.min_cover)
    report = format_report(results)
    if args.output:
        atomic_write_text(args.output, report)
    else:
        sys.stdout.write(report)
    for name, hits in results.items():
        print(f"{name}: {len({h.b for h in hits})} of {len(benches[name])} chains with a homologue among "
              f"{len(train)} training chains ({len(hits)} pairs)", file=sys.stderr)
    if any(results.values()):
        sys.exit(1)
