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


# ---- the other tasks' masked losses (rsa, angles, disorder) ----------------------------------------------------

from ss_predict.training.losses import angle_loss, disorder_loss, rsa_loss, task_losses  # noqa: E402


def _labels(seed=0):
    """B x L labels with holes: RSA (NaN = none), 2-state exposure (-1 = none), phi / psi (NaN), disorder (-1)."""
    g = torch.Generator().manual_seed(seed)
    rsa = torch.rand(2, 9, generator=g)
    rsa[0, :3] = float("nan")
    rsa[1, 6:] = float("nan")
    exposed = torch.randint(0, 2, (2, 9), generator=g)
    exposed[:, ::2] = -1
    phi, psi = torch.rand(2, 9, generator=g) * 360 - 180, torch.rand(2, 9, generator=g) * 360 - 180
    phi[0, 0] = phi[1, 8] = psi[1, 8] = float("nan")
    phi[1, 2:5] = float("nan")
    disorder = torch.randint(0, 2, (2, 9), generator=g)
    disorder[1, :4] = -1
    return rsa, exposed, phi, psi, disorder


def test_task_losses_ignore_the_predictions_of_unlabelled_residues():
    """Changing the outputs of residues without a label, arbitrarily, changes no task's loss; changing a labelled
    one does (so the test would see a loss that ignored the mask)."""
    rsa, exposed, phi, psi, disorder = _labels()
    g = torch.Generator().manual_seed(1)
    r, a, d = torch.randn(2, 9, generator=g), torch.randn(2, 9, 4, generator=g), torch.randn(2, 9, generator=g)
    none_r = torch.isnan(rsa) & (exposed < 0)
    none_a = torch.isnan(phi) & torch.isnan(psi)
    assert none_r.any() and none_a.any() and (disorder < 0).any()
    junk = torch.randn(2, 9, 4, generator=g) * 1e3
    r2 = torch.where(none_r, junk[..., 0], r)
    a2 = torch.where(none_a[..., None], junk, a)
    d2 = torch.where(disorder < 0, junk[..., 1], d)
    base = (rsa_loss(r, rsa, exposed), angle_loss(a, phi, psi), disorder_loss(d, disorder))
    assert rsa_loss(r2, rsa, exposed).item() == pytest.approx(base[0].item(), rel=1e-6)
    assert angle_loss(a2, phi, psi).item() == pytest.approx(base[1].item(), rel=1e-6)
    assert disorder_loss(d2, disorder).item() == pytest.approx(base[2].item(), rel=1e-6)
    # phi without a label but psi with one: only psi's columns count there
    half = torch.isnan(phi) & ~torch.isnan(psi)
    assert half.any()
    a3 = a.clone()
    a3[..., :2] = torch.where(half[..., None], junk[..., :2], a[..., :2])
    assert angle_loss(a3, phi, psi).item() == pytest.approx(base[1].item(), rel=1e-6)
    # a labelled residue moves each loss
    labelled = ~none_r
    assert rsa_loss(torch.where(labelled, r + 3, r), rsa, exposed).item() != pytest.approx(base[0].item())
    assert angle_loss(a + 0.5, phi, psi).item() != pytest.approx(base[1].item())
    assert disorder_loss(d + 2, disorder).item() != pytest.approx(base[2].item())


def test_task_losses_are_means_over_labelled_residues():
    """The values themselves, residue by residue: a loss that averaged over padding or unlabelled residues would
    be smaller."""
    rsa, exposed, phi, psi, disorder = _labels(2)
    r, a, d = torch.randn(2, 9), torch.randn(2, 9, 4), torch.randn(2, 9)
    p = torch.sigmoid(r)
    terms = []
    for i in range(2):
        for j in range(9):
            if not torch.isnan(rsa[i, j]):
                terms.append(float((p[i, j] - rsa[i, j]) ** 2))
            elif exposed[i, j] == 1:
                terms.append(max(0.0, 0.25 - float(p[i, j])) ** 2)
            elif exposed[i, j] == 0:
                terms.append(max(0.0, float(p[i, j]) - 0.25) ** 2)
    assert rsa_loss(r, rsa, exposed).item() == pytest.approx(np.mean(terms), rel=1e-5)
    terms = []
    for k, deg in enumerate((phi, psi)):
        for i in range(2):
            for j in range(9):
                if not torch.isnan(deg[i, j]):
                    t = np.deg2rad(float(deg[i, j]))
                    terms.append((float(a[i, j, 2 * k]) - np.sin(t)) ** 2 + (float(a[i, j, 2 * k + 1]) - np.cos(t)) ** 2)
    assert angle_loss(a, phi, psi).item() == pytest.approx(np.mean(terms), rel=1e-5)
    ok = disorder >= 0
    q = torch.sigmoid(d[ok]).double()
    y = disorder[ok].double()
    assert disorder_loss(d, disorder).item() == pytest.approx(float(-(y * q.log() + (1 - y) * (1 - q).log()).mean()),
                                                             rel=1e-5)


def test_a_batch_without_a_task_s_labels_adds_nothing():
    """No labels of a task in a batch (absent, or all missing): its loss is 0, and its gradient too."""
    r, a, d = (torch.randn(2, 5, requires_grad=True), torch.randn(2, 5, 4, requires_grad=True),
               torch.randn(2, 5, requires_grad=True))
    nan, unknown = torch.full((2, 5), float("nan")), torch.full((2, 5), -1)
    for losses in (task_losses({"rsa": r, "angles": a, "disorder": d}, {}),
                   task_losses({"rsa": r, "angles": a, "disorder": d},
                               {"rsa": nan, "exposed": unknown, "phi": nan, "psi": nan, "disorder": unknown})):
        assert set(losses) == {"rsa", "angles", "disorder"}
        assert all(v.item() == 0.0 for v in losses.values())
        sum(losses.values()).backward()
        assert all(t.grad is None or torch.all(t.grad == 0) for t in (r, a, d))
    assert task_losses({"ss8": torch.randn(2, 5, 8)}, {"rsa": nan}) == {}  # an SS-only model: no task losses


def test_two_state_label_is_a_hinge_at_a_quarter():
    """A residue with only a 2-state label costs nothing on the right side of RSA 0.25 and the squared distance to
    0.25 on the wrong side."""
    logit = torch.logit(torch.tensor([[0.05, 0.2, 0.26, 0.9, 0.05, 0.2, 0.3, 0.9]], dtype=torch.float64))
    exposed = torch.tensor([[0, 0, 1, 1, 1, 1, 0, 0]])
    per = []
    for j in range(8):
        one = torch.full((1, 8), -1)
        one[0, j] = exposed[0, j]
        per.append(rsa_loss(logit, None, one).item())
    assert per[:4] == [0.0, 0.0, 0.0, 0.0]  # buried below 0.25, exposed above: right side
    np.testing.assert_allclose(per[4:], [0.2 ** 2, 0.05 ** 2, 0.05 ** 2, 0.65 ** 2], rtol=1e-4)
    # an RSA label wins over a 2-state one on the same residue (squared error, not the hinge)
    assert rsa_loss(logit[:, :1], torch.tensor([[0.15]]), torch.tensor([[0]])).item() == pytest.approx(0.01, rel=1e-4)
