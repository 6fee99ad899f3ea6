"""Fast CLI checks of issue 14 (foreign tables, help text) and issue 13 (nothing overwritten):
``lut validate`` refuses an existing --plot before measuring; pricing warns once on stderr."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.cli.lut_cmd import warn_if_foreign
from hwnas.latency.measure import MeasureProtocol
from hwnas.latency.profile import make_meta
from hwnas.latency.shipped import table_path
from hwnas.plugins import get_profiler
from hwnas.testing import synthetic_table, tiny_space

runner = CliRunner()
SHIPPED = "cpu-1t/onnxruntime-mbconv-small"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("path", [["profile"], ["lut", "validate"]])
def test_every_option_has_help(path: list[str]) -> None:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    undocumented = [p.name for p in command.params if not (getattr(p, "help", None) or "").strip()]
    assert undocumented == []


def test_clock_help_says_what_each_clock_counts() -> None:
    result = runner.invoke(app, ["profile", "--help"], env={"COLUMNS": "200"})
    text = " ".join(result.output.replace("│", " ").split())
    assert "thread: CPU time of the measuring thread" in text and "wall: elapsed time" in text
    assert "auto: thread when --threads is 1, else wall" in text


def test_existing_plot_is_refused_before_measuring(tmp_path: Path) -> None:
    png = tmp_path / "fid.png"
    png.write_bytes(b"\x89PNG user's own plot")
    shipped = table_path(SHIPPED)
    before = (_digest(png), _digest(shipped))
    result = runner.invoke(app, ["lut", "validate", SHIPPED, "--plot", str(png), "--samples", "2"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--plot {png} already exists" in lines[0] and "--force" in lines[0]
    assert (_digest(png), _digest(shipped)) == before and sorted(tmp_path.iterdir()) == [png]
    result = runner.invoke(app, ["lut", "validate", SHIPPED, "--plot", str(tmp_path), "--samples", "2"])
    assert result.exit_code == 2 and "is a folder" in result.stderr


def _foreign_table_file(tmp_path: Path, host_id: str, calibration=None) -> Path:
    space = tiny_space()
    prof = get_profiler("torch-cpu", MeasureProtocol(runs=4, pin_cpu=False))
    meta = make_meta(space, prof, "test-host")
    table = replace(synthetic_table(space), meta=replace(meta, host={**meta.host, "host_id": host_id}),
                    calibration=calibration)
    path = tmp_path / "t.json"
    table.save(path)
    return path


def test_pricing_warns_once_on_stderr_for_a_foreign_table(tmp_path: Path, capsys) -> None:
    path = _foreign_table_file(tmp_path, "0123456789ab")
    warn_if_foreign(str(path))
    captured = capsys.readouterr()
    assert captured.out == ""  # --json output stays clean
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"warning: table {path} was measured on another machine")
    assert "host 0123456789ab there" in lines[0]
    assert "hwnas profile --space tiny --runtime torch-cpu" in lines[0]


def test_pricing_is_quiet_for_a_table_of_this_machine(tmp_path: Path, capsys) -> None:
    from hwnas.latency.calibration import Calibration
    from hwnas.latency.machine import host_id

    # calibrated (issue 17: an uncalibrated measured table warns that it is, once)
    warn_if_foreign(str(_foreign_table_file(tmp_path, host_id(), Calibration.linear(1.1, 0.0, 0.01, 20))))
    assert capsys.readouterr().err == ""


def test_published_table_warns_once_without_the_cpu(capsys) -> None:
    warn_if_foreign("pixel3/latency-fbnet-cifar100")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "published figures for Google Pixel 3" in err[0] and "EPYC" not in err[0]


def test_lut_show_json_carries_the_host(tmp_path: Path) -> None:
    path = _foreign_table_file(tmp_path, "0123456789ab")
    result = runner.invoke(app, ["lut", "show", str(path), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["meta"]["host"]["host_id"] == "0123456789ab"


@pytest.mark.integration
def test_report_warns_once_per_foreign_table(tmp_path: Path) -> None:
    """Issue 14: `report --lut` re-prices with each table and names a foreign one once, on stderr."""
    from dataclasses import asdict

    import numpy as np

    from hwnas.io import append_jsonl, write_json
    from hwnas.latency.machine import host_id
    from hwnas.testing.fixtures import TINY

    spec = asdict(TINY)
    spec["stages"] = [[s["channels"], s["layers"], s["stride"]] for s in spec["stages"]]
    write_json(tmp_path / "tiny.json", spec)
    space, run = tiny_space(), tmp_path / "run"
    table = synthetic_table(space)
    rng = np.random.default_rng(0)
    run.mkdir()
    for i in range(12):
        arch = space.sample(rng)
        append_jsonl(run / "candidates.jsonl", {
            "index": i, "arch": str(arch), "accuracy": float(rng.uniform(0.3, 0.9)), "strategy": "random",
            "latency_ms": table.predict(space, arch), "params": 1000, "macs": 1000, "wall_s": 0.1})
    write_json(run / "config.json", {"strategy": "random", "space": str(tmp_path / "tiny.json"),
                                     "budget_ms": None, "seed": 0})
    here, foreign = tmp_path / "here.json", _foreign_table_file(tmp_path, "0123456789ab")
    mine = table.meta.host or {}
    replace(table, meta=replace(table.meta, device_name="here",
                                host={**mine, **_here_host(host_id())})).save(here)
    r = runner.invoke(app, ["report", str(run), "--out", str(tmp_path / "rep"), "--lut", str(here),
                            "--lut", str(foreign), "--json"])
    assert r.exit_code == 0, r.output
    json.loads(r.stdout)
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and f"table {foreign} was measured on another machine" in warnings[0]


def _here_host(host: str) -> dict:
    from hwnas.latency.machine import this_machine

    return {**this_machine("cpu"), "host_id": host}
