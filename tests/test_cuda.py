"""The CUDA paths (issue 17): bf16 training, CPU/CUDA parity, pinned loader workers, NCCL, torchrun, ss-predict.

Run on a machine with a GPU: `pytest -m cuda` (scripts/gpu_session.sh does). Every test skips without CUDA.
"""
import contextlib
import copy
import io
import json
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from ss_predict.data.batching import EncodedSet, epoch_loader, length_batches
from ss_predict.checkpoint.format import load_checkpoint
from ss_predict.checkpoint.loading import build_model, load_models
from ss_predict.cli import predict_main
from ss_predict.config.compose import load_config
from ss_predict.data.formats import read_any
from ss_predict.inference.engine import autocast, predict_sets
from ss_predict.training.losses import ss_loss
from ss_predict.models import create_model
from ss_predict.prediction.renderers import FORMATS
from ss_predict.training.loop import train

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

CUDA = torch.device("cuda")
CPU = torch.device("cpu")
TINY = ["data=tiny", "trainer=tiny", "model=cnn_bigru", "model.kwargs.conv_channels=8", "model.kwargs.hidden=12",
        "model.kwargs.head=16"]


@pytest.fixture(scope="module")
def casp12(data_root):
    return read_any(data_root / "lift_ss_testsets/CASP12.txt")


def _model(name: str) -> torch.nn.Module:
    cfg = load_config("train", [f"model={name}"])
    return create_model(cfg.model.name, 21, **cfg.model.kwargs)


def _forward(model, b):
    return model(b.x, b.mask, y8=b.y8) if getattr(model, "teacher_forcing", False) else model(b.x, b.mask)


@pytest.mark.parametrize("name", ["cnn_bigru", "dilated_cnn", "phd", "nextstep_cnn"])
def test_bf16_training_steps_are_finite_and_learn(name, casp12):
    torch.manual_seed(0)
    data = EncodedSet(casp12[:16], "onehot")
    b = data.batch(list(range(16))).to(CUDA)
    model = _model(name).to(CUDA).train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        with autocast(CUDA):
            logits = _forward(model, b)
        assert logits.dtype == torch.bfloat16  # autocast is really on
        loss, n = ss_loss(logits, b.y8, b.y3)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        opt.step()
        losses.append(loss.item())
    assert int(n) == sum(p.n_scored for p in casp12[:16])
    assert np.isfinite(losses).all() and losses[-1] < 0.9 * losses[0], losses


@torch.inference_mode()
def _fp32_probs(models, data: EncodedSet) -> list[np.ndarray]:
    """predict_sets' batches and averaging, without bf16 autocast."""
    out = [None] * len(data.proteins)
    for idx in length_batches(data.lengths, 32768):
        batch = data.batch(idx)
        b = batch.to(CUDA)
        probs = torch.stack([torch.softmax(m(b.x, b.mask).float(), -1) for m in models]).mean(0).cpu().numpy()
        for j, i in enumerate(batch.index):
            out[i] = probs[j, : batch.lengths[j]]
    return out


def test_cpu_cuda_inference_parity_on_casp12(casp12):
    """The bundled model on CASP12: CPU fp32 against CUDA as ss-predict runs it (bf16) and in fp32."""
    data = EncodedSet(casp12, "onehot")
    cpu_models = load_models("default", CPU).models
    ref = np.concatenate(predict_sets(cpu_models, data, CPU))
    gpu_models = [copy.deepcopy(m).to(CUDA) for m in cpu_models]
    bf16 = np.concatenate(predict_sets(gpu_models, data, CUDA))
    fp32 = np.concatenate(_fp32_probs(gpu_models, data))
    assert ref.shape == bf16.shape == fp32.shape == (sum(len(p) for p in casp12), 8)
    for name, got, share in (("bf16", bf16, 0.995), ("fp32", fp32, 1.0)):
        same = (got.argmax(1) == ref.argmax(1)).mean()
        close = (np.abs(got - ref).max(1) <= 1e-2).mean()
        assert same >= 0.995, f"{name}: same 8-state on {same:.4f} of residues"
        assert close >= share, f"{name}: probabilities within 1e-2 on {close:.4f} of residues, max diff " \
                               f"{np.abs(got - ref).max():.4f}"


