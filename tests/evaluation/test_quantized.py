"""``--accuracy-of int8``: evaluators score the post-training-quantized net, under their own kinds,
and an int8 search is only priced by an int8 table of a runtime that can quantize here."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from hwnas.data import load_data
from hwnas.errors import HwnasError
from hwnas.evaluation import OneShotConfig, OneShotEvaluator, ScratchConfig, ScratchEvaluator
from hwnas.evaluation.quantized import accuracy_kind, check_accuracy_of, int8_accuracy, require_int8_pricing
from hwnas.latency import LatencyTable, OpStats, TableMeta
from hwnas.report.analysis import kind_label
from hwnas.runs import ACCURACY_KINDS
from hwnas.space import get_space
from hwnas.train import evaluate

SPEC = {"name": "tiny8", "resolution": 8, "num_classes": 10, "stem_channels": 16, "stem_stride": 1,
        "first_block_channels": 0, "stages": [[24, 1, 1], [32, 1, 2]], "head_channels": 64,
        "kernels": [3, 5], "expands": [2]}


@pytest.fixture(scope="module")
def space_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("q") / "tiny8.json"
    path.write_text(json.dumps(SPEC))
    return path


def table(space, dtype: str = "int8", runtime: str = "onnxruntime") -> LatencyTable:
    meta = TableMeta(device_name="test", runtime=runtime, space=space.name,
                     space_fingerprint=space.fingerprint(),
                     resolution=space.resolution, dtype=dtype)
    return LatencyTable(meta, {op.key: OpStats.single(0.01) for op in space.all_ops()})


@pytest.fixture(scope="module")
def int8_lut(space_file, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("lut") / "int8.json"
    table(get_space(str(space_file))).save(path)
    return str(path)


def test_accuracy_of_names_and_kinds():
    assert check_accuracy_of("fp32") == check_accuracy_of("float32") == "fp32"
    assert check_accuracy_of("INT8") == "int8"
    with pytest.raises(HwnasError, match="unknown --accuracy-of 'int4'"):
        check_accuracy_of("int4")
    for base in ("scratch-val", "oneshot-val"):
        assert accuracy_kind(base, "fp32") == base
        kind = accuracy_kind(base, "int8")
        assert kind == f"{base}-int8" and kind in ACCURACY_KINDS and "int8" in kind_label(kind)


def test_int8_pricing_needs_an_int8_table_of_a_quantizing_runtime(space_file):
    space = get_space(str(space_file))
    require_int8_pricing(table(space), "int8")  # accepted
    require_int8_pricing(table(space, "float32"), "fp32")  # fp32 accuracy: any table
    require_int8_pricing(None, "fp32")
    with pytest.raises(HwnasError, match="timed in float32") as info:
        require_int8_pricing(table(space, "float32", "torch-cpu"), "int8")
    assert "--runtime onnxruntime --dtype int8" in info.value.fix  # torch-cpu has no int8 profile
    with pytest.raises(HwnasError, match="cannot quantize for runtime 'adb'"):
        require_int8_pricing(table(space, "int8", "adb"), "int8")
    with pytest.raises(HwnasError, match="needs an int8 latency table"):
        require_int8_pricing(None, "int8")


def test_int8_accuracy_of_a_trained_classifier_is_close_to_fp32():
    data = load_data("digits", 8, seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 64, 10))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(1):
        for x, y in data.loader("train", 64, torch.Generator().manual_seed(0)):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    _, fp32 = evaluate(model, data.loader("val", 256))
    int8 = int8_accuracy(model, data, "onnxruntime")
    assert fp32 > 0.8 and abs(fp32 - int8) < 0.05, (fp32, int8)
    # the scored net is really quantized: its logits move off the float ones, its ranking does not
    from hwnas.evaluation.quantized import calibration_batches
    from runtimes.onnx_int8 import int8_classifier

    x = next(iter(data.loader("val", 64, shuffle=False)))[0]
    batches = calibration_batches(data)
    q = int8_classifier(model.eval(), x[:1], batches)(x.numpy())
    with torch.no_grad():
        f = model(x).numpy()
    assert 1e-3 < abs(q - f).max() < 0.2 * abs(f).max() and (q.argmax(1) == f.argmax(1)).mean() > 0.9
    with pytest.raises(HwnasError, match="no int8 path for runtime 'torch-cpu'"):
        int8_accuracy(model, data, "torch-cpu")


@pytest.mark.slow  # two trainings: ~10 s quiet, ~50 s at load 12
def test_scratch_evaluator_scores_the_int8_net(space_file, int8_lut):
    space = get_space(str(space_file))
    arch = space.parse("k3e2-k5e2")
    cfg = ScratchConfig(epochs=2, subset=1.0)
    fp32 = ScratchEvaluator(space, int8_lut, cfg)  # an int8 table prices an fp32-accuracy search too
    int8 = ScratchEvaluator(space, int8_lut, replace(cfg, accuracy_of="int8"))
    a, b = fp32.evaluate(arch), int8.evaluate(arch)
    assert (a.accuracy_kind, b.accuracy_kind) == ("scratch-val", "scratch-val-int8")
    assert a.latency_ms == b.latency_ms and b.accuracy > 0.5 and abs(a.accuracy - b.accuracy) < 0.08
    assert int8.describe()["accuracy_of"] == "int8"


@pytest.mark.slow  # a supernet training: ~5 s quiet, ~25 s at load 12
def test_oneshot_evaluator_scores_the_int8_subnet(space_file, int8_lut):
    space = get_space(str(space_file))
    arch = space.parse("k5e2-k3e2")
    ev = OneShotEvaluator(space, int8_lut, OneShotConfig(epochs=2))
    ev.prepare()
    a = ev.evaluate(arch)
    ev.config = replace(ev.config, accuracy_of="int8")  # the same supernet weights, quantized
    b = ev.evaluate(arch)
    assert (a.accuracy_kind, b.accuracy_kind) == ("oneshot-val", "oneshot-val-int8")
    assert b.accuracy > 0.3 and abs(a.accuracy - b.accuracy) < 0.08, (a.accuracy, b.accuracy)


def test_evaluators_refuse_int8_accuracy_priced_by_a_float32_table(space_file, tmp_path):
    space = get_space(str(space_file))
    path = tmp_path / "fp32.json"
    table(space, "float32").save(path)
    for ev in (ScratchEvaluator(space, str(path), ScratchConfig(accuracy_of="int8")),
               OneShotEvaluator(space, str(path), OneShotConfig(accuracy_of="int8"))):
        with pytest.raises(HwnasError, match="timed in float32"):
            ev.prepare()


@pytest.mark.slow  # PT2E calibration image by image and an XNNPACK lowering: ~2 min at load 15
def test_executorch_int8_accuracy_is_close_to_fp32():
    pytest.importorskip("executorch")
    data = load_data("digits", 8, seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 64, 10))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for x, y in data.loader("train", 64, torch.Generator().manual_seed(0)):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    _, fp32 = evaluate(model, data.loader("val", 256))
    assert abs(fp32 - int8_accuracy(model, data, "executorch")) < 0.05
