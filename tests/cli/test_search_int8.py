"""``hwnas search --accuracy-of``: bad requests are one line, exit 2, nothing written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.latency.shipped import load_table, shipped_names
from hwnas.testing.cli_checks import assert_one_line_error

runner = CliRunner()
INT8 = "cpu-1t/onnxruntime-int8-mbconv-small"
FP32 = "cpu-1t/onnxruntime-mbconv-small"


def hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def adb_int8(tmp_path) -> Path:
    """The shipped int8 table relabelled as timed on a phone (a runtime hwnas cannot quantize for)."""
    from hwnas.latency.shipped import table_path

    raw = json.loads(table_path(INT8).read_text())
    raw["meta"]["runtime"] = "adb"
    path = tmp_path / "adb-int8.json"
    path.write_text(json.dumps(raw))
    return path


CASES = {
    "float32 table": (["--evaluator", "scratch", "--lut", FP32, "--accuracy-of", "int8"],
                      ("timed in float32", "int8 accuracy against float32 latency", INT8)),
    "float32 torch table": (["--evaluator", "oneshot", "--lut", "cpu-1t/torch-cpu-mbconv-small",
                             "--accuracy-of", "int8"],
                            ("timed in float32", "--runtime onnxruntime --dtype int8")),
    "unknown value": (["--lut", INT8, "--accuracy-of", "int4"],
                      ("unknown --accuracy-of 'int4'", "fp32, int8")),
    "no table": (["--evaluator", "scratch", "--accuracy-of", "int8"], ("needs an int8 latency table",)),
    "proxyless": (["--strategy", "proxyless", "--lut", INT8, "--budget-ms", "0.5", "--accuracy-of", "int8"],
                  ("proxyless trains one derived arch", "--quantize int8")),
    "table evaluator": (["--evaluator", "table:x.csv", "--lut", INT8, "--accuracy-of", "int8"],
                        ("needs trained weights to quantize", "--evaluator oneshot or scratch")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_accuracy_of_requests_are_refused_writing_nothing(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.csv").write_text("arch,accuracy\n")
    args, needles = CASES[case]
    before = hashes(tmp_path)
    res = runner.invoke(app, ["search", "--max-evals", "2", "--out", "run", *args])
    assert_one_line_error(res, *needles)
    assert hashes(tmp_path) == before and not (tmp_path / "run").exists()


def test_int8_table_of_a_runtime_without_int8_path_is_refused(adb_int8, tmp_path):
    before = hashes(tmp_path)
    res = runner.invoke(app, ["search", "--evaluator", "scratch", "--lut", str(adb_int8), "--accuracy-of",
                              "int8", "--max-evals", "2", "--out", str(tmp_path / "run")])
    assert_one_line_error(res, "cannot quantize for runtime 'adb'", "hwnas has no int8 path")
    assert hashes(tmp_path) == before


def test_the_int8_table_ships_with_its_validation():
    assert INT8 in shipped_names()
    table = load_table(INT8)
    assert table.meta.dtype == "int8" and table.meta.runtime == "onnxruntime" and table.meta.threads == 1
    assert table.calibration is not None  # shipped calibrated, like the float32 tables
    root = Path(__file__).resolve().parents[2] / "latency_tables" / "cpu-1t" / "validation"
    figures = json.loads((root / "onnxruntime-int8-mbconv-small.validation.json").read_text())
    assert figures["fidelity"]["n"] == figures["repeat"]["n"] == 40
    assert (root / "onnxruntime-int8-mbconv-small.png").stat().st_size > 0
