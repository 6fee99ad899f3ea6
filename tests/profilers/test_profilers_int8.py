"""``hwnas profile --dtype int8`` (onnxruntime, executorch): ops are quantized, tables say int8."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import onnx
import pytest
import torch
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.latency import LatencyTable
from hwnas.nn.ops import build_op
from hwnas.space import get_space
from hwnas.testing.cli_checks import assert_one_line_error as _one_line_error
from runtimes.onnx import torch_to_onnx_any
from runtimes.onnx_int8 import quantize_int8, seeded_batches

runner = CliRunner()
# one searchable layer with one choice: stem, one block, head, pool and classifier (5 ops)
MINI_SPEC = {"name": "mini", "resolution": 8, "num_classes": 4, "stem_channels": 8, "stem_stride": 1,
             "first_block_channels": 0, "stages": [[8, 1, 1]], "head_channels": 16, "kernels": [3],
             "expands": [2]}
FAST = ["--runs", "3", "--rounds", "1", "--warmup", "1", "--no-pin"]


@pytest.fixture()
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "mini.json"
    path.write_text(json.dumps(MINI_SPEC))
    return path


def test_quantized_op_graph_is_qdq_with_int8_weights() -> None:
    op = get_space("mbconv-small").all_ops()[1]
    x = torch.randn(1, *op.in_shape, generator=torch.Generator().manual_seed(0))
    graph = quantize_int8(torch_to_onnx_any(build_op(op, "relu6"), x), seeded_batches(x.shape, 2, 0))
    proto = onnx.load_from_string(graph)
    kinds = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= kinds
    int8_weights = [t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert int8_weights, "weights should be stored as int8"


def test_int8_profile_writes_an_int8_table_and_refuses_to_resume_fp32(spec: Path, tmp_path: Path,
                                                                      monkeypatch) -> None:
    import profilers.onnxrt as onnxrt

    quantized: list[int] = []

    def counting(graph, batches):  # the real quantization, counted: every timed model is int8
        quantized.append(1)
        return quantize_int8(graph, batches)

    monkeypatch.setattr(onnxrt, "quantize_int8", counting)
    out = tmp_path / "int8.json"
    r = runner.invoke(app, ["profile", "--space", str(spec), "--runtime", "onnxruntime", "--dtype", "int8",
                            "--out", str(out), "--json", *FAST])
    assert r.exit_code == 0, r.output
    table = LatencyTable.load(out)
    assert table.meta.dtype == "int8" and json.loads(r.output)["dtype"] == "int8"
    assert len(table.entries) == 5 and all(s.p50 >= 0 for s in table.entries.values())
    assert len(quantized) >= 6  # at least the 5 ops and the per-call overhead model
    before = hashlib.sha256(out.read_bytes()).hexdigest()
    # the same file asked for float32: refused in one line, the int8 table untouched
    r = runner.invoke(app, ["profile", "--space", str(spec), "--runtime", "onnxruntime", "--out", str(out),
                            *FAST])
    _one_line_error(r, "dtype 'int8', not 'float32'")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == before


def test_int8_on_a_runtime_without_it_and_unknown_dtype_are_one_line(spec: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    r = runner.invoke(app, ["profile", "--space", str(spec), "--runtime", "torch-cpu", "--dtype", "int8",
                            "--out", str(out), *FAST])
    _one_line_error(r, "runtime 'torch-cpu' cannot time int8 ops", "--runtime onnxruntime")
    r = runner.invoke(app, ["profile", "--space", str(spec), "--runtime", "onnxruntime", "--dtype", "int4",
                            "--out", str(out), *FAST])
    _one_line_error(r, "unknown dtype 'int4'")
    assert not out.exists()


def test_lut_validate_times_int8_nets_for_an_int8_table(tmp_path: Path, monkeypatch) -> None:
    import profilers.onnxrt as onnxrt

    spec = tmp_path / "mini2.json"
    spec.write_text(json.dumps({**MINI_SPEC, "name": "mini2", "kernels": [3, 5]}))
    out = tmp_path / "int8.json"
    r = runner.invoke(app, ["profile", "--space", str(spec), "--runtime", "onnxruntime", "--dtype", "int8",
                            "--out", str(out), *FAST])
    assert r.exit_code == 0, r.output
    quantized: list[int] = []

    def counting(graph, batches):
        quantized.append(1)
        return quantize_int8(graph, batches)

    monkeypatch.setattr(onnxrt, "quantize_int8", counting)
    r = runner.invoke(app, ["lut", "validate", str(out), "--space", str(spec), "--samples", "2",
                            "--runs", "2", "--rounds", "1", "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert quantized, "an int8 table must be validated against int8 networks"
    assert "--dtype int8" in report["machine"]["remake"]


@pytest.mark.slow
def test_executorch_int8_profile_quantizes_every_op(spec: Path, tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("executorch")
    import runtimes.executorch_int8 as et_int8

    quantized: list[int] = []
    real = et_int8.quantize_pt2e_int8

    def counting(model, example, batches):
        quantized.append(1)
        return real(model, example, batches)

    monkeypatch.setattr(et_int8, "quantize_pt2e_int8", counting)
    out = tmp_path / "et-int8.json"
    r = runner.invoke(app, ["profile", "--space", str(spec), "--runtime", "executorch", "--dtype", "int8",
                            "--out", str(out), "--json", *FAST])
    assert r.exit_code == 0, r.output
    table = LatencyTable.load(out)
    assert table.meta.dtype == "int8" and table.meta.runtime == "executorch" and len(table.entries) == 5
    assert len(quantized) >= 6
