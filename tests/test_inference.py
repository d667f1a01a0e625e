"""inference/engine.py: a chain longer than a segment is predicted in overlapping pieces of bounded size and
stitched back (within rounding of the whole chain where both fit); running out of memory names the record."""
import numpy as np
import pytest
import torch

from ss_predict.data.batching import EncodedSet
from ss_predict.core.records import Protein
from ss_predict.errors import OutOfMemory, is_out_of_memory
from ss_predict.inference.engine import SEGMENT, predict_sets, segments
from ss_predict.models.dilated_cnn import DilatedCNN
from ss_predict.prediction.predictor import Predictor

AMINO = list("ACDEFGHIKLMNPQRSTVWY")


def chain(n: int, seed: int = 0) -> str:
    return "".join(np.random.default_rng(seed).choice(AMINO, n))


@pytest.mark.parametrize("n", [1, 255, 256, 257, 700, 1000, 4097])
def test_segments_tile_the_chain_in_bounded_pieces(n):
    pieces = segments(n, 256, 16)
    assert [k for _, _, a, b in pieces for k in range(a, b)] == list(range(n))  # kept parts: every residue once
    assert all(0 <= s <= a < b <= e <= n and e - s <= 256 for s, e, a, b in pieces)
    assert all(a - s >= min(16, a) and e - b >= min(16, n - b) for s, e, a, b in pieces)  # context on both sides


def test_real_proteins_are_never_segmented():
    assert SEGMENT > 36_000 and segments(35_991) == [(0, 35_991, 0, 35_991)]  # titin, the longest known protein


def test_a_segmented_chain_predicts_as_the_whole_in_bounded_batches(tiny_ckpt, monkeypatch):
    """The tiny model sees 13 residues (RF), so 16 of context on each side give the whole chain's numbers; no
    forward pass holds more than one segment's length or the token budget, whatever the chain's length."""
    seqs = {"long": chain(3000), "short": "MKVLAAGIVG", "mid": chain(300, 1), "edge": chain(256, 2)}
    whole = Predictor(str(tiny_ckpt)).predict(seqs)
    shapes = []
    forward = DilatedCNN.forward
    monkeypatch.setattr(DilatedCNN, "forward", lambda self, x, mask: shapes.append(x.shape[:2]) or
                        forward(self, x, mask))
    parts = Predictor(str(tiny_ckpt), max_tokens=1024, segment=256, overlap=16).predict(seqs)
    assert [p.id for p in parts] == list(seqs) and [len(p.sequence) for p in parts] == [3000, 10, 300, 256]
    for a, b in zip(whole, parts):
        np.testing.assert_allclose(b.p8, a.p8, atol=1e-5)
        np.testing.assert_allclose(b.p3, a.p3, atol=1e-5)
        assert (a.p8.argmax(1) == b.p8.argmax(1)).all()
    assert max(n for _, n in shapes) <= 256 and max(b * n for b, n in shapes) <= 1024
    assert sum(b for b, _ in shapes) == 14 + 2 + 1 + 1  # long and mid in pieces, short and edge (256) whole


def test_segment_options_are_checked(tiny_ckpt):
    with pytest.raises(ValueError, match="twice the overlap"):
        Predictor(str(tiny_ckpt), segment=100, overlap=50)
    with pytest.raises(TypeError, match="segment"):
        Predictor(str(tiny_ckpt), segment=2.5)


@pytest.mark.parametrize("error", [
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: you tried "
                 "to allocate 34359738368 bytes. Error code 12 (Cannot allocate memory)"),
    torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
    MemoryError()])
def test_out_of_memory_names_the_record(tiny_ckpt, monkeypatch, error):
    def fail(self, x, mask):
        raise error
    monkeypatch.setattr(DilatedCNN, "forward", fail)
    predictor = Predictor(str(tiny_ckpt))
    data = EncodedSet([Protein("big one", chain(500))], predictor.features)
    with pytest.raises(OutOfMemory, match=r"out of memory on cpu predicting record 'big one' \(500 residues\)"):
        predict_sets(predictor.models, data, predictor.device)
    assert is_out_of_memory(error) and not is_out_of_memory(RuntimeError("shape mismatch"))


@pytest.mark.parametrize("tasks", [("ss8", "rsa", "angles", "disorder"), ("ss8", "angles")])
def test_angles_come_back_through_sin_and_cos(tasks):
    """Head outputs made from known angles (sin, cos at any scale) -> head_values -> task_values give the angles
    back (mod 360, within 1e-3 degrees), near +-180 too, in the models' column order."""
    from ss_predict.inference.engine import head_values, task_values
    from ss_predict.evaluation.metrics import angle_error
    phi = np.array([-180.0, -179.9995, -120.3, -90.0, -0.0004, 0.0, 45.0, 179.9995, 180.0, 359.5, -359.0, 90.0])
    psi = np.array([179.9999, 180.0, -179.9999, 150.2, -45.0, 0.0004, 12.5, -0.5, 270.0, -180.0, 1.0, -90.0])
    n = len(phi)
    scale = np.linspace(0.2, 7.0, n)[:, None]  # a head need not give unit vectors
    rad = np.deg2rad(np.stack([phi, psi], 1))
    angles = np.stack([np.sin(rad[:, 0]), np.cos(rad[:, 0]), np.sin(rad[:, 1]), np.cos(rad[:, 1])], 1) * scale
    parts = {"ss8": torch.randn(1, n, 8), "angles": torch.tensor(angles, dtype=torch.float32)[None]}
    rsa_logit, dis_logit = torch.randn(1, n), torch.randn(1, n)
    if "rsa" in tasks:
        parts["rsa"], parts["disorder"] = rsa_logit, dis_logit
    values = head_values(parts)[0].numpy()
    assert values.shape == (n, 8 + sum({"rsa": 1, "angles": 4, "disorder": 1}[t] for t in tasks[1:]))
    got = task_values(values, tasks)
    assert set(got) == ({"rsa", "phi", "psi", "disorder"} if "rsa" in tasks else {"phi", "psi"})
    assert angle_error(phi, got["phi"]).max() < 1e-3 and angle_error(psi, got["psi"]).max() < 1e-3
    for ang in (got["phi"], got["psi"]):
        assert (ang > -180 - 1e-3).all() and (ang <= 180).all()
    # the 8 probabilities come first, untouched by the other columns
    np.testing.assert_allclose(values[:, :8], torch.softmax(parts["ss8"][0], -1).numpy(), rtol=1e-6)
    if "rsa" in tasks:
        np.testing.assert_allclose(got["rsa"], torch.sigmoid(rsa_logit[0]).numpy(), rtol=1e-6)
        np.testing.assert_allclose(got["disorder"], torch.sigmoid(dis_logit[0]).numpy(), rtol=1e-6)
