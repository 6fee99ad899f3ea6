"""Exporters: one module per deployment format, all behind :class:`exporters.base.Exporter`.

``get_exporter(name)`` returns a format's exporter (unknown names raise a one-line error listing
the known ones); ``export_arch`` (in :mod:`exporters.pipeline`) is the whole job: build, export,
check on the runtime, time, compare with a table and write ``export.json``. Format modules import
their runtime lazily, so this package imports without ExecuTorch, TensorRT or CUDA.
"""

from __future__ import annotations

import importlib

from exporters.base import Exporter, ExportError, ExportInfo, ExportMetadata, ExportOptions, Runner

# format name -> "module:Class"; every module imports without its runtime installed
_REGISTRY: dict[str, str] = {
    "onnx": "exporters.onnx_exporter:OnnxExporter",
    "executorch": "exporters.executorch_exporter:ExecuTorchExporter",
    "tensorrt": "exporters.tensorrt_exporter:TensorRTExporter",
}


def exporter_names() -> list[str]:
    return list(_REGISTRY)


def get_exporter(name: str) -> Exporter:
    """The exporter of format ``name`` (not checked for availability: see ``unavailable_reason``)."""
    if name not in _REGISTRY:
        raise ExportError(f"unknown export format {name!r}", f"use one of: {', '.join(_REGISTRY)}")
    module_name, cls_name = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module_name), cls_name)()


__all__ = ["ExportError", "ExportInfo", "ExportMetadata", "ExportOptions", "Exporter", "Runner",
           "exporter_names", "get_exporter"]
