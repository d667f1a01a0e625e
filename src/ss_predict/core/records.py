"""The in-memory record of one protein, shared by every reader, writer, model and metric: `Protein`."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .alphabet import UNSCORED, ss8_to_ss3


# The per-residue labels beside secondary structure and their array types (NaN / -1 = no label).
LABEL_TYPES = {"rsa": np.float32, "phi": np.float32, "psi": np.float32, "exposed": np.int8, "disorder": np.int8}


@dataclass
class Protein:
    """One chain.

    ss8 / ss3 are int8 arrays of state indices (alphabet.SS8 / alphabet.SS3) with -1 where a residue
    is not scored (unresolved, unknown, outside the benchmark segment). A record may carry 3-state
    labels only (ss8 is None). profile, when present, is L x 22 in the Zhou profile column order.

    The labels of the other tasks, each None when a source has none, else one value per residue:
    rsa (relative solvent accessibility, 0..1) and phi / psi (degrees) float32 with NaN where a residue has
    no value; exposed (2-state accessibility at 25% RSA, 1 exposed / 0 buried) and disorder (1 unresolved /
    0 resolved) int8 with -1 where unknown.
    """

    id: str
    sequence: str
    ss8: np.ndarray | None = None
    ss3: np.ndarray | None = None
    profile: np.ndarray | None = None
    rsa: np.ndarray | None = None
    phi: np.ndarray | None = None
    psi: np.ndarray | None = None
    exposed: np.ndarray | None = None
    disorder: np.ndarray | None = None
    extras: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.sequence)
        if self.ss8 is not None:
            self.ss8 = np.asarray(self.ss8, dtype=np.int8)
            if self.ss3 is None:
                self.ss3 = ss8_to_ss3(self.ss8)
        if self.ss3 is not None:
            self.ss3 = np.asarray(self.ss3, dtype=np.int8)
        for name, dtype in LABEL_TYPES.items():
            if getattr(self, name) is not None:
                setattr(self, name, np.asarray(getattr(self, name), dtype=dtype))
        for name in ("ss8", "ss3", *LABEL_TYPES):
            arr = getattr(self, name)
            if arr is not None and len(arr) != n:
                raise ValueError(f"{self.id}: {name} has {len(arr)} labels for {n} residues")
        if self.profile is not None:
            self.profile = np.asarray(self.profile, dtype=np.float32)
            if self.profile.shape != (n, 22):
                raise ValueError(f"{self.id}: profile shape {self.profile.shape}, expected ({n}, 22)")

    def __len__(self) -> int:
        return len(self.sequence)

    @property
    def mask(self) -> np.ndarray:
        """Residues that count for scoring."""
        if self.ss3 is None:
            return np.zeros(len(self), dtype=bool)
        return self.ss3 != UNSCORED

    @property
    def n_scored(self) -> int:
        return int(self.mask.sum())
