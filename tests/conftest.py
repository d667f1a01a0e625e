import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SS_DATA_ROOT", REPO.parent / "shared" / "data")).resolve()
os.environ.setdefault("SS_DATA_ROOT", str(DATA))  # configs composed by the tests read the shared copy, not ./data


@pytest.fixture(scope="session")
def data_root() -> Path:
    assert DATA.is_dir(), f"data root {DATA} missing: set SS_DATA_ROOT"
    return DATA


@pytest.fixture
def out_dir(tmp_path, monkeypatch) -> Path:
    """Outputs of configs go to a temporary folder (the data root may be read-only)."""
    monkeypatch.setenv("SS_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("SS_DATA_ROOT", str(DATA))
    return tmp_path / "outputs"


def pytest_configure(config):
    import torch
    torch.set_num_threads(1)  # tiny models: one thread is fastest and avoids oversubscribing CI's 2 cores
