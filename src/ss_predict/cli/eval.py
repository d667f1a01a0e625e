"""ss-eval checkpoint=PATH data=[cb513,ts115,casp12]: compose the eval config, then score (evaluation/)."""
from __future__ import annotations

import sys

from .args import guarded
from .entry import hydra_entry


def _eval_task(cfg) -> None:
    from ..evaluation.evaluate import run_eval  # torch and the models: only when scoring
    run_eval(cfg)


@guarded
def eval_main(argv: list[str] | None = None) -> None:
    hydra_entry("eval", _eval_task, sys.argv[1:] if argv is None else argv)
