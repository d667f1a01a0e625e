import os
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SS_DATA_ROOT", REPO.parent / "shared" / "data")).resolve()
os.environ.setdefault("SS_DATA_ROOT", str(DATA))  # configs composed by the tests read the shared copy, not ./data


def data_files(name: str) -> list[str]:
    """The files (relative to the data root) of a data set named as the configs name it: a configs/data/ entry
    (casp12, tiny, ...), a training pool of configs/pools/default.yaml (flip_train, cmbi_dssp, ...), or a path."""
    from omegaconf import OmegaConf

    if "/" in name:
        return [name]
    path = REPO / "configs" / "data" / f"{name}.yaml"
    raw = OmegaConf.to_container(OmegaConf.load(path if path.exists() else REPO / "configs/pools/default.yaml"))
    specs = raw.values() if path.exists() else [raw[name]]
    prefix = "${paths.data_root}/"
    return [s["path"][len(prefix):] for s in specs if s["path"].startswith(prefix)]


def missing_data(names) -> str | None:
    """The skip reason for the first data set whose files are not under the data root, or None."""
    for name in names:
        for rel in data_files(name):
            if not (DATA / rel).exists():
                what = f"data file {rel}" if rel == name else f"data set '{name}' ({rel})"
                return (f"needs {what} under SS_DATA_ROOT={DATA}: set SS_DATA_ROOT to the folder that holds the "
                        "data sets (data/README.md lists them)")
    return None


def pytest_configure(config):
    import torch
    torch.set_num_threads(1)  # tiny models: one thread is fastest and avoids oversubscribing CI's 2 cores
    config.addinivalue_line("markers", "data(*names): needs these data sets under SS_DATA_ROOT (skipped without "
                                       "them); names as in configs/data/ or configs/pools/default.yaml")


def pytest_runtest_setup(item):
    names = [n for m in item.iter_markers("data") for n in m.args]
    reason = missing_data(names)
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def data_root() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"needs the data sets: SS_DATA_ROOT={DATA} does not exist (data/README.md lists them)")
    return DATA


@pytest.fixture
def out_dir(tmp_path, monkeypatch) -> Path:
    """Outputs of configs go to a temporary folder (the data root may be read-only)."""
    monkeypatch.setenv("SS_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("SS_DATA_ROOT", str(DATA))
    return tmp_path / "outputs"


# ---- shared helpers and fixtures -------------------------------------------------------------------------

FIX = Path(__file__).parent / "fixtures"
FASTA = ">p1 first\nMKVLAAGIVGLLLAAHSEEVKKLLEEAGIDTSK\n>p2\nGSHMSEQLTEEQIAEFKEAFSLFDKDGDGTITTKELGTVMRSL\n>p3\nACDW\n"
TINY = ["model=phd", "data=tiny", "trainer=tiny", "trainer.max_epochs=1", "trainer.tensorboard=false"]
TINY_KWARGS = {"channels": 8, "dilations": [1, 2], "repeats": 1}


MULTI_TASK = ("ss8", "rsa", "angles", "disorder")  # every task head (models.base.TASKS)


def tiny_checkpoint(path: Path, features: str = "onehot", sharpen: float = 1.0, tasks=("ss8",), **save) -> Path:
    """A random 8-channel dilated_cnn (seed 0, weights times `sharpen`) saved as a checkpoint: the cheapest
    model every command loads; with `tasks` (e.g. MULTI_TASK) it predicts those beside secondary structure."""
    import torch

    from ss_predict.checkpoint.format import save_checkpoint
    from ss_predict.data.features import spec_dict
    from ss_predict.models import create_model
    torch.manual_seed(0)
    m = create_model("dilated_cnn", spec_dict(features)["n_features"], tasks=tuple(tasks), **TINY_KWARGS)
    with torch.no_grad():
        for prm in m.parameters():
            prm.mul_(sharpen)
    save_checkpoint(path, model=m, model_cfg={"name": "dilated_cnn", "kwargs": TINY_KWARGS},
                    features=spec_dict(features), config={}, **save)
    return path


@contextmanager
def writes_fail_past(nbytes: int):
    """In this process, writing a file past `nbytes` fails the way a full disk fails a write: an OSError from the
    system (RLIMIT_FSIZE: EFBIG, "File too large"; Python ignores SIGXFSZ), wherever the write comes from (torch's
    zip writer, gzip, matplotlib, ...). Reading and smaller files are untouched."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def run_cli(entry, capsys, *args):
    """Call a console entry point in-process: (exit status, stdout, stderr)."""
    try:
        entry(list(args))
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    """`err` is one complete `error: ...` line: no traceback, no colour."""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "\x1b" not in err
    return err


def error_of(entry, capsys, *args) -> str:
    """The one error line of an entry point that must refuse its arguments with exit status 2."""
    code, out, err = run_cli(entry, capsys, *args)
    assert code == 2, (code, err)
    return one_line_error(err)


@pytest.fixture
def cwd(tmp_path, monkeypatch) -> Path:
    """Run in an empty folder, to see what the entry points leave in the working directory."""
    d = tmp_path / "cwd"
    d.mkdir()
    monkeypatch.chdir(d)
    return d


@pytest.fixture
def fasta(tmp_path) -> Path:
    """tmp_path/in.fasta holding FASTA (three records)."""
    p = tmp_path / "in.fasta"
    p.write_text(FASTA)
    return p


@pytest.fixture
def tiny_ckpt(tmp_path) -> Path:
    """tiny_checkpoint() as tmp_path/runA/best.pt."""
    return tiny_checkpoint(tmp_path / "runA" / "best.pt")


@pytest.fixture
def tiny_mt_ckpt(tmp_path) -> Path:
    """tiny_checkpoint() predicting every task (ss8, rsa, angles, disorder) as tmp_path/runMT/best.pt."""
    return tiny_checkpoint(tmp_path / "runMT" / "best.pt", tasks=MULTI_TASK)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The run folder of one real one-epoch TINY training (best.pt, last.pt with its train_state), made once per
    test process and shared: treat it as read-only."""
    from ss_predict.config.compose import load_config
    from ss_predict.training.loop import train
    if missing_data(["tiny"]):
        pytest.skip(missing_data(["tiny"]))
    d = tmp_path_factory.mktemp("tiny_run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SS_OUTPUT_DIR", str(d / "outputs"))
        train(load_config("train", [*TINY, f"run_dir={d}/run"]))
    return d / "run"


def predict_child(*args, code: str | None = None, **kw):
    """ss-predict in a fresh process, text out, stdin closed unless given: for what only a process shows (start-up,
    signals, an exit at an exact point, a regression that would block). With `code`, Python run before the CLI."""
    import subprocess
    import sys
    cmd = [sys.executable, "-c", code + "\nfrom ss_predict.cli import predict_main\npredict_main()"] if code \
        else [sys.executable, "-m", "ss_predict"]
    if "input" not in kw:
        kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=kw.pop("timeout", 300), **kw)


def refused(r, *words) -> None:
    """A finished run (a subprocess.CompletedProcess or (code, out, err)) refused with exit status 2 and one error
    line naming `words`."""
    code, err = (r.returncode, r.stderr) if hasattr(r, "returncode") else (r[0], r[2])
    assert code == 2, err
    err = one_line_error(err)
    for w in words:
        assert w in err, err
