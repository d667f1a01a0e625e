import pytest
import torch

from ss_predict.errors import UserError
from ss_predict.models import create_model, list_models, registry
from ss_predict.models.classical import residue_windows

TINY = {  # every registered model, small enough for a test
    "phd": dict(window=5, hidden=8, second_level=True, window2=3, hidden2=4),
    "dilated_cnn": dict(channels=8, dilations=[1, 2, 4], repeats=1),
    "cnn_bigru": dict(conv_channels=4, hidden=6, layers=2, head=8),
    "nextstep_cnn": dict(channels=8, kernel=3, layers=1, state_dim=4, hidden=8),
    "gnb": dict(window=5),
    "tree": dict(window=5, max_depth=6),
    "linear_svm": dict(window=5),
    "rbf_svc": dict(window=5),
    "knn": dict(window=5, k=3),
}
NEURAL = [n for n in sorted(TINY) if not getattr(registry._MODELS[n], "classical", False)]


def test_every_registered_model_is_tested():
    assert sorted(TINY) == list_models()  # a new model gets its tiny config here, and every test below


def tiny(name: str, features: int = 21):
    """The tiny model; a classical one fitted on the windows of a few random chains (it has no weights before)."""
    torch.manual_seed(0)
    m = create_model(name, features, **TINY[name])
    if getattr(m, "classical", False):
        x, mask = _batch([60, 45, 30], f=features, seed=1)
        windows = residue_windows(x, m.window)[mask].numpy()
        labels = torch.randint(0, 8, (len(windows),), generator=torch.Generator().manual_seed(2)).numpy()
        m.fit(windows, labels)
    return m


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
def test_forward(name, features):
    m = tiny(name, features)
    x, mask = _batch([30, 12, 1], f=features)
    out = m(x, mask)
    assert out.shape == (3, 30, 8) and torch.isfinite(out[mask]).all()


@pytest.mark.parametrize("name", NEURAL)
@pytest.mark.parametrize("features", [21, 43])
def test_backward_reaches_every_weight(name, features):
    m = tiny(name, features)
    x, mask = _batch([30, 12, 1], f=features)
    y8 = torch.randint(0, 8, mask.shape)
    out = m(x, mask, y8=y8) if getattr(m, "teacher_forcing", False) else m(x, mask)
    out[mask].logsumexp(-1).sum().backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", sorted(TINY))
def test_padding_never_leaks(name):
    """A protein's outputs are the same alone and batched with longer proteins."""
    m = tiny(name).eval()
    x, mask = _batch([57, 200, 9, 130])
    with torch.no_grad():
        batched = m(x, mask)
        for i, k in enumerate([57, 200, 9, 130]):
            alone = m(x[i:i + 1, :k], mask[i:i + 1, :k])
            torch.testing.assert_close(batched[i, :k], alone[0], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("length", [1, 700, 20000])
def test_any_length(name, length):
    m = tiny(name).eval()
    if name == "nextstep_cnn":  # decodes one residue after the other: 20000 steps take seconds, 3000 show the same
        length = min(length, 3000)
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


def test_bad_model_kwargs_are_one_line_user_errors():
    with pytest.raises(UserError, match=r"model 'phd': .*'windw'.*model.kwargs it takes: window, hidden"):
        create_model("phd", 21, windw=5)
    with pytest.raises(UserError, match=r"model.kwargs.hidden='many' must be an integer \(default 64\)"):
        create_model("phd", 21, hidden="many")
    with pytest.raises(UserError, match=r"model.kwargs.window=4 must be odd"):
        create_model("knn", 21, window=4)
    with pytest.raises(UserError, match="unknown model 'transformer'; registered models: cnn_bigru"):
        create_model("transformer", 21)


def test_a_bug_inside_a_constructor_is_not_a_user_error(monkeypatch):
    class Broken(torch.nn.Module):
        def __init__(self, in_features: int, hidden: int = 4):
            super().__init__()
            self.layer = torch.nn.Linear(in_features, hidden, bias="yes", nonsense=1)  # a TypeError of ours

    monkeypatch.setitem(registry._MODELS, "broken", Broken)
    with pytest.raises(TypeError) as e:
        create_model("broken", 21, hidden=8)
    assert not isinstance(e.value, UserError)
