"""8-state cross-entropy plus the marginal 3-state loss for residues that carry 3-state labels only."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .alphabet import SS8_TO_SS3_INDEX


def ss_loss(logits: torch.Tensor, y8: torch.Tensor, y3: torch.Tensor, label_smoothing: float = 0.0,
            weight3: float = 1.0) -> tuple[torch.Tensor, int]:
    """Mean loss over scored residues, and their number.

    Residues with an 8-state label use CE over 8 states; residues with only a 3-state label use CE of
    the 3-state marginal log p3 = logsumexp of the 8-state log-probabilities in each group.
    """
    logits = logits.float()
    logp8 = F.log_softmax(logits, dim=-1)
    has8 = y8 >= 0
    only3 = (~has8) & (y3 >= 0)
    total = logits.sum() * 0.0  # keeps the graph when no residue is scored (DDP needs every rank's backward)
    if has8.any():
        total = total + F.cross_entropy(logits[has8], y8[has8], reduction="sum", label_smoothing=label_smoothing)
    if only3.any():
        idx = torch.as_tensor(SS8_TO_SS3_INDEX, device=logits.device)
        lp = logp8[only3]
        logp3 = torch.stack([torch.logsumexp(lp[:, idx == k], dim=-1) for k in range(3)], dim=-1)
        nll = -logp3.gather(1, y3[only3].unsqueeze(1)).squeeze(1)
        if label_smoothing:
            nll = (1 - label_smoothing) * nll - label_smoothing * logp3.mean(-1)
        total = total + weight3 * nll.sum()
    n = int(has8.sum() + only3.sum())
    return total / max(n, 1), n
