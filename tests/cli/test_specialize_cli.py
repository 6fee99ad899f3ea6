"""``hwnas specialize``: one supernet, one search, export and check per device, one report."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.testing import micro_supernet, synthetic_table
from hwnas.testing.cli_checks import assert_one_line_error


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A micro supernet, a table this CPU can check (onnxruntime) and a phone's table."""
    root = tmp_path_factory.mktemp("specialize")
    space, sn = micro_supernet(root)
    cpu = synthetic_table(space, seed=0, runtime="onnxruntime")
    cpu = replace(cpu, meta=replace(cpu.meta, device_name="cpu-here"))
    phone = synthetic_table(space, seed=1, runtime="phone-runtime")
    phone = replace(phone, meta=replace(phone.meta, device_name="pixel9", device_detail="a phone CPU"))
    cpu.save(root / "cpu.json")
    phone.save(root / "phone.json")
    cheapest = cpu.cost_model(space).price_range()[0]
    return root, sn, root / "cpu.json", root / "phone.json", cheapest


def _hashes(folder) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _specialize(sn, *args):
    return CliRunner().invoke(app, ["specialize", "--supernet", str(sn), "--evaluations", "12",
                                    "--population", "4", "--strategy", "evolution", *args])


@pytest.mark.slow
def test_two_devices_give_two_exported_models_one_report_and_resume_skips_them(world, tmp_path):
    root, sn, cpu, phone, cheapest = world
    out = tmp_path / "spec"
    budget = str(cheapest * 1.2)
    r = _specialize(sn, "--lut", str(cpu), "--budget-ms", budget, "--lut", str(phone), "--budget-ms",
                    budget, "--out", str(out), "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output[r.output.index("{\n"):])
    rows = {d["device"]: d for d in summary["report"]["devices"]}
    assert set(rows) == {"cpu-here", "pixel9"}
    assert rows["cpu-here"]["measured_ms"] > 0 and rows["cpu-here"]["latency_check"] == "measured here"
    assert rows["pixel9"]["measured_ms"] is None and "not measurable here" in rows["pixel9"]["latency_check"]
    for d in summary["devices"]:
        assert d["predicted_ms"] <= float(budget)
        assert (out / d["device"] / "config.json").is_file() and (out / d["device"] / "model.onnx").is_file()
    assert (out / "pixel9" / "model.pte").is_file() and not (out / "cpu-here" / "model.pte").exists()
    assert summary["devices"][1]["scores_reused"] > 0  # the second device reused the first's scores
    page = (out / "report" / "index.html").read_text()
    assert "one arch per device" in page and rows["pixel9"]["arch"] in page
    before = _hashes(out / "pixel9")
    r = _specialize(sn, "--lut", str(cpu), "--budget-ms", budget, "--lut", str(phone), "--budget-ms",
                    budget, "--out", str(out), "--resume")
    assert r.exit_code == 0, r.output
    assert r.output.count("already specialized, skipped") == 2
    assert _hashes(out / "pixel9") == before


@pytest.mark.parametrize(("case", "needles"), [
    ("counts", ["--lut given 2 time(s) but --budget-ms 1 time(s)", "one --budget-ms per --lut"]),
    ("space", ["table was made for space 'fbnet-cifar100', not 'micro'"]),
    ("budget", ["is below its cheapest arch", "or more for this table"]),
    ("not-empty", ["is not empty", "--force"]),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(world, tmp_path, case, needles):
    root, sn, cpu, phone, cheapest = world
    out = tmp_path / "spec"
    ok = str(cheapest * 1.2)
    args = {"counts": ["--lut", str(cpu), "--budget-ms", ok, "--lut", str(phone)],
            "space": ["--lut", "pixel3/latency-fbnet-cifar100", "--budget-ms", "30"],
            "budget": ["--lut", str(cpu), "--budget-ms", str(cheapest * 0.9)],
            "not-empty": ["--lut", str(cpu), "--budget-ms", ok]}[case]
    if case == "not-empty":
        out.mkdir()
        (out / "mine.txt").write_text("a user's file")
    before_out = _hashes(tmp_path)
    before_sn = _hashes(sn)
    assert_one_line_error(_specialize(sn, *args, "--out", str(out)), *needles)
    assert _hashes(tmp_path) == before_out and _hashes(sn) == before_sn


FBNET_TABLES = (("pixel3/latency-fbnet-cifar100", "15"), ("raspi4/latency-fbnet-cifar100", "30"),
                ("cpu-1t/onnxruntime-fbnet-cifar100", "2"))


@pytest.mark.slow
def test_three_shipped_fbnet_tables_give_three_exported_models_and_one_report(tmp_path):
    """The README recipe, small: a phone, a Raspberry Pi and this CPU's onnxruntime table."""
    sn = tmp_path / "sn"
    r = CliRunner().invoke(app, ["supernet", "train", "--space", "fbnet-cifar100", "--data", "digits",
                                 "--epochs", "1", "--batch-size", "128", "--out", str(sn)])
    assert r.exit_code == 0, r.output
    args = [a for lut, budget in FBNET_TABLES for a in ("--lut", lut, "--budget-ms", budget)]
    out = tmp_path / "spec"
    r = CliRunner().invoke(app, ["specialize", "--supernet", str(sn), *args, "--evaluations", "6",
                                 "--population", "3", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output[r.output.index("{\n"):])
    rows = {d["device"]: d for d in summary["report"]["devices"]}
    assert set(rows) == {"pixel3", "raspi4", "cpu-1t"}
    for device, (_lut, budget) in zip(("pixel3", "raspi4", "cpu-1t"), FBNET_TABLES):
        assert (out / device / "model.onnx").is_file() and rows[device]["predicted_ms"] <= float(budget)
    assert (out / "pixel3" / "model.pte").is_file()
    assert rows["cpu-1t"]["measured_ms"] > 0
    assert "not measurable here" in rows["raspi4"]["latency_check"]
    report = json.loads((out / "report" / "report.json").read_text())
    assert len(report["runs"]) == 3 and (out / "report" / "pareto.png").is_file()
