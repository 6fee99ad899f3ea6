"""``hwnas export --quantize int8``: a trained net quantized on digits keeps its accuracy and shrinks;
unsupported formats and tables of another dtype are one-line refusals that write nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import onnx
import pytest
import torch
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.data import load_data
from hwnas.io import save_weights
from hwnas.latency import LatencyTable, OpStats, TableMeta
from hwnas.latency.machine import this_machine
from hwnas.nn import build_model
from hwnas.space import get_space
from hwnas.testing.cli_checks import assert_one_line_error as _one_line_error

runner = CliRunner()
# digits at their native 8x8, wide enough that weights dominate the file (the int8 size claim
# needs that: a net of a few thousand weights is mostly graph, not tensors)
WIDE_SPEC = {"name": "wide8", "resolution": 8, "num_classes": 10, "stem_channels": 32, "stem_stride": 1,
             "first_block_channels": 0, "stages": [[48, 1, 1], [96, 1, 2]], "head_channels": 384,
             "kernels": [3], "expands": [4]}
ARCH = "k3e4-k3e4"


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("int8") / "wide8.json"
    path.write_text(json.dumps(WIDE_SPEC))
    return path


def _table(spec: Path, dtype: str) -> LatencyTable:
    space = get_space(str(spec))
    meta = TableMeta(device_name="test", runtime="onnxruntime", space=space.name,
                     space_fingerprint=space.fingerprint(), resolution=space.resolution, dtype=dtype,
                     host=this_machine("cpu"))
    return LatencyTable(meta, {op.key: OpStats.single(0.01) for op in space.all_ops()})


@pytest.fixture(scope="module")
def trained(spec: Path) -> Path:
    """The wide net trained 2 epochs on digits (about 90 % test accuracy)."""
    space = get_space(str(spec))
    torch.manual_seed(0)
    model = build_model(space, space.parse(ARCH))
    data = load_data("digits", space.resolution, seed=0)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(2):
        for x, y in data.loader("train", 32, generator=gen):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    path = spec.parent / "weights.pt"
    save_weights(path, model.eval().state_dict())
    return path


@pytest.mark.slow
def test_int8_export_keeps_accuracy_shrinks_and_is_priced_by_an_int8_table(spec, trained, tmp_path) -> None:
    lut = tmp_path / "int8.json"
    _table(spec, "int8").save(lut)
    out = tmp_path / "net.onnx"
    r = runner.invoke(app, ["export", ARCH, "--space", str(spec), "--weights", str(trained), "--format",
                            "onnx", "--out", str(out), "--quantize", "int8", "--calib-data", "digits",
                            "--lut", str(lut), "--json"])
    assert r.exit_code == 0, r.output
    record = json.loads(Path(str(out) + ".export.json").read_text())
    q = record["quantization"]
    assert record["dtype"] == "int8" and q["dtype"] == "int8"
    assert q["accuracy_fp32"] > 0.8, q  # trained: a drop on a chance-level net would mean nothing
    assert q["accuracy_drop_pts"] < 5.0, q
    assert q["bytes_quantized"] == out.stat().st_size == record["bytes"]
    assert q["bytes_quantized"] < 0.5 * q["bytes_fp32"], q
    assert q["calibration_images"] > 0 and q["test_images"] > 0
    check = record["check"]
    assert check["latency_ms"]["p50"] > 0
    assert check["table"]["predicted_ms"] == pytest.approx(_table(spec, "int8").predict(
        get_space(str(spec)), get_space(str(spec)).parse(ARCH)))
    proto = onnx.load(str(out))
    assert "QuantizeLinear" in {n.op_type for n in proto.graph.node}
    assert {p.key: p.value for p in proto.metadata_props}["hwnas.dtype"] == "int8"


@pytest.mark.slow
def test_executorch_int8_export_keeps_accuracy_and_shrinks(spec, trained, tmp_path) -> None:
    pytest.importorskip("executorch")
    out = tmp_path / "net.pte"
    r = runner.invoke(app, ["export", ARCH, "--space", str(spec), "--weights", str(trained), "--format",
                            "executorch", "--out", str(out), "--quantize", "int8", "--json"])
    assert r.exit_code == 0, r.output
    record = json.loads(Path(str(out) + ".export.json").read_text())
    q = record["quantization"]
    assert record["dtype"] == "int8" and q["accuracy_fp32"] > 0.8, q
    assert q["accuracy_drop_pts"] < 5.0, q
    assert q["bytes_quantized"] == out.stat().st_size < 0.5 * q["bytes_fp32"], q
    assert q["details"]["delegate_calls"] >= 1 and q["details"]["undelegated_ops"] == [], q


def test_fp32_table_for_int8_export_and_back_are_refused_writing_nothing(spec, tmp_path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    fp32, int8 = tmp_path / "fp32.json", tmp_path / "int8.json"
    _table(spec, "float32").save(fp32)
    _table(spec, "int8").save(int8)
    base = ["export", ARCH, "--space", str(spec), "--format", "onnx", "--out", str(folder / "net.onnx")]
    r = runner.invoke(app, [*base, "--quantize", "int8", "--lut", str(fp32)])
    _one_line_error(r, "was timed in float32, but a int8 model is being priced", "--dtype int8")
    r = runner.invoke(app, [*base, "--lut", str(int8)])
    _one_line_error(r, "was timed in int8, but a float32 model is being priced")
    assert _hashes(folder) == {}


@pytest.mark.parametrize("fmt", ["tensorrt"])
def test_formats_without_int8_here_are_one_line(spec, tmp_path, fmt) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    r = runner.invoke(app, ["export", ARCH, "--space", str(spec), "--format", fmt, "--out",
                            str(folder / "net.bin"), "--quantize", "int8"])
    _one_line_error(r, f"--format {fmt} cannot be quantized to int8 here", "--format onnx")
    assert _hashes(folder) == {}


def test_unknown_quantize_dtype_is_one_line(spec, tmp_path) -> None:
    r = runner.invoke(app, ["export", ARCH, "--space", str(spec), "--format", "onnx", "--out",
                            str(tmp_path / "n.onnx"), "--quantize", "int4"])
    _one_line_error(r, "unknown dtype 'int4'")
    assert not (tmp_path / "n.onnx").exists()
