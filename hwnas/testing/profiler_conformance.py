"""Tests every profiler must pass (Optuna-style shipped conformance suite).

Use it from a test module::

    from hwnas.testing.profiler_conformance import ProfilerConformance

    class TestAllProfilers(ProfilerConformance):
        pass

Each test is parametrized over every registered runtime; runtimes that cannot run here are
skipped with the reason ``available()`` gives. The protocol is tiny so the suite stays fast.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from hwnas.errors import RuntimeMissingError
from hwnas.latency.measure import MeasureProtocol
from hwnas.latency.profiler import cuda_missing
from hwnas.plugins import get_profiler, profiler_class, runtime_names
from hwnas.space.arch import OpSpec

FAST = MeasureProtocol(warmup=2, runs=10, max_runs=20, rounds=2, pin_cpu=False)
OP = OpSpec("ConvNorm", (8, 8, 8), (("Cout", 8), ("kernel", 3), ("stride", 1), ("group", 1)))

_cache: dict[str, object] = {}


def _profiler(name: str):
    ok, reason = profiler_class(name).available()
    if not ok:
        pytest.skip(f"{name} not available here: {reason}")
    if name not in _cache:
        _cache[name] = get_profiler(name, FAST)
    return _cache[name]


def _as_tensor(out) -> torch.Tensor:
    while isinstance(out, (list, tuple)):
        out = out[0]
    if isinstance(out, np.ndarray):
        out = torch.from_numpy(out)
    return out.detach().float().cpu()


def _small_net() -> nn.Module:
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return net.eval()


@pytest.mark.parametrize("name", runtime_names())
class ProfilerConformance:
    def test_class_contract(self, name: str) -> None:
        cls = profiler_class(name)
        assert cls.name == name
        assert cls.extra is None or isinstance(cls.extra, str)
        ok, reason = cls.available()
        assert isinstance(ok, bool) and isinstance(reason, str)
        assert ok or reason, "an unavailable runtime must say why"

    def test_unavailable_raises_naming_fix(self, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
        cls = profiler_class(name)
        ok, reason = cls.available()
        if ok:  # installed here: make it say no, so the refusal path is exercised all the same
            reason = "stand-in: runtime library not found"
            monkeypatch.setattr(cls, "available", classmethod(lambda _cls: (False, reason)))
        with pytest.raises(RuntimeMissingError) as info:
            get_profiler(name, FAST)
        assert name in str(info.value) and reason in str(info.value)
        if cls.needs_cuda and cuda_missing() is not None:  # no install gives a GPU: none is offered
            assert "no CUDA device found" in str(info.value) and "pip install" not in str(info.value)
        elif cls.extra:
            assert f"hwnas[{cls.extra}]" in str(info.value)

    def test_version_and_device(self, name: str) -> None:
        prof = _profiler(name)
        assert prof.runtime_version().strip()
        assert prof.device_detail().strip()

    def test_measure_op_stats(self, name: str) -> None:
        st = _profiler(name).measure_op(OP, "relu6")
        values = (st.p10, st.p50, st.p90, st.mean, st.std)
        assert all(math.isfinite(v) and v >= 0 for v in values)
        assert st.n >= FAST.runs
        assert 0 < st.p10 <= st.p50 <= st.p90

    def test_runner_computes_the_model(self, name: str) -> None:
        prof = _profiler(name)
        if name == "adb":
            pytest.skip("the phone's binary does not return tensors")
        net = _small_net()
        runner = prof.prepare(net, (8, 6, 6))
        got = _as_tensor(runner())
        x = torch.randn(FAST.batch, 8, 6, 6, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            want = net(x)
        assert got.shape == want.shape
        assert torch.allclose(got, want, rtol=1e-3, atol=1e-3)

    def test_measure_model_and_overhead(self, name: str) -> None:
        prof = _profiler(name)
        st = prof.measure_model(_small_net(), (8, 6, 6))
        assert st.n >= FAST.runs and st.p50 > 0
        overhead = prof.time_runner(prof.identity_runner((8, 6, 6)))
        assert 0 < overhead.p50 < 10 * st.p90 + 1.0

    def test_timed_block_gives_one_duration_per_run(self, name: str) -> None:
        prof = _profiler(name)
        runner = prof.prepare(_small_net(), (8, 6, 6))
        samples = prof.timed_block()(runner, 7)
        assert len(samples) == 7
        assert all(math.isfinite(v) and v > 0 for v in samples)

    def test_every_timing_goes_through_timed_block(self, name: str) -> None:
        """``time_runner`` (hence ``measure_model``/``measure_op``) times with the runtime's own
        block, the one ``hwnas profile`` and ``lut validate`` use: a device clock is never
        bypassed for the host's."""
        prof = _profiler(name)
        runner = prof.prepare(_small_net(), (8, 6, 6))
        seen: list[int] = []

        def fake_block(fn, count: int) -> list[float]:
            assert fn is runner
            seen.append(count)
            return [42.0] * count

        original = prof.timed_block
        prof.timed_block = lambda: fake_block
        try:
            st = prof.time_runner(runner)
        finally:
            prof.timed_block = original
        assert seen and seen[0] == FAST.runs
        assert (st.p10, st.p50, st.p90, st.n) == (42.0, 42.0, 42.0, sum(seen))
