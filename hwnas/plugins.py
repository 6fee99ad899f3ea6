"""Registries of the plug-in packages: runtimes (``profilers/``) and formats (``exporters/``).

The core names each plug-in by a ``"module:Class"`` string and imports it with :mod:`importlib`
only when asked for, so the core never imports a plug-in package itself and plug-in modules
(which import their heavy runtime lazily) load only when used. Unknown names raise a one-line
typed error listing the known ones. Example::

    from hwnas.plugins import get_exporter, get_profiler
    prof = get_profiler("onnxruntime", MeasureProtocol(runs=20))
    onnx = get_exporter("onnx")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from hwnas.errors import HwnasError, RuntimeMissingError

if TYPE_CHECKING:
    from hwnas.export.base import Exporter
    from hwnas.latency.measure import MeasureProtocol
    from hwnas.latency.profiler import Profiler

# runtime name -> "module:Class"; each module must import without its runtime installed
PROFILERS: dict[str, str] = {
    "torch-cpu": "profilers.torch_cpu:TorchCPUProfiler",
    "onnxruntime": "profilers.onnxrt:OnnxRuntimeProfiler",
    "executorch": "profilers.executorch_xnnpack:ExecuTorchProfiler",
    "adb": "profilers.adb:AdbProfiler",
    "torch-cuda": "profilers.torch_cuda:TorchCUDAProfiler",
    "tensorrt": "profilers.tensorrt_trt:TensorRTProfiler",
}

# format name -> "module:Class"; each module must import without its runtime installed
EXPORTERS: dict[str, str] = {
    "onnx": "exporters.onnx_exporter:OnnxExporter",
    "executorch": "exporters.executorch_exporter:ExecuTorchExporter",
    "tensorrt": "exporters.tensorrt_exporter:TensorRTExporter",
}


def _load(spec: str) -> type:
    module_name, cls_name = spec.split(":")
    return getattr(importlib.import_module(module_name), cls_name)


def runtime_names() -> list[str]:
    return list(PROFILERS)


def profiler_class(name: str) -> type[Profiler]:
    """The profiler class registered as ``name`` (no availability check)."""
    if name not in PROFILERS:
        raise HwnasError(f"unknown runtime {name!r}", f"use one of: {', '.join(PROFILERS)}")
    return _load(PROFILERS[name])


def get_profiler(name: str, protocol: MeasureProtocol | None = None) -> Profiler:
    """A profiler for runtime ``name``; raises if unknown or not usable here (naming the fix)."""
    from hwnas.latency.measure import MeasureProtocol

    cls = profiler_class(name)
    problem = cls.unusable()
    if problem is not None:
        raise RuntimeMissingError(f"runtime {name!r} is not usable here: {problem[0]}", problem[1])
    return cls(protocol or MeasureProtocol())


def exporter_names() -> list[str]:
    return list(EXPORTERS)


def get_exporter(name: str) -> Exporter:
    """The exporter of format ``name`` (not checked for availability: see ``unavailable_reason``)."""
    if name not in EXPORTERS:
        raise HwnasError(f"unknown export format {name!r}", f"use one of: {', '.join(EXPORTERS)}")
    return _load(EXPORTERS[name])()
