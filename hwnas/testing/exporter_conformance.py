"""Conformance tests every registered exporter must pass (import them into a test module).

Usage, in a test file::

    from hwnas.testing.exporter_conformance import *  # noqa: F401,F403

Each test is parametrized over :func:`hwnas.plugins.exporter_names`; a format whose runtime is missing
here is skipped with its one-line reason (TensorRT's tests are also marked ``gpu``). One artifact
per format is exported from the tiny space (16x16) and shared by the tests of that format.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hwnas import __version__
from hwnas.export.base import Exporter, ExportError, ExportMetadata, ExportOptions
from hwnas.export.check import measure_latency, parity
from hwnas.export.pipeline import ExportSource, prepare_model
from hwnas.latency.measure import MeasureProtocol
from hwnas.nn import build_model
from hwnas.plugins import exporter_names, get_exporter
from hwnas.testing.fixtures import tiny_space

__all__ = ["conformance_export", "exporter_under_test", "test_artifact_matches_torch",
           "test_artifact_metadata_and_info", "test_parity_check_fails_for_another_network",
           "test_latency_is_measured", "test_runner_is_deterministic",
           "test_unavailable_reason_is_one_line_naming_extra"]

_GPU_FORMATS = {"tensorrt"}


def _params() -> list:
    return [pytest.param(name, marks=[pytest.mark.gpu] if name in _GPU_FORMATS else [], id=name)
            for name in exporter_names()]


@pytest.fixture(scope="module", params=_params())
def exporter_under_test(request) -> Exporter:
    exporter = get_exporter(request.param)
    reason = exporter.unavailable_reason()
    if reason:
        pytest.skip(f"{exporter.name}: {reason} (pip install 'hwnas[{exporter.extra}]')")
    return exporter


@pytest.fixture(scope="module")
def conformance_export(exporter_under_test, tmp_path_factory):
    """(exporter, artifact path, eval model, fixed inputs, ExportInfo) for the tiny space."""
    space = tiny_space()
    arch = space.sample(np.random.default_rng(0))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model, _ = prepare_model(ExportSource(space, arch), "synthetic")
    inputs = torch.randn(4, 3, space.resolution, space.resolution,
                         generator=torch.Generator().manual_seed(1))
    path = tmp_path_factory.mktemp(exporter_under_test.name) / f"tiny{exporter_under_test.suffix}"
    meta = ExportMetadata(str(arch), space.name, space.fingerprint(), None, __version__)
    info = exporter_under_test.export(model, inputs[:1].clone(), path, ExportOptions(), meta)
    return exporter_under_test, path, model, inputs, info


@pytest.mark.parametrize("name", _params())
def test_unavailable_reason_is_one_line_naming_extra(name):
    exporter = get_exporter(name)
    reason = exporter.unavailable_reason()
    assert exporter.suffix.startswith(".") and exporter.runtime
    if reason is None:
        exporter.require()  # must not raise
        return
    assert "\n" not in reason and reason
    with pytest.raises(ExportError) as err:
        exporter.require()
    assert "\n" not in str(err.value)
    if exporter.extra:
        assert f"hwnas[{exporter.extra}]" in str(err.value)


def test_artifact_metadata_and_info(conformance_export):
    exporter, path, _model, _inputs, info = conformance_export
    assert path.is_file() and path.stat().st_size > 1000
    assert info.format == exporter.name and info.path == path and info.export_s > 0


def test_artifact_matches_torch(conformance_export):
    exporter, path, model, inputs, _info = conformance_export
    runner = exporter.load(path, ExportOptions())
    atol, rtol = exporter.tolerance(ExportOptions())
    report = parity(runner, model, inputs, atol, rtol)
    assert report.reference_max_abs > 1e-2, "BN recalibration should make outputs non-trivial"
    assert report.passed, report
    assert report.batch == 4 and report.top1_agreement == 1.0


def test_runner_is_deterministic(conformance_export):
    exporter, path, _model, inputs, _info = conformance_export
    runner = exporter.load(path, ExportOptions())
    x = inputs.numpy()
    first, second = runner.run_any(x), runner.run_any(x)
    assert first.shape == (4, tiny_space().num_classes)
    np.testing.assert_array_equal(first, second)


def test_parity_check_fails_for_another_network(conformance_export):
    """A different network's outputs must fail the parity check (the check can fail)."""
    exporter, path, model, inputs, _info = conformance_export
    runner = exporter.load(path, ExportOptions())
    other = build_model(tiny_space(), tiny_space().sample(np.random.default_rng(7))).eval()
    atol, rtol = exporter.tolerance(ExportOptions())
    assert not parity(runner, other, inputs, atol, rtol).passed


def test_latency_is_measured(conformance_export):
    exporter, path, _model, _inputs, _info = conformance_export
    runner = exporter.load(path, ExportOptions())
    stats = measure_latency(runner, (3, 16, 16), MeasureProtocol(warmup=2, runs=10, max_runs=10,
                                                                 pin_cpu=False))
    assert stats.n == 10 and 0 < stats.p10 <= stats.p50 <= stats.p90

