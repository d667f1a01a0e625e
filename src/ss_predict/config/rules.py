"""The one way a setting's value is checked: a `Rule` (a range, choices or a pattern) says in one phrase what a
value must be. The typed configs (schema.py) attach one to their keys, and the commands' number options use
`Rule.arg` as their argparse type, so every setting is refused in the same words. Light: no omegaconf here."""
from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass

MAX_THREADS = 1024  # torch.set_num_threads(100000) crashes (segmentation fault)


@dataclass(frozen=True)
class Rule:
    """lo/hi are inclusive unless above/below (then the bound itself is refused); `whole`: an integer."""
    lo: float | None = None
    hi: float | None = None
    above: bool = False
    below: bool = False
    choices: tuple | None = None
    whole: bool = False
    pattern: str | None = None  # a regular expression the value (lower-cased) must match; `allowed` says it in words
    allowed: str = ""

    def problem(self, value) -> str | None:
        """Why `value` breaks the rule (`must be ...`), or None."""
        if self.choices and value not in self.choices:
            return f"must be one of {', '.join(self.choices)}"
        if self.pattern and not re.fullmatch(self.pattern, str(value).strip().lower()):
            return f"must be {self.allowed}"
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if self.whole and not isinstance(value, int) or (self.lo, self.hi) != (None, None) and not number:
            return "must be a whole number" if self.whole else "must be a number"
        if not number:
            return None
        if not math.isfinite(value):  # nan passes every comparison; inf trains to NaN weights
            return "must be a finite number"
        low = self.lo is not None and (value <= self.lo if self.above else value < self.lo)
        high = self.hi is not None and (value >= self.hi if self.below else value > self.hi)
        parts = [f"{'above' if self.above else 'at least'} {self.lo}" if self.lo is not None else "",
                 f"{'below' if self.below else 'at most'} {self.hi}" if self.hi is not None else ""]
        return "must be " + " and ".join(p for p in parts if p) if low or high else None  # the whole range

    def arg(self, text: str):
        """The rule as an argparse type: the number in `text`, or one line (`must be at least 1, got 0`)."""
        try:
            value = int(text) if self.whole else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a {'whole number' if self.whole else 'number'}") \
                from None
        why = self.problem(value)
        if why:
            raise argparse.ArgumentTypeError(f"{why}, got {text}")
        return value


def shown(value) -> str:
    """A value as it is written on the command line (null, true, 0.002)."""
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def refusal(key: str, value, why: str, default="???") -> str:
    """The one line for a setting that breaks its rule: `config error: KEY=VALUE must be ... (default: D)`."""
    return f"config error: {key}={shown(value)} {why}" + ("" if default == "???" else f" (default: {shown(default)})")


COUNT = Rule(1, whole=True)  # a whole number, at least 1
THREADS = Rule(1, MAX_THREADS, whole=True)
positive_int, threads = COUNT.arg, THREADS.arg  # argparse types
