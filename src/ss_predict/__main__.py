"""`python -m ss_predict INPUT.fasta ...` is `ss-predict INPUT.fasta ...`."""
from .cli.main import predict_main

predict_main()
