"""Token-budget length batching, padding with masks, and random crops of long training chains."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..core.alphabet import UNSCORED
from .features import encode
from ..core.records import LABEL_TYPES, Protein


def length_batches(lengths: list[int] | np.ndarray, max_tokens: int, max_batch: int = 512) -> list[list[int]]:
    """Group indices sorted by length so that (longest in batch) x (batch size) <= max_tokens."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    batches, cur, longest = [], [], 0
    for i in order:
        n = int(lengths[i])
        if cur and (max(longest, n) * (len(cur) + 1) > max_tokens or len(cur) >= max_batch):
            batches.append(cur)
            cur, longest = [], 0
        cur.append(int(i))
        longest = max(longest, n)
    if cur:
        batches.append(cur)
    return batches


@dataclass
class Batch:
    x: torch.Tensor       # B x L x F features (zeros on padding)
    mask: torch.Tensor    # B x L bool, True on residues
    y8: torch.Tensor      # B x L long, -1 where unscored / absent
    y3: torch.Tensor      # B x L long, -1 where unscored
    lengths: list[int]
    index: list[int]      # positions of the proteins in the source list
    soft: torch.Tensor | None = None  # B x L x 8 teacher probabilities (distillation), zeros on padding
    # the other tasks' labels (records.LABEL_TYPES) that some chain of the batch has: B x L, NaN / -1 = none
    labels: dict = field(default_factory=dict)

    def _map(self, f) -> "Batch":
        return Batch(f(self.x), f(self.mask), f(self.y8), f(self.y3), self.lengths, self.index,
                     None if self.soft is None else f(self.soft), {k: f(v) for k, v in self.labels.items()})

    def to(self, device, non_blocking: bool = False) -> "Batch":
        return self._map(lambda v: v.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> "Batch":
        return self._map(lambda v: v.pin_memory())


def _padded(arrays, n: int, fill, dtype) -> torch.Tensor:
    """One array per protein (None: all `fill`) -> a len(arrays) x n (x ...) tensor, `fill` on padding."""
    trailing = next((a.shape[1:] for a in arrays if a is not None), ())
    out = np.full((len(arrays), n, *trailing), fill, dtype=dtype)
    for i, a in enumerate(arrays):
        if a is not None:
            out[i, :len(a)] = a
    return torch.from_numpy(out)


def collate(items: list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]], index: list[int],
            soft: list[np.ndarray] | None = None, labels: dict[str, list] | None = None) -> Batch:
    """items: (features L x F, ss8 or None, ss3 or None) per protein; soft: L x 8 teacher probabilities each;
    labels: {name: [array or None per protein]} of the other tasks (records.LABEL_TYPES)."""
    feats, ss8, ss3 = zip(*items)
    lengths = [len(x) for x in feats]
    n = max(lengths)
    extra = {k: _padded(v, n, np.nan, np.float32) if LABEL_TYPES[k] == np.float32 else _padded(v, n, -1, np.int64)
             for k, v in (labels or {}).items() if any(a is not None for a in v)}
    return Batch(_padded(feats, n, 0, np.float32), torch.from_numpy(np.arange(n) < np.array(lengths)[:, None]),
                 _padded(ss8, n, UNSCORED, np.int64), _padded(ss3, n, UNSCORED, np.int64), lengths, list(index),
                 None if soft is None else _padded(soft, n, 0, np.float32), extra)


class EncodedSet:
    """Proteins encoded once; hands out batches (optionally shuffled and cropped for training)."""

    def __init__(self, proteins: list[Protein], spec: str):
        self.proteins = proteins
        self.feats = [encode(p, spec) for p in proteins]
        self.lengths = np.array([len(p) for p in proteins])
        self.soft: list[np.ndarray] | None = None  # per protein L x 8 teacher probabilities (distillation)

    def batch(self, idx: list[int], crops: list[tuple[int, int]] | None = None) -> Batch:
        items, soft = [], None if self.soft is None else []
        labels: dict[str, list] = {k: [] for k in LABEL_TYPES}
        for j, i in enumerate(idx):
            p = self.proteins[i]
            s, e = crops[j] if crops else (0, len(p))
            items.append((self.feats[i][s:e], None if p.ss8 is None else p.ss8[s:e],
                          None if p.ss3 is None else p.ss3[s:e]))
            for k, v in labels.items():
                a = getattr(p, k)
                v.append(None if a is None else a[s:e])
            if soft is not None:
                soft.append(self.soft[i][s:e])
        return collate(items, idx, soft, labels)

    def plan_epoch(self, max_tokens: int, crop: int, rng: np.random.Generator) -> list[tuple[list[int], list]]:
        """One shuffled epoch as (indices, crops) per batch: chains longer than `crop` get a random window.

        All randomness is drawn here, in the calling process, so worker processes change nothing.
        """
        eff = np.minimum(self.lengths, crop)
        noisy = eff + rng.uniform(0, 8, size=len(eff))  # batch composition changes between epochs
        batches = length_batches(noisy, max_tokens)
        plan = []
        for bi in rng.permutation(len(batches)):
            lengths = [int(self.lengths[i]) for i in batches[bi]]
            starts = [int(rng.integers(0, n - crop + 1)) if n > crop else 0 for n in lengths]
            plan.append((batches[bi], [(s, min(n, s + crop)) for s, n in zip(starts, lengths)]))
        return plan

    def train_batches(self, max_tokens: int, crop: int, rng: np.random.Generator):
        for idx, crops in self.plan_epoch(max_tokens, crop, rng):
            yield self.batch(idx, crops)


class PlannedBatches(torch.utils.data.Dataset):
    """A planned epoch as a map-style dataset, so a DataLoader can build batches in workers and pin them."""

    def __init__(self, data: EncodedSet, plan: list):
        self.data, self.plan = data, plan

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, i: int) -> Batch:
        idx, crops = self.plan[i]
        return self.data.batch(idx, crops)


def epoch_loader(data: EncodedSet, plan: list, workers: int, pin: bool):
    if workers <= 0 and not pin:
        return (data.batch(idx, crops) for idx, crops in plan)
    return torch.utils.data.DataLoader(PlannedBatches(data, plan), batch_size=None, shuffle=False,
                                       num_workers=workers, pin_memory=pin, persistent_workers=False)
