import os

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The repository's sibling shared/ folder (published data used by some tests)."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "shared", here.parent / "shared"):
        if candidate.is_dir():
            return candidate
    pytest.skip("shared/ (published HW-NAS-Bench data) is not beside this checkout")
