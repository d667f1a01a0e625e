"""ss-predict: FASTA in, predictions out (prediction/), streaming; under torchrun each rank predicts its part."""
from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import UserError
from ..prediction.predictor import WINDOW_RECORDS, Predictor, Shard
from ..prediction.renderers import FORMATS
from ..prediction.writers import check_output
from ..config.rules import positive_int, threads
from .args import OneLineParser, guarded, path
from .torchrun import rank_device, rank_output


def _predict_parser() -> argparse.ArgumentParser:
    ap = OneLineParser(prog="ss-predict", description="Predict 8- and 3-state secondary structure from FASTA "
                       "with the bundled model (or your checkpoint), streaming: any input size in bounded memory, "
                       "output in input order as the run goes.")
    ap.add_argument("input", type=path,
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
    ap.add_argument("--profiles", type=path,
                    help="folder with ID.pssm (PSI-BLAST ASCII) or ID.hhm (HHblits) per record")
    ap.add_argument("--skip-invalid", action="store_true", help="predict the valid records, list invalid ones")
    ap.add_argument("--allow-nucleotide", action="store_true",
                    help="predict records that look like DNA/RNA (>= 90%% A/C/G/T/U/N) instead of refusing them")
    ap.add_argument("--resume", action="store_true", help="continue an interrupted run into the same -o FILE or "
                    "-o DIR/ (same input, model and options): complete records are kept, the rest predicted")
    ap.add_argument("--shard", metavar="I/N", help="predict only the I-th (1..N) of N contiguous, residue-balanced "
                    "parts of the input; cat of the N outputs in order is the whole run's output")
    ap.add_argument("--max-tokens", type=positive_int, default=32768, help="residues per batch (32768)")
    ap.add_argument("--window", type=positive_int, default=WINDOW_RECORDS,
                    help=f"records held in memory at once ({WINDOW_RECORDS}; at most 500,000 residues)")
    ap.add_argument("--threads", type=threads, help="CPU threads (default: PyTorch's choice)")
    ap.add_argument("--quiet", action="store_true",
                    help="no progress bar (it is shown when standard error is a terminal)")
    ap.add_argument("--version", action="version", version=f"ss-predict {__version__}")
    return ap


@guarded
def predict_main(argv: list[str] | None = None) -> None:
    args = _predict_parser().parse_args(argv)

    import torch  # at first use: --help and bad options stay fast

    from ..inference import distributed

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
        output = rank_output(output, shard, dinfo)
    predictor = Predictor(args.model, args.device if not dinfo.enabled else rank_device(args.device, dinfo),
                          args.max_tokens, window_records=args.window)
    predictor.run(args.input, output, args.format, profiles=args.profiles, skip_invalid=args.skip_invalid,
                  allow_nucleotide=args.allow_nucleotide, resume=args.resume, shard=shard, rank=dinfo.rank,
                  world=dinfo.world, progress=not args.quiet and sys.stderr.isatty() and dinfo.main)
