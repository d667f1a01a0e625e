"""CASP10 / CASP11 HDF5 files in the Zhou layout with profiles (`features` N x 700 x 43, `labels` N x 700 x 9).

features[..., 0:21] one-hot residue in the Zhou order, features[..., 21:43] the 22 profile values.
The labels' NoSeq column is unreliable, so residues are the rows whose one-hot sums to 1.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import FormatError
from ...core.records import Protein
from .zhou import ZHOU_LABELS, ZHOU_RESIDUES, zhou_labels_to_ss8
from .registry import reader


@reader("casp_h5")
def read_casp_h5(path: str | Path) -> list[Protein]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            feats = np.asarray(f["features"], dtype=np.float32)
            labels = np.asarray(f["labels"])
    except (OSError, KeyError) as e:
        raise FormatError(f"{path}: not a CASP HDF5 file with 'features' and 'labels' ({e})") from None
    if feats.ndim != 3 or feats.shape[2] != 43 or labels.shape[:2] != feats.shape[:2]:
        raise FormatError(f"{path}: features {feats.shape} / labels {labels.shape}, expected N x 700 x 43 / 9")
    stem = Path(path).stem
    proteins = []
    for i in range(feats.shape[0]):
        onehot = feats[i, :, :21]
        rows = np.flatnonzero(onehot.sum(1) == 1)
        seq = "".join(ZHOU_RESIDUES[j] for j in onehot[rows].argmax(1))
        lab = labels[i, rows, : len(ZHOU_LABELS)]
        proteins.append(Protein(id=f"{stem}|{i}", sequence=seq, ss8=zhou_labels_to_ss8(lab),
                                profile=feats[i, rows, 21:43]))
    return proteins
