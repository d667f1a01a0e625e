"""Thin entry points: ss-train, ss-eval, ss-predict, ss-data. Parse, call, report errors in one line."""
from __future__ import annotations

import argparse
import contextlib
import functools
import signal
import sys
import threading

from .. import __version__
from ..errors import Terminated, UserError

EXIT_USER_ERROR = 2


def _fail(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)


def guarded(fn):
    """Run a CLI body: user errors become one line on stderr and exit status 2; SIGTERM is handled as Ctrl-C
    is (clean-up runs, nothing half-written is left) and ends with status 143."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with _sigterm_as_interrupt():
                return fn(*args, **kwargs)
        except UserError as e:
            _fail(str(e))
        except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
            from ..core.files import discard_stdout
            discard_stdout()
            sys.exit(0)
        except Terminated:
            print("terminated", file=sys.stderr)
            sys.exit(128 + signal.SIGTERM)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)
    return wrapper


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While the body runs, SIGTERM raises errors.Terminated (a KeyboardInterrupt). Left alone off the main
    thread, where it is ignored (SIG_IGN), or already handled (a nested guarded body, a caller's handler)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def on_sigterm(signum, frame):
        raise Terminated

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


SWEEP_FLAGS = ("-m", "--multirun")


def _hydra_entry(config_name: str, task, argv: list[str]) -> None:
    """Check the overrides with the compose API (every job of a -m sweep; one clear line on error), then hand
    over to hydra.main."""
    import hydra
    from omegaconf import DictConfig

    from ..config.compose import load_config, sweep_jobs

    flags = [a for a in argv if a.startswith("-")]
    if all(a in SWEEP_FLAGS for a in flags):  # --help, --cfg and other Hydra flags go straight to Hydra
        overrides = [a for a in argv if not a.startswith("-")]
        multirun = bool(flags)
        cfgs = [load_config(config_name, job) for job in (sweep_jobs(overrides) if multirun else [overrides])]
        for cfg in cfgs:
            _check_groups(cfg)
        if multirun:
            _check_sweep(cfgs)

    @hydra.main(config_path="pkg://ss_predict.configs", config_name=config_name, version_base="1.3")
    def main(cfg: DictConfig) -> None:
        guarded(_one_line_os_errors(task))(cfg)

    sys.argv = [sys.argv[0], *argv]
    main()


def _check_groups(cfg) -> None:
    """`data=[]` or `model=[]` (an empty choice of a config group) leaves the section empty: one line, not a crash
    deep inside the job."""
    from omegaconf import DictConfig

    for key in ("model", "data"):
        if key in cfg and not (isinstance(cfg.get(key), DictConfig) and len(cfg.get(key))):
            raise UserError(f"{key} is empty (was it given as {key}=[]?): choose one, e.g. "
                            + ("model=cnn_bigru" if key == "model" else "data=tiny" if "trainer" in cfg
                               else "data=cb513 or data=[cb513,ts115]"))


def _check_sweep(cfgs: list) -> None:
    """Before Hydra creates the time-stamped sweep folder: it must be writable; torchrun jobs cannot be swept."""
    from pathlib import Path

    from ..training.runs import check_writable

    for cfg in cfgs:
        check_writable(Path(cfg.paths.output_dir))
        if "trainer" in cfg and cfg.trainer.devices > 1:
            raise UserError("trainer.devices > 1 cannot run inside a -m sweep: start each job on its own")


def _one_line_os_errors(task):
    """A file that cannot be read or written (read-only, full, missing folder) ends the job in one line."""
    @functools.wraps(task)
    def wrapper(cfg):
        try:
            return task(cfg)
        except BrokenPipeError:
            raise
        except OSError as e:
            where = f"{e.filename}: " if e.filename else ""
            raise UserError(f"{where}{e.strerror or e}: check the path, or choose another paths.output_dir "
                            "(SS_OUTPUT_DIR)") from None
    return wrapper


def _sweep_run_dir(cfg) -> None:
    """In a -m sweep every job trains in its own folder of the time-stamped sweep folder (unless run_dir= is given)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict

    if not HydraConfig.initialized():
        return
    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN and not any(o.split("=", 1)[0] == "run_dir" for o in hc.overrides.task):
        with open_dict(cfg):
            cfg.run_dir = hc.runtime.output_dir


