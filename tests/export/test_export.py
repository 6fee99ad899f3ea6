"""``hwnas export``: run folders, ONNX specifics, table comparison and every bad-input path."""

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.io import save_weights, write_json
from hwnas.latency import LatencyTable, OpStats, TableMeta
from hwnas.latency.machine import this_machine
from hwnas.nn import build_model, recalibrate_bn
from hwnas.plugins import get_exporter
from hwnas.space import get_space
from hwnas.testing import synthetic_table, tiny_space

pytestmark = pytest.mark.integration  # builds, trains and exports networks

runner = CliRunner()
SPACE = get_space("mbconv-small")
ARCH = str(SPACE.sample(np.random.default_rng(3)))


def _flat_table(runtime: str) -> LatencyTable:
    """Every op of mbconv-small at 0.02 ms (cheaper to build than the MAC-proportional table)."""
    meta = TableMeta(device_name="test", runtime=runtime, space=SPACE.name,
                     space_fingerprint=SPACE.fingerprint(), resolution=SPACE.resolution,
                     host=this_machine("cpu"))  # as if measured here: no foreign-table note
    return LatencyTable(meta, {op.key: OpStats.single(0.02) for op in SPACE.all_ops()})


def _invoke(*args: str):
    return runner.invoke(app, ["export", *args])


