"""torchrun for the commands: `ss-train trainer.devices=N` relaunched as N ranks, and the device and output part
of each rank of `torchrun ... -m ss_predict ...` (ss-predict under torchrun)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..prediction.writers import is_folder_output


def launch_torchrun(n: int) -> None:
    """`ss-train trainer.devices=N ...` re-runs itself as N torchrun ranks (one node)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
           "-m", "ss_predict.cli.train", *sys.argv[1:]]
    print(f"[ss-train] launching: {' '.join(cmd)}", flush=True)
    code = subprocess.call(cmd)
    if code:
        sys.exit(code)


def rank_device(name: str, dinfo) -> str:
    import torch
    if name in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{dinfo.local_rank % torch.cuda.device_count()}"
    return name


def rank_output(output: str, shard, dinfo) -> str:
    """Under torchrun rank R of N writes FILE's stem.R-of-N.ext (1-based; the part of the shard, if any); into a
    folder every rank writes its own records' files."""
    if is_folder_output(output):
        return output
    part = (shard.index - 1) * dinfo.world + dinfo.rank + 1 if shard else dinfo.rank + 1
    count = shard.count * dinfo.world if shard else dinfo.world
    p = Path(output)
    return str(p.with_name(f"{p.stem}.{part}-of-{count}{p.suffix}"))