def _train_task(cfg) -> None:
    from pathlib import Path

    from ..models import create_model
    from ..data.features import spec_dict

    if cfg.info:
        m = create_model(cfg.model.name, spec_dict(cfg.features)["n_features"], **(cfg.model.get("kwargs") or {}))
        print(f"{cfg.model.name}: {m.n_parameters():,} parameters, receptive field "
              f"{m.receptive_field() or 'whole chain'} residues, features {cfg.features}")
        return
    _sweep_run_dir(cfg)
    import os
    if cfg.trainer.devices > 1 and "WORLD_SIZE" not in os.environ:
        from ..config.compose import check_data_paths
        from ..training.runs import check_name, check_run_dir

        check_name(cfg.name)
        check_data_paths(cfg, cfg.data)  # one line here, not one per rank
        check_run_dir(Path(cfg.run_dir), cfg.trainer.resume, cfg.overwrite)
        _launch_torchrun(cfg.trainer.devices)
        return
    from ..training.loop import train
    train(cfg)


def _launch_torchrun(n: int) -> None:
    """`ss-train trainer.devices=N ...` re-runs itself as N torchrun ranks (one node)."""
    import subprocess
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
           "-m", "ss_predict.cli.torchrun", *sys.argv[1:]]
    print(f"[ss-train] launching: {' '.join(cmd)}", flush=True)
    code = subprocess.call(cmd)
    if code:
        sys.exit(code)


def _eval_task(cfg) -> None:
    from ..evaluation.evaluate import run_eval
    run_eval(cfg)


@guarded
def train_main(argv: list[str] | None = None) -> None:
    """ss-train [hydra overrides]: e.g. `ss-train model=dilated_cnn trainer.max_epochs=40`."""
    _hydra_entry("train", _train_task, sys.argv[1:] if argv is None else argv)


@guarded
def eval_main(argv: list[str] | None = None) -> None:
    """ss-eval checkpoint=PATH data=[cb513,ts115,casp12]"""
    _hydra_entry("eval", _eval_task, sys.argv[1:] if argv is None else argv)


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


MAX_THREADS = 1024  # torch.set_num_threads(100000) crashes (segmentation fault); as schema.MAX_THREADS


def _threads(text: str) -> int:
    """A CPU thread count (argparse type): 1 to MAX_THREADS."""
    n = _positive_int(text)
    if n > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_THREADS}, got {n}")
    return n


def _path(text: str) -> str:
    """A file or folder path (argparse type): an empty one (an unset shell variable?) is refused, not read as '.'."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the path is empty (an unset shell variable?)")
    return text


def _fraction(text: str) -> float:
    """A share between 0 and 1 (argparse type)."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0 <= x <= 1:  # (also refuses nan)
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return x