def test_loader_workers_pin_memory_and_match_inline_batches(casp12):
    data = EncodedSet(casp12, "onehot")
    plan = data.plan_epoch(4096, 256, np.random.default_rng(0))
    inline = list(epoch_loader(data, plan, 0, pin=False))
    pinned = list(epoch_loader(data, plan, 2, pin=True))
    assert len(inline) == len(pinned) == len(plan) > 1
    for a, b in zip(inline, pinned):
        assert b.x.is_pinned() and b.mask.is_pinned() and b.y8.is_pinned() and b.y3.is_pinned()
        g = b.to(CUDA, non_blocking=True)
        torch.cuda.synchronize()
        assert g.x.device.type == "cuda" and b.lengths == a.lengths and b.index == a.index
        for k in ("x", "mask", "y8", "y3"):
            assert torch.equal(getattr(g, k).cpu(), getattr(a, k)), k


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_single_rank_nccl_ddp_step_matches_plain_model(casp12, monkeypatch):
    import torch.distributed as dist

    from ss_predict.inference import distributed
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    torch.cuda.set_device(0)
    dist.init_process_group("nccl", rank=0, world_size=1)
    try:
        assert dist.get_backend() == "nccl"
        assert distributed.all_sum([1.5, 2.0], CUDA) == [1.5, 2.0]
        torch.manual_seed(0)
        plain = _model("dilated_cnn").to(CUDA)
        ddp = torch.nn.parallel.DistributedDataParallel(copy.deepcopy(plain), device_ids=[0])
        b = EncodedSet(casp12[:8], "onehot").batch(list(range(8))).to(CUDA)
        for net in (plain, ddp):
            net.eval()  # no dropout: both see the same function
            loss, _ = ss_loss(net(b.x, b.mask), b.y8, b.y3)
            loss.backward()
        for (k, p), q in zip(plain.named_parameters(), ddp.module.parameters()):
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=k)
    finally:
        dist.destroy_process_group()


def test_one_process_torchrun_training_on_cuda(tmp_path, casp12, out_dir):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
           "-m", "ss_predict.cli.train", *TINY, "trainer.device=cuda", "trainer.max_epochs=3", "trainer.lr=5e-3",
           "trainer.num_workers=2", f"run_dir={tmp_path}/run"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "device cuda" in r.stdout
    hist = json.loads((tmp_path / "run/summary.json").read_text())["history"]
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert np.isfinite([h["train_loss"] for h in hist]).all() and hist[-1]["train_loss"] < hist[0]["train_loss"]
    raw = torch.load(tmp_path / "run/best.pt", weights_only=True)  # no map_location: saved device-neutral
    assert all(v.device.type == "cpu" for v in raw["state_dict"].values())
    probs = predict_sets([build_model(load_checkpoint(tmp_path / "run/best.pt"))], EncodedSet(casp12, "onehot"), CPU)
    assert all(np.isfinite(p).all() and abs(p.sum(1) - 1).max() < 1e-4 for p in probs)
    # the CUDA run's last.pt resumes on the CPU
    train(load_config("train", [*TINY, "trainer.max_epochs=4", "trainer.resume=auto", f"run_dir={tmp_path}/run"]))
    assert json.loads((tmp_path / "run/summary.json").read_text())["history"][-1]["epoch"] == 4


def _predict(*args) -> tuple[int, str]:
    err = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            predict_main(list(args))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return code, err.getvalue()


@pytest.fixture(scope="module")
def casp12_fasta(casp12, tmp_path_factory):
    """The first 12 CASP12 chains (the CPU reference runs once per format)."""
    path = tmp_path_factory.mktemp("fa") / "casp12.fasta"
    path.write_text("".join(f">{p.id}\n{p.sequence}\n" for p in casp12[:12]))
    return path


@pytest.mark.parametrize("fmt", FORMATS)
def test_ss_predict_device_cuda_in_every_format(fmt, casp12_fasta, tmp_path):
    outs = {}
    for dev in ("cpu", "cuda"):
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        code, err = _predict(str(casp12_fasta), "--device", dev, "-f", fmt, "-o", str(tmp_path / f"{dev}.{fmt}"),
                             "--quiet")
        assert code == 0, err
        assert (torch.cuda.max_memory_allocated() > before) == (dev == "cuda")  # really ran on the GPU (or not)
        outs[dev] = (tmp_path / f"{dev}.{fmt}").read_text()
    assert outs["cuda"] and len(outs["cuda"].splitlines()) == len(outs["cpu"].splitlines())
    if fmt == "json":
        a, b = json.loads(outs["cpu"]), json.loads(outs["cuda"])
        assert [x["id"] for x in a] == [x["id"] for x in b] and len(b) == 12
        s8a, s8b = "".join(x["ss8"] for x in a), "".join(x["ss8"] for x in b)
        assert np.mean([u == v for u, v in zip(s8a, s8b)]) >= 0.995


def test_ss_predict_cuda_process(casp12_fasta, tmp_path):
    """The installed entry point as a user starts it (one process: CUDA start-up included)."""
    r = subprocess.run([sys.executable, "-m", "ss_predict", str(casp12_fasta), "--device", "cuda", "-f", "ss2",
                        "-o", f"{tmp_path}/out/"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(list((tmp_path / "out").glob("*.ss2"))) == 12
