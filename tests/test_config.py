"""Configs do what they say (issue #27): a trainer preset named on the command line wins over the experiment for
the keys it sets, typed keys and the trainer's ranges are one line before any run folder is made, scoring does
not import the trainer."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ss_predict.cli import train_main
from ss_predict.config.compose import load_config
from ss_predict.errors import UserError
from ss_predict.config.schema import TRAINER_KEYS
from ss_predict.training.loop import train

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))
PRESETS = sorted(p.stem for p in (CONFIGS / "trainer").glob("*.yaml"))


def preset_keys(name: str) -> dict:
    """What configs/trainer/<name>.yaml itself sets."""
    return OmegaConf.to_container(OmegaConf.load(CONFIGS / "trainer" / f"{name}.yaml") or OmegaConf.create({}))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize("preset", PRESETS)
def test_trainer_preset_wins_over_the_experiment_for_its_keys(experiment, preset):
    recipe = load_config("train", [f"experiment={experiment}"]).trainer  # the experiment's own values
    both = load_config("train", [f"experiment={experiment}", f"trainer={preset}"]).trainer
    mine = preset_keys(preset)
    assert set(mine) <= set(TRAINER_KEYS)
    for key in TRAINER_KEYS:
        assert both[key] == mine.get(key, recipe[key]), (experiment, preset, key)
    # and a key given on the command line beats both
    assert load_config("train", [f"experiment={experiment}", f"trainer={preset}", "trainer.lr=0.0123"]).trainer.lr \
        == 0.0123


def test_the_pairs_of_the_issue():
    gpu = load_config("train", ["experiment=default_model", "trainer=gpu"]).trainer
    assert (gpu.max_tokens, gpu.lr, gpu.eval_max_tokens) == (65536, 3e-3, 262144)
    assert (gpu.max_epochs, gpu.ema_decay, gpu.threads) == (12, 0.999, 2)  # the rest is the experiment's
    tiny = load_config("train", ["experiment=phd", "trainer=tiny"]).trainer
    assert (tiny.max_epochs, tiny.max_tokens, tiny.lr, tiny.threads) == (2, 2048, 3e-3, 1)
    plain = load_config("train", []).trainer  # no experiment, no preset: the schema's defaults
    assert (plain.max_epochs, plain.lr, plain.max_tokens) == (30, 2e-3, 16384)


BAD = [("trainer.lr=-1", "trainer.lr=-1.0 must be above 0"),
       ("trainer.lr=0", "trainer.lr=0.0 must be above 0"),
       ("trainer.max_epochs=0", "trainer.max_epochs=0 must be at least 1"),
       ("trainer.max_tokens=0", "trainer.max_tokens=0 must be at least 1"),
       ("trainer.eval_max_tokens=-5", "trainer.eval_max_tokens=-5 must be at least 1"),
       ("trainer.crop=0", "trainer.crop=0 must be at least 1"),
       ("trainer.threads=0", "trainer.threads=0 must be at least 1"),
       ("trainer.num_workers=-1", "trainer.num_workers=-1 must be at least 0"),
       ("trainer.patience=-2", "trainer.patience=-2 must be at least 0"),
       ("trainer.warmup_steps=-1", "trainer.warmup_steps=-1 must be at least 0"),
       ("trainer.devices=0", "trainer.devices=0 must be at least 1"),
       ("trainer.max_minutes=0", "trainer.max_minutes=0.0 must be above 0"),
       ("trainer.run_epochs=0", "trainer.run_epochs=0 must be at least 1"),
       ("trainer.ema_decay=1", "trainer.ema_decay=1.0 must be at least 0 and below 1"),
       ("trainer.label_smoothing=-0.1", "trainer.label_smoothing=-0.1 must be at least 0 and below 1"),
       ("trainer.distill_weight=2", "trainer.distill_weight=2.0 must be at least 0 and at most 1"),
       ("trainer.schedule=linear", "trainer.schedule=linear must be one of cosine, constant"),
       ("trainer.precision=fp16", "trainer.precision=fp16 must be one of auto, fp32"),
       ("trainer.device=gpu", "trainer.device=gpu must be auto, cpu, cuda, cuda:N or mps"),
       ("trainer.threads=2.5", "trainer.threads='2.5' must be an integer"),
       ("trainer.lr=fast", "trainer.lr='fast' must be a number (e.g. trainer.lr=0.002, the default)"),
       ("trainer.lrr=1", "trainer.lrr is not a trainer key (did you mean trainer.lr?)"),
       ("+trainer.lrr=1", "trainer.lrr is not a trainer key (did you mean trainer.lr?)"),
       ("trainer.workers=4", "trainer.workers is not a trainer key (did you mean trainer.num_workers?)"),
       ("seed=first", "seed='first' must be an integer"),
       ("+seeed=5", "seeed is not a top-level key (did you mean seed?); the keys: paths, model, data, trainer"),  # was
       ("seeed=5", "seeed is not a top-level key (did you mean seed?)"),  # a silent run; Hydra's "use +seeed=5"
       ("+foo=bar", "foo is not a top-level key; the keys: paths, model, data, trainer")]


@pytest.mark.parametrize("override, message", BAD)
def test_bad_trainer_values_are_one_line_before_any_run_folder(override, message, tmp_path, capsys):
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        train_main(["model=phd", "data=tiny", "trainer=tiny", f"run_dir={run_dir}", override])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("error: config error: ") and err.count("\n") == 1, err
    assert message in err and "Traceback" not in err
    assert not run_dir.exists() and not tmp_path.joinpath("outputs").exists()


def test_train_checks_a_config_changed_after_loading(tmp_path):
    cfg = load_config("train", ["model=phd", "data=tiny", "trainer=tiny", f"run_dir={tmp_path}/run"])
    cfg.trainer.lr = -1.0  # a float: the schema's type allows it, the range does not
    with pytest.raises(UserError, match=r"trainer.lr=-1.0 must be above 0 \(default: 0.002\)"):
        train(cfg)
    assert not (tmp_path / "run").exists()


def test_typed_keys_of_eval_and_build_configs():
    with pytest.raises(UserError, match=r"max_token is not a top-level key \(did you mean max_tokens\?\)"):
        load_config("eval", ["+max_token=5"])
    with pytest.raises(UserError, match=r"mmseqs.evalu is not a mmseqs key \(did you mean mmseqs.evalue\?\)"):
        load_config("build", ["+mmseqs.evalu=1"])
    assert load_config("eval", ["+data.cb513_zhou.merge=false", "data=cb513_zhou"]).data.cb513_zhou.merge is False
    with pytest.raises(UserError, match="max_tokens='lots' must be an integer"):
        load_config("eval", ["max_tokens=lots"])
    with pytest.raises(UserError, match="mmseqs.threads='two' must be an integer"):
        load_config("build", ["mmseqs.threads=two"])
    with pytest.raises(UserError, match="blast.enabled='maybe' must be true or false"):
        load_config("build", ["blast.enabled=maybe"])
    assert load_config("build", ["identity=0.3"]).identity == 0.3


def test_scoring_does_not_import_the_trainer():
    code = "import sys, ss_predict.evaluation.evaluate; print('ss_predict.training.loop' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"


def _help(entry: str, *args) -> str:
    r = subprocess.run([sys.executable, "-c", f"from ss_predict.cli import {entry}; {entry}()", *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return r.stdout


def test_ss_train_help_describes_the_command():
    from ss_predict.config.help import TRAIN_KEYS, top_level

    text = _help("train_main", "--help")
    assert text.startswith("ss-train: train a secondary-structure model") and "powered by Hydra" not in text
    assert set(top_level("train")) == set(TRAIN_KEYS)  # a key added to train.yaml gets its line of help
    for key in [*TRAIN_KEYS, *(f"trainer.{k} (" for k in TRAINER_KEYS), "paths.data_root", "paths.output_dir"]:
        assert f"  {key}" in text, key
    for name in [*EXPERIMENTS, *PRESETS, "nextstep_cnn", "rbf_svc"]:
        assert name in text, name
    assert "trainer.lr (float, default 0.002): peak learning rate" in text
    assert "Precedence: the trainer defaults below < experiment= < trainer= preset" in text
    assert "ss-train experiment=default_model trainer=gpu" in text and "--hydra-help" in text
    assert "Hydra (1.3" in _help("train_main", "--hydra-help")  # Hydra's own help stays


def test_ss_eval_and_ss_predict_help():
    from ss_predict.config.help import EVAL_KEYS, top_level

    text = _help("eval_main", "--help")
    assert text.startswith("ss-eval: score checkpoints on benchmark sets") and "powered by Hydra" not in text
    assert set(top_level("eval")) == set(EVAL_KEYS)
    for key in [*(f"  {k}=" for k in EVAL_KEYS), "ss-eval checkpoint=default data=["]:
        assert key in text, key
    sets = text.split("Data sets")[1].split("Keys:")[0]
    assert {"cb513", "cb513_zhou", "ts115", "casp12", "dssp_test", "valid"} <= set(re.findall(r"\w+", sets))
    assert "tiny" not in text.split("Keys:")[0]  # training configs are no benchmark
    assert "output format (default: ss2" in " ".join(_help("predict_main", "--help").split())
