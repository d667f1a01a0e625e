import pytest
import torch

from ss_predict.models import create_model, list_models

TINY = {
    "phd": dict(window=5, hidden=8, second_level=True, window2=3, hidden2=4),
    "dilated_cnn": dict(channels=8, dilations=[1, 2, 4], repeats=1),
    "cnn_bigru": dict(conv_channels=4, hidden=6, layers=2, head=8),
}


def test_registry_lists_every_model():
    assert set(list_models()) >= {"phd", "dilated_cnn", "cnn_bigru"}


def _batch(lengths, f=21, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = max(lengths)
    x = torch.zeros(len(lengths), n, f)
    mask = torch.zeros(len(lengths), n, dtype=torch.bool)
    for i, k in enumerate(lengths):
        x[i, torch.arange(k), torch.randint(0, 20, (k,), generator=g)] = 1
        mask[i, :k] = True
    return x, mask


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("features", [21, 43])
def test_forward_backward(name, features):
    torch.manual_seed(0)
    m = create_model(name, features, **TINY[name])
    x, mask = _batch([30, 12, 1], f=features)
    out = m(x, mask)
    assert out.shape == (3, 30, 8)
    out[mask].logsumexp(-1).sum().backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", sorted(TINY))
def test_padding_never_leaks(name):
    """A protein's outputs are the same alone and batched with longer proteins."""
    torch.manual_seed(0)
    m = create_model(name, 21, **TINY[name]).eval()
    x, mask = _batch([57, 200, 9, 130])
    with torch.no_grad():
        batched = m(x, mask)
        for i, k in enumerate([57, 200, 9, 130]):
            alone = m(x[i:i + 1, :k], mask[i:i + 1, :k])
            torch.testing.assert_close(batched[i, :k], alone[0], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("length", [1, 700, 20000])
def test_any_length(name, length):
    m = create_model(name, 21, **TINY[name]).eval()
    x, mask = _batch([length])
    with torch.inference_mode():
        assert m(x, mask).shape == (1, length, 8)


@pytest.mark.parametrize("name", ["phd", "dilated_cnn"])
def test_receptive_field_matches_gradient(name):
    """The docstring's receptive field: exactly that many input positions influence one output."""
    torch.manual_seed(0)
    m = create_model(name, 21, **TINY[name]).eval()
    rf = m.receptive_field()
    n = rf + 40
    x, mask = _batch([n])
    x.requires_grad_(True)
    m(x, mask)[0, n // 2].sum().backward()
    touched = (x.grad[0].abs().sum(-1) > 0).nonzero().flatten()
    assert touched.max() - touched.min() + 1 == rf
    expected = {"phd": 5 + 2, "dilated_cnn": 7 + 2 * (1 + 2 + 4)}[name]
    assert rf == expected


def test_default_dilated_receptive_field_is_documented():
    assert create_model("dilated_cnn", 21).receptive_field() == 131
