"""What a predictor returns for one protein: `Prediction`, its probabilities and the strings read from them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.alphabet import SS3, SS8
from .pictures import figure


@dataclass(repr=False)
class Prediction:
    id: str
    sequence: str
    p8: np.ndarray  # L x 8 (alphabet.SS8 order)
    p3: np.ndarray  # L x 3 (alphabet.SS3 order)

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
