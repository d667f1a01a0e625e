"""8-state cross-entropy plus the marginal 3-state loss for residues that carry 3-state labels only; the other
tasks' masked losses (RSA, angles as sin/cos, disorder): a residue without a label adds nothing to its task."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.alphabet import EXPOSED_AT, SS8_TO_SS3_INDEX

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


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return torch.where(mask, values, 0.0).sum() / mask.sum().clamp(min=1)


def rsa_loss(logit: torch.Tensor, rsa: torch.Tensor | None, exposed: torch.Tensor | None) -> torch.Tensor:
    """Squared error of RSA = sigmoid(logit) on residues with an RSA label; where a residue has only a 2-state
    label (exposed at >= 25% RSA or buried), the squared distance to that side of 0.25 (0 on the right side)."""
    pred = torch.sigmoid(logit.float())
    has = torch.zeros_like(pred, dtype=torch.bool) if rsa is None else ~torch.isnan(rsa)
    err = torch.where(has, pred - (torch.nan_to_num(rsa) if rsa is not None else 0.0), 0.0) ** 2
    only2 = torch.zeros_like(has) if exposed is None else (exposed >= 0) & ~has
    if exposed is not None:
        side = torch.where(exposed == 1, torch.relu(EXPOSED_AT - pred), torch.relu(pred - EXPOSED_AT)) ** 2
        err = err + torch.where(only2, side, 0.0)
    return _masked_mean(err, has | only2)


def angle_loss(out: torch.Tensor, phi: torch.Tensor | None, psi: torch.Tensor | None) -> torch.Tensor:
    """Squared error of (sin, cos) of phi and psi (out: B x L x 4 = sin phi, cos phi, sin psi, cos psi) over
    the angles that have a label, both angles together."""
    out = out.float()
    total, count = out.new_zeros(()), out.new_zeros(())
    for k, deg in enumerate((phi, psi)):
        if deg is None:
            continue
        has = ~torch.isnan(deg)
        rad = torch.deg2rad(torch.nan_to_num(deg))
        err = (out[..., 2 * k] - torch.sin(rad)) ** 2 + (out[..., 2 * k + 1] - torch.cos(rad)) ** 2
        total = total + torch.where(has, err, 0.0).sum()
        count = count + has.sum()
    return total / count.clamp(min=1)


def disorder_loss(logit: torch.Tensor, disorder: torch.Tensor | None) -> torch.Tensor:
    """Binary cross-entropy of the disorder logit over residues with a disorder label (1 unresolved, 0 not)."""
    if disorder is None:
        return logit.new_zeros((), dtype=torch.float32)
    has = disorder >= 0
    bce = F.binary_cross_entropy_with_logits(logit.float(), disorder.clamp(min=0).float(), reduction="none")
    return _masked_mean(bce, has)


def task_losses(parts: dict, labels: dict) -> dict[str, torch.Tensor]:
    """The mean loss of each task beside ss8 that `parts` (a model's split outputs) has, over the residues that
    carry its label in `labels` (a Batch's); a task without labels in the batch contributes 0."""
    out = {}
    if "rsa" in parts:
        out["rsa"] = rsa_loss(parts["rsa"], labels.get("rsa"), labels.get("exposed"))
    if "angles" in parts:
        out["angles"] = angle_loss(parts["angles"], labels.get("phi"), labels.get("psi"))
    if "disorder" in parts:
        out["disorder"] = disorder_loss(parts["disorder"], labels.get("disorder"))
    return out
