"""`python -m ss_predict INPUT.fasta ...` is `ss-predict INPUT.fasta ...`."""
from .cli.predict import predict_main

predict_main()
