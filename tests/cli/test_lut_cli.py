"""``hwnas profile`` and ``hwnas lut``: end to end on the tiny space, resume after kill -9, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.latency import LatencyTable
from hwnas.latency.calibration import Calibration
from hwnas.latency.profile import unique_ops
from hwnas.testing import tiny_space

pytestmark = pytest.mark.integration  # profiles tables through the CLI

runner = CliRunner()
FAST = ["--runs", "6", "--rounds", "2", "--warmup", "1", "--no-pin"]
TINY_SPEC = {
    "name": "tiny",
    "resolution": 16,
    "num_classes": 10,
    "stem_channels": 8,
    "stem_stride": 1,
    "first_block_channels": 0,
    "stages": [[8, 2, 1], [16, 2, 2], [24, 2, 2]],
    "head_channels": 32,
    "kernels": [3, 5],
    "expands": [2, 4],
}


def _one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(lines) <= 2 and "Traceback" not in result.output  # rich may wrap one long line
    return " ".join(lines)


@pytest.fixture(scope="module")
def tiny_table(tmp_path_factory) -> Path:
    """A real torch-cpu table of the tiny space, profiled through the library (fast protocol)."""
    from hwnas.latency.measure import MeasureProtocol
    from hwnas.latency.profile import profile_space
    from hwnas.plugins import get_profiler

    out = tmp_path_factory.mktemp("lut") / "tiny.json"
    prof = get_profiler("torch-cpu", MeasureProtocol(runs=6, rounds=2, warmup=1, pin_cpu=False))
    profile_space(tiny_space(), prof, out, device_name="test-host")
    return out


def test_profiled_table_is_complete_and_described(tiny_table: Path) -> None:
    space = tiny_space()
    table = LatencyTable.load(tiny_table)
    table.require(space)  # every op of the space is present
    assert len(table.entries) == len(unique_ops(space))
    m = table.meta
    assert (m.runtime, m.threads, m.batch, m.space, m.resolution) == ("torch-cpu", 1, 1, "tiny", 16)
    assert m.device_name == "test-host" and m.device_detail and m.torch_version and m.created
    assert m.protocol["runs"] == 6 and m.protocol["call_overhead_ms"] >= 0
    assert table.calibration == Calibration.overhead(m.protocol["call_overhead_ms"])
    assert all(e.n >= 6 and e.p50 >= 0 for e in table.entries.values())


def test_lut_show_and_predict(tiny_table: Path) -> None:
    r = runner.invoke(app, ["lut", "show", str(tiny_table), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["meta"]["runtime"] == "torch-cpu"
    space = tiny_space()
    import numpy as np

    arch = space.sample(np.random.default_rng(3))
    r = runner.invoke(
        app, ["lut", "predict", str(tiny_table), str(arch), "--space", str(_spec_file(tiny_table)), "--json"]
    )
    # the tiny space is not a preset: a spec file with the same definition stands in for it
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    table = LatencyTable.load(tiny_table)
    assert out["predicted"] == pytest.approx(table.predict(space, arch))


def _spec_file(next_to: Path) -> Path:
    path = next_to.parent / "tiny.spec.json"
    path.write_text(json.dumps(TINY_SPEC))
    return path


def test_validate_reports_fidelity_and_repeat(tiny_table: Path, tmp_path: Path) -> None:
    copy = tmp_path / "tiny.json"
    copy.write_bytes(tiny_table.read_bytes())
    png = tmp_path / "fid.png"
    r = runner.invoke(
        app,
        [
            "lut",
            "validate",
            str(copy),
            "--samples",
            "6",
            "--runs",
            "6",
            "--rounds",
            "2",
            "--space",
            str(_spec_file(tiny_table)),
            "--calibrate",
            "--out",
            str(tmp_path / "calibrated.json"),
            "--plot",
            str(png),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    for part in ("fidelity", "repeat"):
        for k in ("within_10pct", "within_5pct", "mape", "rmse_ms", "kendall_tau", "spearman_rho"):
            assert k in out[part]
    assert len(out["measured_ms"]) == len(out["repeat_ms"]) == 6
    assert out["calibrated"]["held_out"]["n"] == 3
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert LatencyTable.load(tmp_path / "calibrated.json").calibration.method == "linear"
    assert copy.read_bytes() == tiny_table.read_bytes()  # the validated table itself is unchanged


def test_unknown_runtime_and_mismatching_table(tiny_table: Path, tmp_path: Path) -> None:
    msg = _one_line_error(
        runner.invoke(
            app,
            ["profile", "--space", "mbconv-small", "--runtime", "coreml", "--out", str(tmp_path / "x.json")],
        )
    )
    assert "coreml" in msg
    msg = _one_line_error(
        runner.invoke(
            app,
            [
                "lut",
                "validate",
                str(tiny_table),
                "--runtime",
                "onnxruntime",
                "--space",
                str(_spec_file(tiny_table)),
            ],
        )
    )
    assert "torch-cpu" in msg and "onnxruntime" in msg
    msg = _one_line_error(
        runner.invoke(app, ["lut", "predict", str(tiny_table), "x", "--space", "mbconv-small"])
    )
    assert "tiny" in msg and "mbconv-small" in msg
    # extending a table made on another runtime names both
    spec = str(_spec_file(tiny_table))
    msg = _one_line_error(
        runner.invoke(
            app,
            [
                "profile",
                "--space",
                spec,
                "--runtime",
                "onnxruntime",
                "--out",
                str(tiny_table),
                "--device-name",
                "test-host",
                *FAST,
            ],
        )
    )
    assert "torch-cpu" in msg and "onnxruntime" in msg


def test_bad_table_files_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    _one_line_error(runner.invoke(app, ["lut", "show", str(bad)]))
    bad.write_text(json.dumps({"schema_version": 1, "meta": {}, "entries": {}}))
    assert "meta lacks" in _one_line_error(runner.invoke(app, ["lut", "show", str(bad)]))
    assert "does not exist" in _one_line_error(runner.invoke(app, ["lut", "show", str(tmp_path / "no.json")]))


def test_missing_extra_is_named(tmp_path: Path) -> None:
    from hwnas.plugins import profiler_class

    if profiler_class("tensorrt").available()[0]:
        pytest.skip("TensorRT is installed here")
    msg = _one_line_error(
        runner.invoke(
            app,
            [
                "profile",
                "--space",
                "mbconv-small",
                "--runtime",
                "tensorrt",
                "--out",
                str(tmp_path / "x.json"),
            ],
        )
    )
    from hwnas.latency.profiler import cuda_missing

    if cuda_missing() is not None:  # no GPU: installing TensorRT would not help, so it is not said
        assert "no CUDA device found" in msg and "pip install" not in msg and "nvidia-smi" in msg
    else:
        assert "hwnas[tensorrt]" in msg


def test_profile_resumes_after_kill_9(tmp_path: Path) -> None:
    spec = tmp_path / "tiny.spec.json"
    spec.write_text(json.dumps(TINY_SPEC))
    out = tmp_path / "t.json"
    cmd = [
        sys.executable,
        "-c",
        "from hwnas.cli import main; main()",
        "profile",
        "--space",
        str(spec),
        "--runtime",
        "torch-cpu",
        "--out",
        str(out),
        "--device-name",
        "k9",
        "--runs",
        "150",
        "--rounds",
        "4",
        "--no-pin",
        "--json",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    first: dict = {}
    while time.time() < deadline:
        if out.exists():
            try:
                first = json.loads(out.read_text())["entries"]
            except (json.JSONDecodeError, KeyError):
                first = {}
            if first:
                break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first, "no chunk was saved before the kill"
    total = len(unique_ops(tiny_space()))
    partial = LatencyTable.load(out)  # the file is never torn
    assert 0 < len(partial.entries) <= total
    assert len(partial.entries) < total, "the run finished before it could be killed"
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    table = LatencyTable.load(out)
    assert len(table.entries) == total
    for key, stats in partial.entries.items():  # finished entries were kept, not re-measured
        assert table.entries[key] == stats


def test_published_tables_show_predict_but_not_validate() -> None:
    r = runner.invoke(app, ["lut", "show", "pixel3/latency-fbnet-cifar100", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["entries"] == 112
    arch = "-".join(["k3e1"] * 22)
    r = runner.invoke(app, ["lut", "predict", "pixel3/latency-fbnet-cifar100", arch, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["predicted"] > 0
    assert r.stderr.count("holds published figures for Google Pixel 3") == 1  # said once, on stderr
    msg = _one_line_error(runner.invoke(app, ["lut", "validate", "pixel3/latency-fbnet-cifar100"]))
    assert "published" in msg


def test_validating_a_shipped_table_warns_once_and_writes_a_copy(tmp_path: Path, monkeypatch) -> None:
    """Issue 14: the shipped table was measured elsewhere, and validate says so once with the
    measured gap; issue 13: --calibrate writes a copy in the current folder and says where."""
    import hashlib

    from hwnas.latency.shipped import table_path

    name = "cpu-1t/onnxruntime-mbconv-small"
    shipped = table_path(name)
    before = hashlib.sha256(shipped.read_bytes()).hexdigest()
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["lut", "validate", name, "--samples", "4", "--runs", "6", "--rounds", "2",
                            "--calibrate"])
    assert r.exit_code == 0, r.output
    copy = tmp_path / "onnxruntime-mbconv-small.calibrated.json"
    assert f"calibrated copy of {shipped} written to {copy}" in " ".join(r.stdout.split())
    assert LatencyTable.load(copy).calibration.method == "linear"
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == before  # read-only
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1, r.stderr
    assert f"table {name} does not record which machine measured it" in warnings[0]
    assert " vs predicted " in warnings[0] and "(medians of 4 archs)" in warnings[0]
    assert "hwnas profile --space mbconv-small --runtime onnxruntime" in warnings[0]


def test_search_with_a_foreign_table_warns_once_after_the_run(tmp_path: Path) -> None:
    """Issue 14: pricing with a table from another host says so once, on stderr (JSON untouched)."""
    import itertools
    from dataclasses import replace

    from hwnas.space import get_space
    from hwnas.testing import synthetic_table

    space = get_space("nb201")
    table = synthetic_table(space)
    table = replace(table, meta=replace(table.meta, device_detail="Some Other CPU",
                                        host={"kind": "cpu", "cpu": "Some Other CPU",
                                              "host_id": "0123456789ab"}))
    lut = tmp_path / "nb201.json"
    table.save(lut)
    csv = tmp_path / "acc.csv"
    rows = [f"{space.arch_from_indices(i)},{sum(i) / 24:.4f}" for i in itertools.product(range(5), repeat=6)]
    csv.write_text("arch,acc\n" + "\n".join(rows) + "\n")
    r = runner.invoke(app, ["search", "--strategy", "random", "--evaluator", f"table:{csv}",
                            "--space", "nb201",
                            "--arch-column", "arch", "--accuracy-column", "acc", "--latency-column", "none",
                            "--lut", str(lut), "--max-evals", "6", "--out", str(tmp_path / "run"), "--json"])
    assert r.exit_code == 0, r.output
    json.loads(r.stdout)  # stdout is JSON alone
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and f"table {lut} was measured on another machine" in warnings[0], r.stderr
    assert "cpu Some Other CPU there" in warnings[0]
