"""Device profilers: one module per runtime behind the :class:`profilers.base.Profiler` interface.

``get_profiler(name, protocol)`` returns a ready profiler or raises a one-line ``HwnasError``
(unknown runtime, or a runtime whose extra is not installed, naming the extra). Runtime modules
import their heavy dependencies lazily, so listing and importing profilers never needs them.
"""

from __future__ import annotations

import importlib

from hwnas.errors import HwnasError, RuntimeMissingError
from profilers.base import MeasureProtocol, Profiler, stats_from_samples, time_callable

# runtime name -> "module:Class"; the module must import without the runtime installed
_REGISTRY: dict[str, str] = {
    "torch-cpu": "profilers.torch_cpu:TorchCPUProfiler",
    "onnxruntime": "profilers.onnxrt:OnnxRuntimeProfiler",
    "executorch": "profilers.executorch_xnnpack:ExecuTorchProfiler",
    "adb": "profilers.adb:AdbProfiler",
    "torch-cuda": "profilers.torch_cuda:TorchCUDAProfiler",
    "tensorrt": "profilers.tensorrt_trt:TensorRTProfiler",
}


def runtime_names() -> list[str]:
    return list(_REGISTRY)


def profiler_class(name: str) -> type[Profiler]:
    """The profiler class registered as ``name`` (no availability check)."""
    if name not in _REGISTRY:
        raise HwnasError(f"unknown runtime {name!r}", f"use one of: {', '.join(_REGISTRY)}")
    module_name, cls_name = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module_name), cls_name)


def get_profiler(name: str, protocol: MeasureProtocol | None = None) -> Profiler:
    """A profiler for runtime ``name``; raises if unknown or not usable here (naming the fix)."""
    cls = profiler_class(name)
    ok, reason = cls.available()
    if not ok:
        raise RuntimeMissingError(f"runtime {name!r} is not usable here: {reason}",
                                  f"install it with `pip install 'hwnas[{cls.extra}]'`" if cls.extra
                                  else "run on a machine that has it")
    return cls(protocol or MeasureProtocol())


__all__ = ["MeasureProtocol", "Profiler", "get_profiler", "profiler_class", "runtime_names",
           "stats_from_samples", "time_callable"]
