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
    out = json.loads(r.stdout)  # stderr says once that this table is uncalibrated
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
            "8",
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
    assert len(out["measured_ms"]) == len(out["repeat_ms"]) == 8
    assert out["calibrated"]["held_out"]["n"] == 4
    assert png.read_bytes()[:4] == b"\x89PNG"
    calibration = LatencyTable.load(tmp_path / "calibrated.json").calibration
    assert calibration.method in ("linear", "per_kind") and calibration.record.n_archs == 4
    assert {"linear", "per_kind(alpha=0.3)"} <= set(dict(calibration.record.selection))
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
        "--calibration-archs",
        "4",
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
    assert LatencyTable.load(copy).calibration.method in ("linear", "per_kind")
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == before  # read-only
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1, r.stderr
    # the shipped table records its CPU model only: on a machine with that CPU it cannot tell
    # more ("does not record"), on any other CPU it names the difference
    assert (f"table {name} does not record which machine measured it" in warnings[0]
            or f"table {name} was measured on another machine (cpu " in warnings[0]), warnings[0]
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


def _hashes(*paths: Path) -> dict:
    import hashlib

    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


def test_validate_on_a_users_list_of_archs(tiny_table: Path, tmp_path: Path) -> None:
    import numpy as np

    space = tiny_space()
    rng = np.random.default_rng(7)
    archs = [str(space.sample(rng)) for _ in range(4)]
    listed = tmp_path / "archs.txt"
    listed.write_text("# two published nets and two of mine\n" + "\n".join(archs) + "\n\n")
    r = runner.invoke(app, ["lut", "validate", str(tiny_table), "--archs", str(listed), "--space",
                            str(_spec_file(tiny_table)), "--runs", "6", "--rounds", "2", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["archs"] == archs and len(out["repeat_ms"]) == 4  # these archs, beside their repeat
    assert out["repeat"]["n"] == 4
    as_json = tmp_path / "archs.json"
    as_json.write_text(json.dumps({"space": "tiny", "archs": archs[:2]}))  # `hwnas arch sample --json`
    r = runner.invoke(app, ["lut", "validate", str(tiny_table), "--archs", str(as_json), "--space",
                            str(_spec_file(tiny_table)), "--runs", "6", "--rounds", "2"])
    assert r.exit_code == 0, r.output
    assert f"2 archs from {as_json}" in " ".join(r.stdout.split())


@pytest.mark.parametrize("content,needles", [
    (None, ("is not a file",)),
    ("[\"k3e2\", ", ("is not valid JSON",)),
    ('{"archs": 3}', ("holds no list of archs",)),
    ("[1, 2]", ("entry 0 is 1, not an arch string",)),
    ("ARCH0\nnot-an-arch\n", ("line 2:",)),
    ("ARCH0\n# again\nARCH0\n", ("line 3 repeats line 1", "list each arch once")),
    ("ARCH0\n", ("lists 1 arch(s)", "at least 2")),
])
def test_a_bad_archs_file_is_refused_in_one_line_and_writes_nothing(tiny_table: Path, tmp_path: Path,
                                                                    content, needles) -> None:
    import numpy as np

    from hwnas.testing.cli_checks import assert_one_line_error

    arch0 = str(tiny_space().sample(np.random.default_rng(1)))
    listed = tmp_path / "archs.txt"
    if content is not None:
        listed.write_text(content.replace("ARCH0", arch0))
    spec = _spec_file(tiny_table)
    before, files = _hashes(tiny_table, spec, listed), sorted(tmp_path.iterdir())
    r = runner.invoke(app, ["lut", "validate", str(tiny_table), "--archs", str(listed), "--space", str(spec),
                            "--calibrate", "--out", str(tmp_path / "cal.json"), "--runs", "6"])
    assert_one_line_error(r, "--archs", *needles)
    assert _hashes(tiny_table, spec, listed) == before and sorted(tmp_path.iterdir()) == files


def test_too_few_listed_archs_to_calibrate_is_refused(tiny_table: Path, tmp_path: Path) -> None:
    import numpy as np

    from hwnas.testing.cli_checks import assert_one_line_error

    space = tiny_space()
    rng = np.random.default_rng(2)
    listed = tmp_path / "archs.json"
    listed.write_text(json.dumps(sorted({str(space.sample(rng)) for _ in range(3)})))
    before = _hashes(tiny_table, listed)
    r = runner.invoke(app, ["lut", "validate", str(tiny_table), "--archs", str(listed), "--space",
                            str(_spec_file(tiny_table)), "--calibrate", "--out", str(tmp_path / "c.json")])
    assert_one_line_error(r, "too few to calibrate", "list at least 4")
    assert _hashes(tiny_table, listed) == before and not (tmp_path / "c.json").exists()


def test_profile_calibrates_by_default_and_says_how_well(tmp_path: Path) -> None:
    spec = tmp_path / "tiny.spec.json"
    spec.write_text(json.dumps(TINY_SPEC))
    out = tmp_path / "t.json"
    r = runner.invoke(app, ["profile", "--space", str(spec), "--runtime", "torch-cpu", "--out", str(out),
                            "--calibration-archs", "6", *FAST])
    assert r.exit_code == 0, r.output
    text = " ".join(r.stdout.split())
    assert "calibrated:" in text and "on 6 archs by hwnas profile" in text
    assert "the device's own repeat" in text
    table = LatencyTable.load(out)
    cal = table.calibration
    assert cal.fitted and cal.record.n_archs == 6 and len(table.meta.protocol["calibration_measured"]) == 6
    assert 0 <= cal.record.repeat_within_10pct <= 1
    r = runner.invoke(app, ["lut", "show", str(out)])
    assert "on 6 archs by hwnas profile" in " ".join(r.stdout.split())
    assert "load average" in " ".join(r.stdout.split())
    # a calibrated table prices without the uncalibrated warning
    import numpy as np

    arch = str(tiny_space().sample(np.random.default_rng(0)))
    r = runner.invoke(app, ["lut", "predict", str(out), arch, "--space", str(spec), "--json"])
    assert r.exit_code == 0 and "uncalibrated" not in r.stderr, r.stderr


def test_an_uncalibrated_table_warns_once_when_it_prices(tmp_path: Path) -> None:
    spec = tmp_path / "tiny.spec.json"
    spec.write_text(json.dumps(TINY_SPEC))
    out = tmp_path / "t.json"
    r = runner.invoke(app, ["profile", "--space", str(spec), "--runtime", "torch-cpu", "--out", str(out),
                            "--no-calibrate", *FAST])
    assert r.exit_code == 0, r.output
    assert LatencyTable.load(out).calibration.method == "overhead"
    assert "uncalibrated:" in " ".join(r.stdout.split())
    import numpy as np

    arch = str(tiny_space().sample(np.random.default_rng(0)))
    r = runner.invoke(app, ["lut", "predict", str(out), arch, "--space", str(spec), "--json"])
    assert r.exit_code == 0, r.output
    json.loads(r.stdout)  # stdout stays JSON
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and f"table {out} is uncalibrated" in warnings[0], r.stderr
    assert "hwnas lut validate" in warnings[0] and "--calibrate" in warnings[0]


def test_show_of_a_shipped_cpu_table_says_where_and_to_profile_your_own() -> None:
    r = runner.invoke(app, ["lut", "show", "cpu-1t/onnxruntime-mbconv-small", "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert "load average not recorded" in info["measured_under"]
    assert "First step on your device: `hwnas profile --space mbconv-small --runtime onnxruntime" \
        in info["measured_under"]
    assert info["calibration_summary"].startswith("calibrated: linear on 20 archs (no held-out record")


def test_export_with_an_uncalibrated_measured_table_warns_once(tmp_path: Path) -> None:
    from dataclasses import replace

    import numpy as np

    from hwnas.space import get_space
    from hwnas.testing import synthetic_table

    space = get_space("mbconv-small")
    table = synthetic_table(space, runtime="onnxruntime")
    measured = replace(table, meta=replace(table.meta, source="measured by hwnas profile"))
    lut = tmp_path / "t.json"
    measured.save(lut)
    arch = str(space.sample(np.random.default_rng(3)))
    r = runner.invoke(app, ["export", arch, "--space", "mbconv-small", "--format", "onnx", "--out",
                            str(tmp_path / "m.onnx"), "--lut", str(lut), "--no-check", "--json"])
    assert r.exit_code == 0, r.output
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and f"table {lut} is uncalibrated" in warnings[0], r.stderr
