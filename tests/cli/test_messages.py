"""CLI messages say what actually differs, and name each fix once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.errors import TableError
from hwnas.latency.shipped import load_table, table_path
from hwnas.plugins import profiler_class
from hwnas.space import get_space

SPACE = get_space("mbconv-small")
ARCH = str(SPACE.sample(np.random.default_rng(0)))


def _one_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1
    return " ".join(result.output.split())


def _table_with_resolution(tmp_path, value):
    raw = json.loads(table_path("cpu-1t/onnxruntime-mbconv-small").read_text())
    raw["meta"]["resolution"] = value
    path = tmp_path / "t.json"
    path.write_text(json.dumps(raw))
    return path


def test_a_resolution_written_as_text_is_named_as_such():
    table = load_table("cpu-1t/onnxruntime-mbconv-small")
    bad = replace(table, meta=replace(table.meta, resolution="32"))
    with pytest.raises(TableError) as info:
        bad.check_space(SPACE)
    assert info.value.message == ("table meta.resolution is '32' (str), not a whole number of pixels "
                                  "like space mbconv-small's 32")


def test_resolution_mismatch_through_the_cli_names_both_values(tmp_path):
    for value, forbidden in (("32", "made at resolution 32, space mbconv-small is at 32"), (16, None)):
        path = _table_with_resolution(tmp_path, value)
        before = hashlib.sha256(path.read_bytes()).hexdigest()
        msg = _one_line(CliRunner().invoke(app, ["lut", "predict", str(path), ARCH]))
        assert "resolution" in msg
        if forbidden:
            assert forbidden not in msg
        else:
            assert "table was made at resolution 16, space mbconv-small is at 32" in msg
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_a_missing_runtime_names_its_install_fix_once(tmp_path):
    ok, _ = profiler_class("tensorrt").available()
    if ok:
        pytest.skip("TensorRT is installed here")
    msg = _one_line(CliRunner().invoke(app, ["profile", "--space", "mbconv-small", "--runtime", "tensorrt",
                                             "--out", str(tmp_path / "p.json")]))
    from hwnas.latency.profiler import cuda_missing

    if cuda_missing() is not None:  # no GPU: the fix is a GPU, not an install
        assert "no CUDA device found" in msg and "pip install" not in msg, msg
    else:
        assert msg.count("pip install 'hwnas[tensorrt]'") == 1, msg
    assert list(tmp_path.iterdir()) == []