def _positive_number(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0 < x < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return x


class _OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (and exit status 2) instead of the usage block."""

    def error(self, message: str) -> None:
        _fail(f"{message} (see {self.prog} --help)")


def _predict_parser() -> argparse.ArgumentParser:
    from ..prediction.renderers import FORMATS
    from ..prediction.predictor import WINDOW_RECORDS

    ap = _OneLineParser(prog="ss-predict", description="Predict 8- and 3-state secondary structure from FASTA "
                        "with the bundled model (or your checkpoint), streaming: any input size in bounded memory, "
                        "output in input order as the run goes.")
    ap.add_argument("input", type=_path,
                    help="FASTA file (one or more records; .gz read transparently), or - for standard input")
    ap.add_argument("-o", "--output", help="output file (- for standard output), or a folder (ending in /) for one "
                    "file per record; default: standard output. Files are replaced whole, symbolic links are "
                    "followed, devices and FIFOs are written through")
    ap.add_argument("-f", "--format", default="ss2", choices=FORMATS,
                    help="output format (default: ss2, PSIPRED's VFORMAT); svg, png: a cartoon per record (needs "
                    "matplotlib); several records into one -o FILE.svg are stacked in one picture, PNG needs -o DIR/")
    ap.add_argument("-m", "--model", default="default",
                    help="bundled model name or checkpoint path; several joined by commas are averaged")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    ap.add_argument("--profiles", type=_path,
                    help="folder with ID.pssm (PSI-BLAST ASCII) or ID.hhm (HHblits) per record")
    ap.add_argument("--skip-invalid", action="store_true", help="predict the valid records, list invalid ones")
    ap.add_argument("--allow-nucleotide", action="store_true",
                    help="predict records that look like DNA/RNA (>= 90%% A/C/G/T/U/N) instead of refusing them")
    ap.add_argument("--resume", action="store_true", help="continue an interrupted run into the same -o FILE or "
                    "-o DIR/ (same input, model and options): complete records are kept, the rest predicted")
    ap.add_argument("--shard", metavar="I/N", help="predict only the I-th (1..N) of N contiguous, residue-balanced "
                    "parts of the input; cat of the N outputs in order is the whole run's output")
    ap.add_argument("--max-tokens", type=_positive_int, default=32768, help="residues per batch (32768)")
    ap.add_argument("--window", type=_positive_int, default=WINDOW_RECORDS,
                    help=f"records held in memory at once ({WINDOW_RECORDS}; at most 500,000 residues)")
    ap.add_argument("--threads", type=_threads, help="CPU threads (default: PyTorch's choice)")
    ap.add_argument("--quiet", action="store_true",
                    help="no progress bar (it is shown when standard error is a terminal)")
    ap.add_argument("--version", action="version", version=f"ss-predict {__version__}")
    return ap


@guarded
def predict_main(argv: list[str] | None = None) -> None:
    args = _predict_parser().parse_args(argv)

    import torch

    from ..inference import distributed
    from ..prediction.predictor import Predictor, Shard
    from ..prediction.writers import check_output

    shard = Shard.parse(args.shard) if args.shard is not None else None
    check_output(args.output, args.format)  # before the model loads and the (possibly long) prediction
    dinfo = distributed.from_env()
    if dinfo.enabled and args.input == "-":
        raise UserError("under torchrun every rank reads the input: give a FASTA file, not -")
    if dinfo.enabled and args.output in (None, "-"):
        raise UserError("under torchrun each rank writes its own part: give -o FILE (parts FILE's name with "
                        ".R-of-N before its extension) or -o DIR/")
    if args.threads:
        torch.set_num_threads(args.threads)
    output = args.output
    if dinfo.enabled:  # each rank predicts and writes its own contiguous part; nothing is gathered
        from ..inference.engine import resolve_device
        resolve_device(args.device)  # a bad --device is one line before the ranks connect
        output = _rank_output(output, shard, dinfo)
    predictor = Predictor(args.model, args.device if not dinfo.enabled else _rank_device(args.device, dinfo),
                          args.max_tokens, window_records=args.window)
    predictor.run(args.input, output, args.format, profiles=args.profiles, skip_invalid=args.skip_invalid,
                  allow_nucleotide=args.allow_nucleotide, resume=args.resume, shard=shard, rank=dinfo.rank,
                  world=dinfo.world, progress=not args.quiet and sys.stderr.isatty() and dinfo.main)


def _rank_device(name: str, dinfo) -> str:
    import torch
    if name in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{dinfo.local_rank % torch.cuda.device_count()}"
    return name


def _rank_output(output: str, shard, dinfo) -> str:
    """Under torchrun rank R of N writes FILE's stem.R-of-N.ext (1-based; the part of the shard, if any); into a
    folder every rank writes its own records' files."""
    from pathlib import Path

    from ..prediction.writers import is_folder_output
    if is_folder_output(output):
        return output
    part = (shard.index - 1) * dinfo.world + dinfo.rank + 1 if shard else dinfo.rank + 1
    count = shard.count * dinfo.world if shard else dinfo.world
    p = Path(output)
    return str(p.with_name(f"{p.stem}.{part}-of-{count}{p.suffix}"))


SCRATCH_LABEL_FILES = ("SSpro8.dssp", "SSpro.dssp", "ACCpro.dssp", "ACCpro20.dssp")


def _refuse_scratch_labels(path: str) -> None:
    """A SCRATCH-1D label file (SSpro8.dssp ...) read alone would pass for protein sequences made of H, E, C."""
    from pathlib import Path

    p = Path(path)
    if p.is_file() and (p.name in SCRATCH_LABEL_FILES or (p.suffix == ".dssp" and (p.parent / "Proteins.fa").exists()
                                                            and p.open("rb").read(1) == b">")):
        raise UserError(f"{p} is a SCRATCH-1D label file, not sequences: give its folder (ss-data stats {p.parent}) "
                        f"or {p.parent / 'Proteins.fa'}; format scratch reads the sequences with their SSpro8.dssp labels")


@guarded
def data_main(argv: list[str] | None = None) -> None:
    ap = _OneLineParser(prog="ss-data", description="Inspect, convert and build data sets.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("stats", help="proteins, residues and scored residues of a file")
    st.add_argument("path", type=_path)
    st.add_argument("--format", help="format (default: detected)")
    cv = sub.add_parser("convert", help="convert any supported file to the Zhou or 3-line format")
    cv.add_argument("input", type=_path)
    cv.add_argument("output", type=_path)
    cv.add_argument("--to", required=True, choices=["zhou", "fasta3"])
    cv.add_argument("--format", help="input format (default: detected)")
    au = sub.add_parser("audit", help="homologous pairs between a training set and benchmark sets "
                        "(the builder's criteria); exit 1 if any pair is found")
    au.add_argument("train", type=_path,
                    help="training set file, optionally PATH:SPLIT (e.g. train_set.jsonl.gz:train)")
    au.add_argument("benchmarks", nargs="+", type=_path,
                    help="benchmark set files (any supported format), PATH[:SPLIT]")
    au.add_argument("--identity", type=_fraction, default=0.25, help="identical positions / shorter chain (0.25)")
    au.add_argument("--min-aln-len", type=_positive_int, default=30, help="aligned residues (30)")
    au.add_argument("--evalue", type=_positive_number, default=0.01, help="e-value, MMseqs2 and BLAST+ (0.01)")
    au.add_argument("--min-contained", type=_positive_int, default=20, help="exact containment of a whole chain (20)")
    au.add_argument("--min-cover", type=_fraction, default=0.9,
                    help="an alignment under --min-aln-len still counts if it covers this share of the shorter chain "
                         "and >= --min-contained residues (0.9)")
    au.add_argument("--threads", type=_threads, default=2)
    au.add_argument("--no-blast", action="store_true", help="MMseqs2 only (no BLAST+ second search)")
    au.add_argument("-o", "--output", type=_path, help="write the pairs (TSV) here instead of standard output")
    bd = sub.add_parser("build", help="build the homology-filtered training set (Hydra overrides follow)")
    bd.add_argument("overrides", nargs="*", help="e.g. valid_fraction=0.1 paths.output_dir=/tmp/x")
    bd.add_argument("--config-name", default="build",
                    help="build (the default pools) or build_cullpdb (the classic CullPDB -> CB513 protocol)")
    args = ap.parse_args(argv)
    try:
        _data_command(args)
    except BrokenPipeError:
        raise
    except OSError as e:  # a file or folder that cannot be read or written (permissions, a full disk)
        raise UserError(f"{e.filename + ': ' if e.filename else ''}{e.strerror or type(e).__name__}") from None


def _data_command(args) -> None:
    from ..data.formats import WRITERS, detect, read_any

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
        import json
        import time

        from ..data.build.builder import build
        from ..config.compose import load_config

        cfg = load_config(args.config_name, args.overrides)
        t0 = time.perf_counter()
        m = build(cfg)
        print(json.dumps({"output": str(cfg.output), "manifest": str(cfg.manifest), **m["counts"],
                          "removed_per_benchmark": m["removed_per_benchmark"],
                          "seconds": round(time.perf_counter() - t0, 1)}, indent=1))


def _audit(args) -> None:
    from ..data.build.audit import audit, format_report, load_set
    from ..data.build.homology import Blast, MMseqs

    train = load_set(args.train)
    benches = {b: load_set(b) for b in args.benchmarks}
    tool = [MMseqs(evalue=args.evalue, threads=args.threads)]
    if not args.no_blast:
        tool.append(Blast(evalue=args.evalue, threads=args.threads))
    results = audit(train, benches, tool, args.identity, args.min_aln_len, args.min_contained, args.min_cover)
    report = format_report(results)
    if args.output:
        from ..core.files import atomic_write_text
        atomic_write_text(args.output, report)
    else:
        sys.stdout.write(report)
    for name, hits in results.items():
        print(f"{name}: {len({h.b for h in hits})} of {len(benches[name])} chains with a homologue among "
              f"{len(train)} training chains ({len(hits)} pairs)", file=sys.stderr)
    if any(results.values()):
        sys.exit(1)
