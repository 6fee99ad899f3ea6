import os

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
from importlib import resources
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def hwnasbench_lut() -> Path:
    """The raw HW-NAS-Bench FBNet file the shipped tables were converted from (package data)."""
    path = Path(str(resources.files("latency_tables") / "_source" / "hwnasbench-fbnet" / "fbnet_lut.json"))
    assert path.is_file(), f"{path} is missing: it ships with the project"
    return path
