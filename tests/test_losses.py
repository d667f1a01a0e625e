import numpy as np
import pytest
import torch

from ss_predict.core.alphabet import SS8_TO_SS3_INDEX
from ss_predict.training.losses import ss_loss


def reference(logits, y8, y3, ls, w3):
    """Residue by residue in numpy: smoothed CE over 8 states, or over the 3 marginal states."""
    total, n = 0.0, 0
    for z, a, b in zip(logits.reshape(-1, 8), y8.reshape(-1), y3.reshape(-1)):
        logp8 = z - np.log(np.exp(z).sum())
        if a >= 0:
            total += -(1 - ls) * logp8[a] - ls * logp8.mean()
            n += 1
        elif b >= 0:
            logp3 = np.array([np.log(np.exp(logp8[SS8_TO_SS3_INDEX == k]).sum()) for k in range(3)])
            total += w3 * (-(1 - ls) * logp3[b] - ls * logp3.mean())
            n += 1
    return total / max(n, 1), n


@pytest.mark.parametrize("ls,w3", [(0.0, 1.0), (0.05, 1.0), (0.1, 0.5)])
def test_loss_matches_residue_by_residue_reference(ls, w3):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3, 11, 8)) * 2
    y8 = rng.integers(0, 8, size=(3, 11))
    y3 = SS8_TO_SS3_INDEX[y8].copy()
    y8[0, :5] = -1            # 3-state-only residues
    y8[1, 7:], y3[1, 7:] = -1, -1  # padding / unscored
    y8[2, 2] = -1
    loss, n = ss_loss(torch.tensor(logits, requires_grad=True), torch.tensor(y8), torch.tensor(y3), ls, w3)
    ref, n_ref = reference(logits, y8, y3, ls, w3)
    assert int(n) == n_ref == 3 * 11 - 4
    assert loss.item() == pytest.approx(ref, rel=1e-5)


def test_loss_with_nothing_scored_is_zero_and_differentiable():
    logits = torch.randn(2, 4, 8, requires_grad=True)
    none = torch.full((2, 4), -1)
    loss, n = ss_loss(logits, none, none)
    loss.backward()
    assert int(n) == 0 and loss.item() == 0.0 and torch.all(logits.grad == 0)
