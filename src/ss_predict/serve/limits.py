"""The limits of one ss-serve (a light module: the command line reads its defaults before heavy imports)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_residues: int = 100_000       # residues in one request (more: 413)
    max_body: int = 4 * 1024 * 1024   # bytes of one request body (more: 413)
    max_queue: int = 64               # requests waiting for the model (more: 503 with Retry-After)
    timeout: float = 60.0             # seconds from a request's arrival to its answer (later: 504)
    max_svg_residues: int = 20_000    # residues in one format=svg request (more: 413; drawing is slow)
