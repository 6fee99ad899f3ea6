"""Measurement protocol, time_callable, registry errors, ONNX export, ExecuTorch threads."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch

from hwnas.errors import HwnasError, RuntimeMissingError
from hwnas.export.base import ExportOptions
from hwnas.latency.measure import MeasureProtocol, pin_to_core, stats_from_samples, time_callable
from hwnas.latency.profiler import cuda_missing
from hwnas.plugins import get_profiler, profiler_class, runtime_names


def test_protocol_defaults_match_the_issue() -> None:
    p = MeasureProtocol()
    assert (p.threads, p.batch, p.warmup, p.runs) == (1, 1, 10, 50)
    assert p.resolved_clock == "thread"
    assert MeasureProtocol(threads=2).resolved_clock == "wall"
    with pytest.raises(HwnasError, match="clock"):
        MeasureProtocol(clock="sundial")
    with pytest.raises(HwnasError, match="warmup"):
        MeasureProtocol(warmup=-1)
    for field in ("runs", "threads", "batch", "rounds", "max_runs"):
        with pytest.raises(HwnasError, match=field):
            MeasureProtocol(**{field: 0})


def test_time_callable_counts_warmup_and_runs() -> None:
    calls = []
    st = time_callable(lambda: calls.append(1), MeasureProtocol(warmup=3, runs=20, max_runs=20))
    assert st.n == 20 and len(calls) == 23
    assert st.p10 <= st.p50 <= st.p90


def test_adaptive_repeats_stop_at_cap() -> None:
    # a callable whose cost keeps growing never has a stable median: the cap must stop it
    state = {"i": 0}

    def growing() -> None:
        state["i"] += 1
        end = time.perf_counter() + 2e-6 * state["i"]
        while time.perf_counter() < end:
            pass

    st = time_callable(growing, MeasureProtocol(warmup=0, runs=10, max_runs=40, stability=1e-9,
                                                clock="wall"))
    assert st.n == 40


def test_wall_clock_sees_sleep_thread_clock_does_not() -> None:
    nap = lambda: time.sleep(0.002)
    wall = time_callable(nap, MeasureProtocol(warmup=0, runs=5, max_runs=5, clock="wall"))
    cpu = time_callable(nap, MeasureProtocol(warmup=0, runs=5, max_runs=5, clock="thread"))
    assert wall.p50 >= 1.9
    assert cpu.p50 < 1.0  # a sleeping thread uses no CPU: descheduled time is not counted


def test_stats_from_samples() -> None:
    st = stats_from_samples([1.0, 2.0, 3.0, 4.0, 5.0])
    assert st.p50 == 3.0 and st.n == 5 and st.mean == 3.0
    assert st.p10 < st.p50 < st.p90


def test_unknown_runtime_names_the_known_ones() -> None:
    with pytest.raises(HwnasError) as info:
        get_profiler("coreml")
    assert "coreml" in str(info.value) and "torch-cpu" in str(info.value)


def test_registry_lists_every_runtime() -> None:
    assert set(runtime_names()) >= {"torch-cpu", "onnxruntime", "executorch", "adb", "torch-cuda", "tensorrt"}
    for name in runtime_names():
        assert profiler_class(name).name == name


def test_missing_tensorrt_names_the_extra() -> None:
    ok, reason = profiler_class("tensorrt").available()
    if ok:
        pytest.skip("TensorRT is installed here")
    if cuda_missing() is not None:
        pytest.skip("no CUDA here: the message names the missing GPU instead (test below)")
    with pytest.raises(RuntimeMissingError, match=r"hwnas\[tensorrt\]"):
        get_profiler("tensorrt")


@pytest.mark.parametrize("runtime", ["tensorrt", "torch-cuda"])
def test_missing_cuda_names_the_gpu_not_an_install(runtime: str) -> None:
    missing = cuda_missing()
    if missing is None:
        pytest.skip("a CUDA GPU is visible here")
    with pytest.raises(RuntimeMissingError) as info:
        get_profiler(runtime)
    text = str(info.value)
    assert "no CUDA device found" in text and "\n" not in text
    assert "pip install" not in text and "hwnas[tensorrt]" not in text
    if torch.version.cuda is None:
        assert "built without CUDA" in text and "CUDA build of torch" in text
    else:
        assert f"built for CUDA {torch.version.cuda} but sees no GPU" in text and "nvidia-smi" in text


def test_pinning_picks_an_allowed_core() -> None:
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no CPU affinity on this OS")
    before = os.sched_getaffinity(0)
    try:
        core = pin_to_core(MeasureProtocol())
        assert os.sched_getaffinity(0) == {core} and core in before
        with pytest.raises(HwnasError, match="cannot pin"):
            pin_to_core(MeasureProtocol(cpu_core=10_000))
    finally:
        os.sched_setaffinity(0, before)
    assert pin_to_core(MeasureProtocol(pin_cpu=False)) is None


@pytest.mark.integration
def test_onnx_export_uses_fast_exporter_and_roundtrips(monkeypatch: pytest.MonkeyPatch) -> None:
    """The profilers' ONNX lowering calls the legacy (fast) exporter once, at the pinned opset with
    static shapes, and the model computes what torch computes; dynamo is only the fallback."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    from runtimes.onnx import OPSET, torch_to_onnx_any

    calls: list[bool] = []
    real_export = torch.onnx.export

    def spy(*args, **kwargs):
        calls.append(kwargs.get("dynamo"))
        return real_export(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", spy)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    data = torch_to_onnx_any(net, x)
    assert calls == [False]
    model = onnx.load_from_string(data)
    assert [n.op_type for n in model.graph.node] == ["Conv", "Relu"]
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == OPSET
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [2, 3, 8, 8]
    got = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
    np.testing.assert_allclose(got, net(x).detach().numpy(), rtol=1e-5, atol=1e-5)

    def legacy_fails(*args, **kwargs):
        if not kwargs.get("dynamo"):
            raise RuntimeError("op not supported by the TorchScript exporter")
        return spy(*args, **kwargs)

    calls.clear()
    monkeypatch.setattr(torch.onnx, "export", legacy_fails)
    assert [n.op_type for n in onnx.load_from_string(torch_to_onnx_any(net, x)).graph.node][:1] == ["Conv"]
    assert calls == [True]


@pytest.mark.integration
def test_executorch_threads_set_once_per_process() -> None:
    """One threadpool guard for the profilers and the exporter: a second size is refused by both."""
    ok, reason = profiler_class("executorch").available()
    if not ok:
        pytest.skip(reason)
    from hwnas.plugins import get_exporter
    from runtimes import executorch as et

    first = et._threadpool_size or 1
    assert et.set_threads_once(first) == first
    with pytest.raises(RuntimeMissingError, match="already set"):
        et.set_threads_once(first + 1)
    with pytest.raises(RuntimeMissingError, match="already set"):  # the exporter's load shares it
        get_exporter("executorch").load(Path("unused.pte"), ExportOptions(threads=first + 1))


@pytest.mark.gpu
def test_torch_cuda_times_with_events() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    prof = get_profiler("torch-cuda", MeasureProtocol(runs=10, warmup=2))
    st = prof.measure_model(torch.nn.Conv2d(8, 8, 3), (8, 16, 16))
    assert st.p50 > 0 and st.n >= 10


@pytest.mark.gpu
def test_tensorrt_engine_per_op() -> None:
    ok, reason = profiler_class("tensorrt").available()
    if not ok:
        pytest.skip(f"TensorRT unusable here: {reason}")
    prof = get_profiler("tensorrt", MeasureProtocol(runs=10, warmup=2))
    st = prof.measure_model(torch.nn.Conv2d(8, 8, 3).eval(), (8, 16, 16))
    assert st.p50 > 0 and st.n >= 10


def test_registries_load_every_plugin_by_name() -> None:
    """The registries name every plug-in module and each loads by name (that the core imports
    plug-ins only through them is checked with the other import rules in tests/test_imports.py)."""
    from hwnas.plugins import EXPORTERS, PROFILERS, exporter_names, get_exporter

    assert {spec.split(".")[0] for spec in [*PROFILERS.values(), *EXPORTERS.values()]} == {"profilers",
                                                                                           "exporters"}
    for name in runtime_names():
        assert profiler_class(name).name == name
    for name in exporter_names():
        assert get_exporter(name).name == name
