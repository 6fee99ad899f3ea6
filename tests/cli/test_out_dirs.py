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


def _one_line_error(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1
    text = " ".join(result.output.split())  # the console may wrap one long line
    for needle in needles:
        assert needle in text, text
    return text


def _fast_measuring(monkeypatch) -> None:
    """End-to-end timing replaced by the table's own raw sums (+ an offset): seconds, not minutes."""
    from hwnas.latency import fidelity

    def measure(space, archs, profiler, rng, passes=2):
        from hwnas.latency.shipped import load_table

        table = load_table("cpu-1t/onnxruntime-mbconv-small")
        base = [table.raw_sum(space, a) * 1.1 + 0.05 for a in archs]
        return [base, [b * 1.01 for b in base]][:passes], 0.01

    monkeypatch.setattr(fidelity, "measure_archs", measure)


def test_lut_calibrate_never_writes_the_shipped_table(tmp_path, monkeypatch):
    import json

    from hwnas.latency import LatencyTable
    from hwnas.latency.shipped import table_path

    shipped = table_path("cpu-1t/onnxruntime-mbconv-small")
    before = _digest(shipped)
    _fast_measuring(monkeypatch)
    monkeypatch.chdir(tmp_path)
    args = ["lut", "validate", "cpu-1t/onnxruntime-mbconv-small", "--samples", "4", "--calibrate"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    copy = tmp_path / "onnxruntime-mbconv-small.calibrated.json"
    assert f"calibrated copy of {shipped} written to {copy}" in " ".join(r.output.split())
    assert _digest(shipped) == before
    assert LatencyTable.load(copy).calibration.method == "linear"

    # a second run does not replace the copy it wrote before without --force
    copy_digest = _digest(copy)
    _one_line_error(CliRunner().invoke(app, args), f"{copy} already exists", "--force")
    assert _digest(copy) == copy_digest and _digest(shipped) == before
    r = CliRunner().invoke(app, [*args, "--force", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["calibrated_table"] == str(copy)

    # --out naming the shipped file itself is refused before anything is measured
    _one_line_error(CliRunner().invoke(app, [*args, "--out", str(shipped), "--force"]),
                    "shipped tables are read-only", "--out FILE")
    assert _digest(shipped) == before


def test_lut_out_without_calibrate_is_refused(tmp_path):
    r = CliRunner().invoke(app, ["lut", "validate", "cpu-1t/onnxruntime-mbconv-small",
                                 "--out", str(tmp_path / "x.json")])
    _one_line_error(r, "--out names the calibrated copy", "add --calibrate")
    assert list(tmp_path.iterdir()) == []


def test_report_refuses_a_non_empty_out_without_force(tmp_path):
    from hwnas.io import append_jsonl, write_json

    space, rng = get_space("mbconv-small"), np.random.default_rng(0)
    run = tmp_path / "run"
    rows = [{"index": i, "arch": str(space.sample(rng)), "accuracy": 0.5 + i / 20, "latency_ms": 1.0 + i,
             "strategy": "random"} for i in range(4)]
    for row in rows:
        append_jsonl(run / "candidates.jsonl", row)
    write_json(run / "config.json", {"strategy": "random", "space": space.name, "budget_ms": None})
    write_json(run / "result.json", {"strategy": "random", "space": space.name, "budget_ms": None,
                                     "lut": None, "best": rows[-1], "pareto": rows})
    out = tmp_path / "rep"
    out.mkdir()
    (out / "index.html").write_text("<p>my own page</p>")
    (out / "notes.txt").write_text("keep me")
    before = {p.name: _digest(p) for p in out.iterdir()}
    r = CliRunner().invoke(app, ["report", str(run), "--out", str(out)])
    _one_line_error(r, f"--out {out} is not empty", "pass --force to replace report.json")
    assert {p.name: _digest(p) for p in out.iterdir()} == before

    r = CliRunner().invoke(app, ["report", str(run), "--out", str(out), "--force"])
    assert r.exit_code == 0, r.output
    assert (out / "notes.txt").read_text() == "keep me"  # --force replaces only the report's files
    assert _digest(out / "index.html") != before["index.html"] and (out / "report.json").is_file()


def _tree_digests(root) -> dict[str, str]:
    return {str(p.relative_to(root)): _digest(p) for p in sorted(root.rglob("*")) if p.is_file()}


def test_demo_refuses_a_folder_it_did_not_make_and_deletes_nothing(tmp_path):
    out = tmp_path / "d"
    for sub in ("proxyless", "evolution", "export"):
        (out / sub).mkdir(parents=True)
        (out / sub / "mine.txt").write_text(f"my own {sub} notes")
    (out / "onnxruntime-mbconv-small.json").write_text("my own table")
    before = _tree_digests(out)
    r = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out)])
    _one_line_error(r, f"--out {out} is not empty and is not a demo folder",
                    "choose an empty or new --out")
    assert _tree_digests(out) == before


def test_demo_resumes_where_it_was_interrupted(tmp_path, monkeypatch):
    import json

    from hwnas.latency import fidelity, profile
    from hwnas.testing import synthetic_table

    out = tmp_path / "d"
    space = get_space("mbconv-small")

    def fake_profile(space_, profiler, path, device_name):
        table = synthetic_table(space, runtime="onnxruntime")
        table.save(path)
        return table

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(profile, "profile_space", fake_profile)
    monkeypatch.setattr(fidelity, "validate_table", interrupt)
    r = CliRunner().invoke(app, ["demo", "--quick", "--seed", "3", "--out", str(out)])
    assert r.exit_code == 130, r.output
    text = " ".join(r.output.split())
    assert f"resume with: hwnas demo --out {out} --quick --seed 3" in text and "Traceback" not in text
    progress = json.loads((out / "demo-progress.json").read_text())
    assert list(progress["stages"]) == ["profile"]
    table_digest = _digest(out / "onnxruntime-mbconv-small.json")

    # the rerun skips the finished stage (profiling again would fail here) and goes on
    def profiled_again(*args, **kwargs):
        raise AssertionError("the finished profile stage ran again")

    monkeypatch.setattr(profile, "profile_space", profiled_again)
    r = CliRunner().invoke(app, ["demo", "--quick", "--seed", "3", "--out", str(out)])
    assert r.exit_code == 130, r.output
    assert "profile this CPU (onnxruntime, mbconv-small): done earlier" in r.output
    assert _digest(out / "onnxruntime-mbconv-small.json") == table_digest

    # other options would not fit the folder's table and runs: refused, naming the command
    before = _tree_digests(out)
    r = CliRunner().invoke(app, ["demo", "--out", str(out)])
    _one_line_error(r, f"{out} holds a demo made with other options (hwnas demo --out {out} --quick "
                       "--seed 3)", "rerun that command to resume it")
    assert _tree_digests(out) == before


def test_a_finished_demo_reruns_without_running_a_stage_again(tmp_path, monkeypatch):
    import json

    from hwnas.io import write_json
    from hwnas.latency import profile

    out = tmp_path / "d"
    out.mkdir()
    infos = {"profile": {"ops": 40}, "validate": {"within_10pct_calibrated": 0.5},
             "search": {"budget_ms": 0.3, "arch": "a", "predicted_ms": 0.25, "test_acc": 0.6},
             "export": {"measured_ms": 0.3, "parity_max_abs_diff": 1e-6},
             "evolution": {"front_size": 3}, "report": {"hypervolume": 0.2}}
    stages = {key: {"stage": key, "seconds": 1.0, **info} for key, info in infos.items()}
    write_json(out / "demo-progress.json", {"settings": {"quick": True, "seed": 0, "space": "mbconv-small",
                                                         "runtime": "onnxruntime"}, "stages": stages})
    monkeypatch.setattr(profile, "profile_space", lambda *a, **k: 1 / 0)  # any stage run would fail
    before = _tree_digests(out)
    r = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["stages"] == list(stages.values()) and summary["budget_ms"] == 0.3
    assert _tree_digests(out) == {**before, "demo.json": _digest(out / "demo.json")}
