import json

import pytest
from typer.testing import CliRunner

from hwnas.cli import app

runner = CliRunner()


def test_spaces_json_lists_sizes():
    r = runner.invoke(app, ["spaces", "--json"])
    assert r.exit_code == 0
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["nb201"]["size"] == 15625
    assert {"mbconv", "fbnet", "nb201"} == {row["family"] for row in rows.values()}


def test_arch_sample_show_validate():
    r = runner.invoke(app, ["arch", "sample", "--space", "nb201", "--seed", "4", "--count", "3", "--json"])
    archs = json.loads(r.stdout)["archs"]
    assert len(archs) == 3
    r2 = runner.invoke(app, ["arch", "show", archs[0], "--space", "nb201", "--json"])
    info = json.loads(r2.stdout)
    assert info["arch"] == archs[0] and info["params"] > 0 and info["macs"] > 0
    assert runner.invoke(app, ["arch", "validate", archs[1], "--space", "nb201"]).exit_code == 0


def test_bad_input_is_one_line_exit_2():
    for args in (["arch", "sample", "--space", "nope"],
                 ["arch", "validate", "k3e3", "--space", "mbconv-small"],
                 ["train", "k3e3", "--out", "x"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 2, r.output
        assert "Traceback" not in r.output
        assert r.output.count("error:") == 1


@pytest.mark.integration
def test_demo_quick_runs_the_whole_pipeline(tmp_path):
    out = tmp_path / "d"
    r = runner.invoke(app, ["demo", "--quick", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert [s["stage"].split()[0] for s in summary["stages"]] == [
        "profile", "validate", "gradient", "export", "evolution", "Pareto"]
    assert summary["predicted_ms"] <= summary["budget_ms"]  # the hard budget holds on the table
    assert summary["measured_ms"] > 0 and summary["parity_max_abs_diff"] < 1e-3
    assert summary["test_acc"] > 0.2  # chance is 0.1
    assert summary["front_size"] >= 1 and summary["hypervolume"] > 0
    # the figure is the evolution front's, on one-shot validation accuracy: never pooled with the
    # gradient search's scratch accuracy
    assert summary["hypervolume_accuracy_kind"] == "oneshot-val"
    for artifact in ("onnxruntime-mbconv-small.json", "proxyless/result.json", "export/net.onnx",
                     "evolution/result.json", "report/index.html", "demo.json"):
        assert (out / artifact).is_file(), artifact