def _one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1
    text = " ".join(result.output.split())  # the console may wrap a long line
    for needle in needles:
        assert needle in text, text


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run folder as search writes it: result.json with a best arch, weights.pt."""
    path = tmp_path_factory.mktemp("run")
    torch.manual_seed(5)
    model = build_model(SPACE, SPACE.parse(ARCH))
    gen = torch.Generator().manual_seed(0)
    recalibrate_bn(model, [torch.randn(16, 3, 32, 32, generator=gen) * 2 + 0.5 for _ in range(2)])
    save_weights(path / "weights.pt", model.state_dict())
    best = {"index": 0, "arch": ARCH, "accuracy": 0.5, "latency_ms": 1.0, "params": 1, "macs": 1}
    write_json(path / "result.json", {"strategy": "random", "space": SPACE.name, "budget_ms": None,
                                      "lut": None, "best": best, "pareto": [best]})
    return path


def test_run_folder_exports_best_arch_with_its_weights(run_dir, tmp_path):
    out = tmp_path / "deploy" / "net.onnx"
    r = _invoke(str(run_dir), "--format", "onnx", "--out", str(out), "--json")
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    assert record == json.loads((out.parent / "net.onnx.export.json").read_text())
    assert record["arch"] == ARCH and record["run_dir"] == str(run_dir)
    assert record["weights"].startswith("trained") and record["details"]["exporter"] == "torchscript"
    check = record["check"]
    assert check["parity"]["passed"] and check["parity"]["max_abs_diff"] < 1e-3
    assert check["latency_ms"]["p50"] > 0 and check["runtime"] == "onnxruntime"
    proto = onnx.load(out)
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["hwnas.arch"] == ARCH and props["hwnas.space"] == SPACE.name
    assert props["hwnas.version"] and props["hwnas.space_fingerprint"] == SPACE.fingerprint()
    # the trained weights are the ones exported, at any batch (dynamic batch dimension)
    model = build_model(SPACE, SPACE.parse(ARCH))
    model.load_state_dict(torch.load(run_dir / "weights.pt", weights_only=True))
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert isinstance(session.get_inputs()[0].shape[0], str)
    got = session.run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, model.eval()(x).detach().numpy(), atol=1e-4, rtol=1e-3)


def test_opset_no_check_and_force(tmp_path):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"keep me")
    r = _invoke(ARCH, "--format", "onnx", "--out", str(out), "--opset", "13", "--no-check", "--json")
    _one_line_error(r, "already exists", "--force")
    assert out.read_bytes() == b"keep me"
    r = _invoke(ARCH, "--format", "onnx", "--out", str(out), "--opset", "13", "--no-check", "--force",
                "--json")
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    assert record["check"] is None and record["details"]["opset"] == 13
    assert max(o.version for o in onnx.load(out).opset_import if o.domain in ("", "ai.onnx")) == 13


def test_lut_prediction_is_compared_and_runtime_mismatch_noted(tmp_path):
    table = _flat_table("synthetic")
    table.save(tmp_path / "t.json")
    r = _invoke(ARCH, "--format", "onnx", "--out", str(tmp_path / "m.onnx"), "--lut",
                str(tmp_path / "t.json"), "--json")
    assert r.exit_code == 0, r.output
    cmp = json.loads(r.stdout)["check"]["table"]
    assert cmp["predicted_ms"] == pytest.approx(table.predict(SPACE, SPACE.parse(ARCH)))
    assert cmp["table_runtime"] == "synthetic" and "runtime mismatch" in cmp["note"]
    measured = json.loads(r.stdout)["check"]["latency_ms"]["p50"]
    assert cmp["measured_p50_ms"] == measured
    assert cmp["error_pct"] == pytest.approx((measured - cmp["predicted_ms"]) / cmp["predicted_ms"] * 100)
    props = {p.key: p.value for p in onnx.load(tmp_path / "m.onnx").metadata_props}
    assert props["hwnas.table"] == str(tmp_path / "t.json")


def test_table_for_another_space_is_refused_before_writing(tmp_path):
    synthetic_table(tiny_space()).save(tmp_path / "tiny.json")
    r = _invoke(ARCH, "--format", "onnx", "--out", str(tmp_path / "m.onnx"), "--lut",
                str(tmp_path / "tiny.json"))
    _one_line_error(r, "table was made for space")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.json"]


def test_mismatching_weights_name_the_first_tensor(tmp_path):
    state = build_model(SPACE, SPACE.parse(ARCH)).state_dict()
    first = next(k for k, v in state.items() if v.ndim == 4)
    state[first] = torch.zeros(1, 1, 1, 1)
    save_weights(tmp_path / "w.pt", state)
    r = _invoke(ARCH, "--weights", str(tmp_path / "w.pt"), "--format", "onnx",
                "--out", str(tmp_path / "m.onnx"))
    _one_line_error(r, f"tensor '{first}'", "do not match the arch")
    other = str(SPACE.sample(np.random.default_rng(11)))
    save_weights(tmp_path / "w2.pt", build_model(SPACE, SPACE.parse(other)).state_dict())
    r = _invoke(ARCH, "--weights", str(tmp_path / "w2.pt"), "--format", "onnx",
                "--out", str(tmp_path / "m.onnx"))
    _one_line_error(r, "do not match the arch", "tensor '")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pt", "w2.pt"]


def test_bad_format_and_paths_are_one_line_errors(tmp_path):
    _one_line_error(_invoke(ARCH, "--format", "tflite", "--out", str(tmp_path / "m")),
                    "unknown export format 'tflite'", "onnx, executorch, tensorrt")
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    _one_line_error(_invoke(ARCH, "--format", "onnx", "--out", str(blocker / "m.onnx")),
                    "not writable")
    _one_line_error(_invoke(ARCH, "--format", "onnx", "--out", str(tmp_path)), "is a folder")
    _one_line_error(_invoke("k3e3", "--format", "onnx", "--out", str(tmp_path / "m.onnx")))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_missing_tensorrt_names_the_extra(tmp_path):
    reason = get_exporter("tensorrt").unavailable_reason()
    if reason is None:
        pytest.skip("TensorRT and a GPU are available here")
    _one_line_error(_invoke(ARCH, "--format", "tensorrt", "--out", str(tmp_path / "m.engine")),
                    "pip install 'hwnas[tensorrt]'", reason)
    assert not (tmp_path / "m.engine").exists()


@pytest.mark.gpu
@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
def test_tensorrt_engine_export_and_check(tmp_path, fp16):
    reason = get_exporter("tensorrt").unavailable_reason()
    if reason:
        pytest.skip(f"{reason}: pip install 'hwnas[tensorrt]' on a CUDA machine")
    args = [ARCH, "--format", "tensorrt", "--out", str(tmp_path / "m.engine"), "--max-batch", "8",
            "--json"] + (["--fp16"] if fp16 else [])
    r = _invoke(*args)
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    assert record["details"]["precision"] == ("fp16" if fp16 else "fp32")
    assert record["details"]["profile"] == {"min": 1, "opt": 1, "max": 8}
    assert record["check"]["parity"]["passed"] and record["check"]["runtime"] == "tensorrt"


@pytest.mark.slow
def test_executorch_cli_export_with_table(tmp_path):
    _flat_table("executorch").save(tmp_path / "t.json")
    r = _invoke(ARCH, "--format", "executorch", "--out", str(tmp_path / "m.pte"), "--lut",
                str(tmp_path / "t.json"), "--json")
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    assert record["details"]["undelegated_ops"] == [] and record["details"]["delegate_calls"] >= 1
    assert record["check"]["parity"]["passed"] and record["check"]["table"]["note"] == ""


@pytest.mark.slow
def test_dynamo_exporter_without_simplification(tmp_path):
    r = _invoke(ARCH, "--format", "onnx", "--out", str(tmp_path / "m.onnx"), "--dynamo", "--opset", "18",
                "--no-simplify", "--json")
    assert r.exit_code == 0, r.output
    record = json.loads(r.stdout)
    assert record["details"]["exporter"] == "dynamo" and not record["details"]["simplified"]
    assert record["details"]["nodes_before"] == record["details"]["nodes_after"]
    assert record["check"]["parity"]["passed"] and record["details"]["opset"] == 18


def _digests(folder: Path) -> dict[str, str]:
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_record_is_named_after_the_artifact_and_never_replaces_one(tmp_path):
    import os

    out = tmp_path / "exp" / "export.json"  # an artifact named like the old record
    r = _invoke(ARCH, "--format", "onnx", "--out", str(out), "--no-check", "--json")
    assert r.exit_code == 0, r.output
    assert onnx.load_model_from_string(out.read_bytes()).graph.node  # it survived its own record
    assert json.loads((out.parent / "export.json.export.json").read_text())["artifact"] == str(out)
    second = tmp_path / "exp" / "other.onnx"  # a second export keeps the first one's record
    r = _invoke(ARCH, "--format", "onnx", "--out", str(second), "--no-check")
    assert r.exit_code == 0, r.output
    assert "other.onnx.export.json" in " ".join(r.output.split())
    assert sorted(_digests(out.parent)) == ["export.json", "export.json.export.json", "other.onnx",
                                            "other.onnx.export.json"]
    mask = os.umask(0o022)
    os.umask(mask)
    for artifact in (out, second):  # the user's umask, not mkstemp's 0600
        assert artifact.stat().st_mode & 0o777 == 0o666 & ~mask
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


def test_an_existing_record_is_refused_without_force(tmp_path):
    record = tmp_path / "net.onnx.export.json"
    record.write_text("my notes")
    (tmp_path / "export.json").write_text("someone else's record")
    before = _digests(tmp_path)
    r = _invoke(ARCH, "--format", "onnx", "--out", str(tmp_path / "net.onnx"), "--no-check")
    _one_line_error(r, f"the export record {record} already exists", "--force")
    assert _digests(tmp_path) == before
    r = _invoke(ARCH, "--format", "onnx", "--out", str(tmp_path / "net.onnx"), "--no-check", "--force")
    assert r.exit_code == 0, r.output
    assert json.loads(record.read_text())["arch"] == ARCH
    assert (tmp_path / "export.json").read_text() == "someone else's record"
