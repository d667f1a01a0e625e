"""8-state cross-entropy plus the marginal 3-state loss for residues that carry 3-state labels only."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.alphabet import SS8_TO_SS3_INDEX

_GROUP_MASKS: dict[torch.device, torch.Tensor] = {}


def _group_mask(device: torch.device) -> torch.Tensor:
    """(3, 8) additive mask: 0 where the 8-state belongs to the 3-state, -inf elsewhere (cached per device,
    so a training step copies nothing to the GPU)."""
    if device not in _GROUP_MASKS:
        idx = torch.as_tensor(SS8_TO_SS3_INDEX)
        member = idx.unsqueeze(0) == torch.arange(3).unsqueeze(1)
        _GROUP_MASKS[device] = torch.zeros(3, 8).masked_fill(~member, float("-inf")).to(device)
    return _GROUP_MASKS[device]


def ss_loss(logits: torch.Tensor, y8: torch.Tensor, y3: torch.Tensor, label_smoothing: float = 0.0,
            weight3: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss over scored residues, and their number (a 0-d tensor).

    Residues with an 8-state label use CE over 8 states; residues with only a 3-state label use CE of
    the 3-state marginal log p3 = logsumexp of the 8-state log-probabilities in each group.
    Written with masks instead of boolean indexing, so on CUDA it never waits for the GPU.
    """
    logits = logits.float()
    has8 = y8 >= 0
    only3 = (~has8) & (y3 >= 0)
    ce8 = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y8.clamp(min=0).reshape(-1), reduction="none",
                          label_smoothing=label_smoothing).view_as(y8)
    logp8 = F.log_softmax(logits, dim=-1)
    logp3 = torch.logsumexp(logp8.unsqueeze(-2) + _group_mask(logits.device), dim=-1)  # (..., 3)
    nll3 = -logp3.gather(-1, y3.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    if label_smoothing:
        nll3 = (1 - label_smoothing) * nll3 - label_smoothing * logp3.mean(-1)
    total = torch.where(has8, ce8, 0.0).sum() + weight3 * torch.where(only3, nll3, 0.0).sum()
    n = has8.sum() + only3.sum()
    return total / n.clamp(min=1), n


def distill_loss(logits: torch.Tensor, soft: torch.Tensor, mask: torch.Tensor,
                 temperature: float = 1.0) -> torch.Tensor:
    """Mean over residues (mask) of the cross-entropy between teacher probabilities `soft` and the
    student's softened distribution, times temperature**2 (Hinton et al. 2015). Teachers cover every
    residue, labelled or not, so 3-state-only and unresolved residues get an 8-state target too."""
    t = float(temperature)
    teacher = soft.float()
    if t != 1.0:
        teacher = torch.softmax(torch.log(teacher.clamp(min=1e-8)) / t, dim=-1)
    logq = F.log_softmax(logits.float() / t, dim=-1)
    ce = -(teacher * logq).sum(-1)
    return torch.where(mask, ce, 0.0).sum() / mask.sum().clamp(min=1) * t * t
