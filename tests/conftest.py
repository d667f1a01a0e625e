import os
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
