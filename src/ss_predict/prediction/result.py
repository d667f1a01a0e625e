"""What a predictor returns for one protein: `Prediction`, its probabilities and the strings read from them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.alphabet import EXPOSED_AT, SS3, SS8, max_asa
from .pictures import figure


@dataclass(repr=False)
class Prediction:
    """One protein's prediction. p8 / p3 always; the other values only where the model has the task (None
    otherwise, never made up): rsa (relative solvent accessibility 0..1), phi / psi (degrees, -180..180),
    disorder (probability of being unresolved / disordered); asa and exposed are read from rsa."""
    id: str
    sequence: str
    p8: np.ndarray  # L x 8 (alphabet.SS8 order)
    p3: np.ndarray  # L x 3 (alphabet.SS3 order)
    rsa: np.ndarray | None = None
    phi: np.ndarray | None = None
    psi: np.ndarray | None = None
    disorder: np.ndarray | None = None

    def __repr__(self) -> str:
        ss3 = self.ss3
        return f"Prediction(id={self.id!r}, length={len(self.sequence)}, ss3={ss3[:30]!r}{'...' if len(ss3) > 30 else ''})"

    def plot(self, title: str | None = None):
        """This prediction as a PSIPRED-style cartoon: a matplotlib Figure (see pictures)."""
        return figure(self, title)

    @property
    def ss8(self) -> str:
        return "".join(SS8[i] for i in self.p8.argmax(1))

    @property
    def ss3(self) -> str:
        return "".join(SS3[i] for i in self.p3.argmax(1))

    @property
    def asa(self) -> np.ndarray | None:
        """Absolute accessible surface (square angstroms) = RSA x the residue's theoretical maximum (Tien et al.
        2013); NaN for residues without one (X)."""
        return None if self.rsa is None else self.rsa * max_asa(self.sequence)

    @property
    def exposed(self) -> str | None:
        """2-state accessibility per residue: E (exposed, RSA >= 25%) or B (buried)."""
        return None if self.rsa is None else "".join(np.where(self.rsa >= EXPOSED_AT, "E", "B"))

    @property
    def tasks(self) -> list[str]:
        """The per-residue values this prediction carries beside secondary structure."""
        return [k for k in ("rsa", "asa", "phi", "psi", "disorder") if getattr(self, k) is not None]
