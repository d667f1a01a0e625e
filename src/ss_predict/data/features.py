"""The feature spec (which inputs a model sees) and the encoding of a protein into a L x F array.

`onehot`: 21 columns, residues in alphabet.RESIDUES order (X last).
`onehot+profile`: those 21 plus the 22 Zhou-order profile values (43 columns).
"""
from __future__ import annotations

import numpy as np

from ..core.alphabet import RESIDUES, encode_residues
from ..errors import UserError
from ..core.names import safe_name
from ..core.records import Protein

SPECS = {"onehot": len(RESIDUES), "onehot+profile": len(RESIDUES) + 22}


def spec_dict(name: str) -> dict:
    """The plain description stored in checkpoints."""
    if name not in SPECS:
        raise UserError(f"unknown feature spec '{name}'; one of {sorted(SPECS)}")
    return {"name": name, "n_features": SPECS[name], "residues": RESIDUES,
            "profile": "zhou22" if "profile" in name else None}


def uses_profile(name: str) -> bool:
    return "profile" in name


def encode(p: Protein, spec: str) -> np.ndarray:
    """L x F float32 features of one protein."""
    n = len(p)
    x = np.zeros((n, SPECS[spec]), dtype=np.float32)
    x[np.arange(n), encode_residues(p.sequence)] = 1.0
    if uses_profile(spec):
        if p.profile is None:
            raise UserError(f"record '{p.id}': the model needs profile features and this record has none "
                            f"(give --profiles DIR with {safe_name(p.id)}.pssm or {safe_name(p.id)}.hhm)")
        x[:, len(RESIDUES):] = p.profile
    return x
