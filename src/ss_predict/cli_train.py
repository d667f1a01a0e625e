"""`python -m ss_predict.cli_train [overrides]` is `ss-train [overrides]`: the module torchrun starts on each rank
(`torchrun --nproc_per_node=N -m ss_predict.cli_train ...`), so train.py itself never imports the CLI."""
from .cli import train_main

train_main()
