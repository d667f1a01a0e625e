"""Architectures (one file each) behind one registry; importing this package registers them all."""
from . import classical, cnn_bigru, dilated_cnn, nextstep, phd  # noqa: F401  (registration side effects)
from .registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
