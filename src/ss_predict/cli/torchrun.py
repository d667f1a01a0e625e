"""`python -m ss_predict.cli.torchrun [overrides]` is `ss-train [overrides]`: the module torchrun starts on each rank
(`torchrun --nproc_per_node=N -m ss_predict.cli.torchrun ...`), so train.py itself never imports the CLI."""
from .main import train_main

train_main()
