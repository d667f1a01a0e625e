"""Residue letters, the 8-state and 3-state orders, the 8 -> 3 map and label normalisation.

Everything in the package that needs a state order or a residue order imports it from here.
"""
from __future__ import annotations

import numpy as np

# Residues: the 20 standard amino acids in alphabetical one-letter order, then X (unknown).
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
RESIDUES = AMINO_ACIDS + "X"
# Non-standard letters accepted in input and read as unknown (selenocysteine, Asx, Glx, pyrrolysine, J).
NONSTANDARD = "UBZOJ"

# 8-state DSSP, in the order of the Zhou & Troyanskaya label columns (their L = coil is our C).
SS8 = "CBEGIHST"
# 3-state order; PSIPRED's ss2 files print C, H, E columns: outputs.py reorders for that.
SS3 = "HEC"
# The one 8 -> 3 reduction used everywhere.
SS8_TO_SS3 = {"H": "H", "G": "H", "I": "H", "E": "E", "B": "E", "T": "C", "S": "C", "C": "C"}
SS8_TO_SS3_INDEX = np.array([SS3.index(SS8_TO_SS3[s]) for s in SS8], dtype=np.int64)
# Label letters that sources use for coil or for an unknown state.
COIL_ALIASES = {"L": "C", "P": "C", "-": "C", " ": "C", "_": "C"}
UNSCORED = -1

_RES_INDEX = np.full(256, RESIDUES.index("X"), dtype=np.int64)
for _i, _a in enumerate(RESIDUES):
    _RES_INDEX[ord(_a)] = _i
    _RES_INDEX[ord(_a.lower())] = _i


def ss8_to_ss3_matrix() -> np.ndarray:
    """8 x 3 0/1 matrix M with p3 = p8 @ M."""
    m = np.zeros((len(SS8), len(SS3)), dtype=np.float32)
    m[np.arange(len(SS8)), SS8_TO_SS3_INDEX] = 1.0
    return m


def encode_residues(sequence: str) -> np.ndarray:
    """Residue letters -> indices into RESIDUES (anything unknown -> X)."""
    return _RES_INDEX[np.frombuffer(sequence.encode("ascii", "replace"), dtype=np.uint8)]


def parse_ss8(labels: str) -> np.ndarray:
    """8-state label string -> int8 indices into SS8; L/P/- are coil, X (or anything else) unscored."""
    out = np.full(len(labels), UNSCORED, dtype=np.int8)
    for i, c in enumerate(labels.upper()):
        c = COIL_ALIASES.get(c, c)
        j = SS8.find(c)
        if j >= 0:
            out[i] = j
    return out


def parse_ss3(labels: str) -> np.ndarray:
    """3-state label string -> int8 indices into SS3; 8-state letters are reduced; others unscored."""
    out = np.full(len(labels), UNSCORED, dtype=np.int8)
    for i, c in enumerate(labels.upper()):
        c = COIL_ALIASES.get(c, c)
        c = SS8_TO_SS3.get(c, c)
        j = SS3.find(c)
        if j >= 0:
            out[i] = j
    return out


def ss8_to_ss3(ss8: np.ndarray) -> np.ndarray:
    """int 8-state indices -> int 3-state indices, keeping UNSCORED."""
    ss8 = np.asarray(ss8)
    out = np.full(ss8.shape, UNSCORED, dtype=np.int8)
    ok = ss8 >= 0
    out[ok] = SS8_TO_SS3_INDEX[ss8[ok]]
    return out


def labels_to_string(labels: np.ndarray, states: str, unscored: str = "X") -> str:
    """Indices -> letters; unscored residues become `unscored` (X: parse_ss8/parse_ss3 read it back as unscored)."""
    return "".join(states[i] if i >= 0 else unscored for i in labels)


# Theoretical maximal accessible surface per residue (square angstroms; Tien et al. 2013, PLoS ONE 8:e80635,
# "theoretical" column): RSA = ASA / MAX_ASA[residue], capped at 1. Unknown residues have none (NaN).
MAX_ASA = {"A": 129.0, "R": 274.0, "N": 195.0, "D": 193.0, "C": 167.0, "Q": 225.0, "E": 223.0, "G": 104.0,
           "H": 224.0, "I": 197.0, "L": 201.0, "K": 236.0, "M": 224.0, "F": 240.0, "P": 159.0, "S": 155.0,
           "T": 172.0, "W": 285.0, "Y": 263.0, "V": 174.0}
_MAX_ASA_BY_INDEX = np.array([MAX_ASA.get(a, np.nan) for a in RESIDUES], dtype=np.float32)
EXPOSED_AT = 0.25  # 2-state accessibility: exposed at RSA >= 25% (SCRATCH-1D's ACCpro, NetSurfP)


def max_asa(sequence: str) -> np.ndarray:
    """Per-residue maximal accessible surface (float32; NaN for X and other unknown residues)."""
    return _MAX_ASA_BY_INDEX[encode_residues(sequence)]


def rsa_from_asa(sequence: str, asa) -> np.ndarray:
    """ASA (square angstroms) -> RSA capped at 1 (NaN where the residue is unknown or ASA is NaN)."""
    return np.minimum(np.asarray(asa, dtype=np.float32) / max_asa(sequence), 1.0)
