"""Knowledge distillation: cached teacher probabilities, cropped soft targets, the soft-target loss."""
import numpy as np
import pytest
import torch

from conftest import TINY, one_line_error, run_cli
from ss_predict.cli import train_main
from ss_predict.data.batching import EncodedSet
from ss_predict.config.compose import load_config
from ss_predict.training.distill import teacher_probabilities
from ss_predict.inference.engine import predict_sets
from ss_predict.checkpoint.loading import load_models
from ss_predict.training.losses import distill_loss, ss_loss
from ss_predict.data.splits import load_split
from ss_predict.training.loop import train

TINY_MODEL = ["model=cnn_bigru", "model.kwargs.conv_channels=8", "model.kwargs.hidden=12", "model.kwargs.head=16"]


def test_distill_loss_with_one_hot_teacher_is_the_label_loss():
    torch.manual_seed(0)
    logits = torch.randn(2, 7, 8)
    y8 = torch.randint(0, 8, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 5:] = False
    y8[1, 5:] = -1
    soft = torch.nn.functional.one_hot(y8.clamp(min=0), 8).float()
    lab, _ = ss_loss(logits, y8, torch.full_like(y8, -1))
    torch.testing.assert_close(distill_loss(logits, soft, mask), lab)
    # a student equal to the teacher minimises the loss (cross-entropy = the teacher's entropy)
    teacher = torch.softmax(torch.randn(2, 7, 8), -1)
    at_teacher = distill_loss(torch.log(teacher), teacher, mask)
    assert at_teacher < distill_loss(logits, teacher, mask)
    # temperature 2: the T^2-scaled loss of the softened distributions
    t2 = distill_loss(logits, teacher, mask, temperature=2.0)
    soft2 = torch.softmax(torch.log(teacher) / 2, -1)
    ref = -(soft2 * torch.log_softmax(logits / 2, -1)).sum(-1)[mask].mean() * 4
    torch.testing.assert_close(t2, ref)


@pytest.mark.data("tiny")
def test_teacher_probabilities_are_the_teachers_and_cached(tmp_path, data_root):
    proteins = load_split(load_config("train", ["data=tiny"]).data.valid)
    cpu = torch.device("cpu")
    logs = []
    first = teacher_probabilities(["default"], proteins, cpu, 8192, tmp_path, log=logs.append)
    models = load_models(["default"], cpu).models
    direct = predict_sets(models, EncodedSet(proteins, "onehot"), cpu)
    for a, b in zip(first, direct):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-3)  # float16 cache
    assert len(list(tmp_path.glob("teacher-*.npz"))) == 1
    again = teacher_probabilities(["default"], proteins, cpu, 8192, tmp_path, log=logs.append)
    assert "cache" in logs[-1]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


def test_soft_targets_follow_the_training_crops():
    from ss_predict.core.records import Protein
    ps = [Protein("a", "ACDEFGHIKL" * 3, ss8=np.zeros(30)), Protein("b", "MKV" * 4, ss3=np.zeros(12))]
    data = EncodedSet(ps, "onehot")
    data.soft = [np.random.default_rng(i).dirichlet(np.ones(8), size=len(p)).astype(np.float32)
                 for i, p in enumerate(ps)]
    b = data.batch([0, 1], [(5, 17), (0, 12)])
    torch.testing.assert_close(b.soft[0, :12], torch.from_numpy(data.soft[0][5:17]))
    torch.testing.assert_close(b.soft[1, :12], torch.from_numpy(data.soft[1]))


@pytest.mark.data("tiny")
def test_distilled_training_runs_and_uses_the_cache(tmp_path, out_dir, capsys):
    over = ["data=tiny", "trainer=tiny", *TINY_MODEL, "teacher=[default]", "trainer.max_epochs=1",
            "trainer.distill_weight=0.7"]
    train(load_config("train", [*over, f"run_dir={tmp_path}/a"]))
    assert "teacher probabilities: 1 file(s)" in capsys.readouterr().out
    train(load_config("train", [*over, f"run_dir={tmp_path}/b"]))
    assert "from cache" in capsys.readouterr().out
    ckpt = torch.load(tmp_path / "b/best.pt", weights_only=True)
    assert ckpt["config"]["teacher"] == ["default"] and ckpt["config"]["trainer"]["distill_weight"] == 0.7


def test_distill_experiment_composes():
    cfg = load_config("train", ["experiment=distill", "teacher=[a.pt,b.pt]"])
    assert cfg.name == "distill_cnn_bigru_s0" and list(cfg.teacher) == ["a.pt", "b.pt"]
    assert cfg.trainer.max_epochs == 12 and cfg.trainer.distill_weight == 0.5


@pytest.mark.parametrize("teacher, words", [("teacher=[]", ["teacher=[]", "names no checkpoint"]),
                                            ("teacher=[/nonexistent/t.pt]", ["model file not found", "/nonexistent/t.pt"]),
                                            ("teacher=[notes.pt]", ["notes.pt", "not a readable ss-predict checkpoint"])])
@pytest.mark.data("tiny")
def test_distillation_teachers_are_checked_before_any_work(out_dir, cwd, capsys, teacher, words):
    """A missing, foreign or empty teacher list ends in one line naming it, before a run folder is made."""
    (cwd / "notes.pt").write_text("not a checkpoint\n")
    code, _, err = run_cli(train_main, capsys, *TINY, teacher)
    assert code == 2 and all(w in one_line_error(err) for w in words), err
    assert not (out_dir / "runs").exists()

