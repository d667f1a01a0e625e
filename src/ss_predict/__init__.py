"""ss-predict: protein secondary structure prediction (8-state DSSP and 3-state H/E/C).

Python API (see the README, "Python API"; the heavy imports happen on first use):

    import ss_predict
    preds = ss_predict.predict(["MQIFVKTLTGKTITLEV..."], model="default", device="cpu")
    preds[0].ss3, preds[0].p8          # 'CEEEEEEE...', L x 8 probabilities (ss_predict.STATES8 order)
    predictor = ss_predict.Predictor(model="default", device="cpu")   # reuse the loaded model
"""

__version__ = "0.1.0"

# name -> module that defines it, imported on first access (PEP 562) so `import ss_predict` stays fast
_LAZY = {"Predictor": "api", "read_proteins": "api", "write": "api", "STATES8": "api", "STATES3": "api",
         "Prediction": "prediction.result", "UserError": "errors", "FormatError": "errors"}
__all__ = ["__version__", "predict", *_LAZY]


def predict(sequences, model: str = "default", device: str = "cpu", **options):
    """Secondary structure of `sequences`: a FASTA path, a list of sequence strings, (id, sequence)
    pairs, an {id: sequence} mapping or Biopython SeqRecords. Returns one `Prediction` per protein,
    in input order, with `id`, `sequence`, `ss8`, `ss3` and the `p8` (L x 8), `p3` (L x 3) arrays.
    Invalid input raises `FormatError` naming the record. `options`: `profiles`, `allow_nucleotide`,
    `progress` (see `Predictor.predict`)."""
    from .api import predict as run
    return run(sequences, model, device, **options)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'ss_predict' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
