"""Commands never overwrite what they did not create unless told to (--force)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.space import get_space


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.integration
def test_train_refuses_a_folder_holding_a_users_weights(tmp_path):
    arch = str(get_space("mbconv-small").sample(np.random.default_rng(0)))
    out = tmp_path / "mine"
    out.mkdir()
    (out / "weights.pt").write_bytes(b"my own weights")
    (out / "notes.txt").write_text("keep me")
    before = {p.name: _digest(p) for p in out.iterdir()}
    r = CliRunner().invoke(app, ["train", arch, "--epochs", "1", "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert "is not empty" in r.output and "--force" in r.output and "Traceback" not in r.output
    assert {p.name: _digest(p) for p in out.iterdir()} == before

    r = CliRunner().invoke(app, ["train", arch, "--epochs", "1", "--out", str(out), "--force", "--json"])
    assert r.exit_code == 0, r.output
    assert (out / "notes.txt").read_text() == "keep me"  # --force replaces only what train writes
    assert _digest(out / "weights.pt") != before["weights.pt"] and (out / "metrics.json").is_file()
