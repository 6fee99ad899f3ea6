"""ONNX: a chosen opset, dynamic batch, ``onnx.checker``, optional offline graph optimization.

The lowering (exporter choice: the TorchScript exporter by default, ``ExportOptions(dynamo=True)``
for the ``torch.export`` one), the optimization and the metadata are :mod:`runtimes.onnx`'s,
shared with the profilers and the tensorrt exporter. ``--quantize int8`` rewrites the checked
float32 artifact with :func:`runtimes.onnx_int8.quantize_int8`, the same quantization the int8
onnxruntime tables are measured with.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwnas.export.base import Exporter, ExportError, ExportInfo, ExportMetadata, ExportOptions, Runner
from hwnas.export.check import ort_providers
from runtimes.onnx import model_opset, optimize_basic, session, torch_to_onnx, with_metadata
from runtimes.onnx_int8 import quantize_int8


def lower(model: nn.Module, sample: torch.Tensor, options: ExportOptions) -> bytes:
    """ONNX bytes with a dynamic batch dimension at the options' opset and exporter."""
    return torch_to_onnx(model, sample, opset=options.opset, dynamo=options.dynamo, dynamic_batch=True,
                         max_batch=options.max_batch)


def finalize(model_bytes: bytes, metadata: ExportMetadata, opset: int):
    """Attach the artifact's metadata, check the model, and return the ``onnx.ModelProto``."""
    return with_metadata(model_bytes, metadata.as_props(), f"hwnas {metadata.space} arch {metadata.arch}",
                         opset)


class OnnxExporter(Exporter):
    name = "onnx"
    suffix = ".onnx"
    runtime = "onnxruntime"
    atol = 1e-4
    rtol = 1e-4
    quantizes = ("int8",)

    def quantize(self, model: nn.Module, sample: torch.Tensor, path: Path, batches: list[np.ndarray],
                 dtype: str, metadata: ExportMetadata, options: ExportOptions) -> dict:
        self.require_quantize(dtype)
        start = time.perf_counter()
        raw = quantize_int8(path.read_bytes(), batches)
        props = {**metadata.as_props(), "hwnas.dtype": dtype}
        proto = with_metadata(raw, props, f"hwnas {metadata.space} arch {metadata.arch} ({dtype})",
                              options.opset)
        path.write_bytes(proto.SerializeToString())
        return {"method": "onnxruntime.quantization.quantize_static", "format": "QDQ",
                "weights": "int8 per-channel", "activations": "uint8", "calibration": "MinMax",
                "quantize_s": round(time.perf_counter() - start, 3),
                "nodes_after": len(proto.graph.node)}

    def export(self, model: nn.Module, sample: torch.Tensor, path: Path, options: ExportOptions,
               metadata: ExportMetadata) -> ExportInfo:
        start = time.perf_counter()
        raw = lower(model, sample, options)
        export_s = time.perf_counter() - start
        import onnx

        nodes_raw = len(onnx.load_from_string(raw).graph.node)
        out = optimize_basic(raw) if options.simplify else raw
        proto = finalize(out, metadata, options.opset)
        path.write_bytes(proto.SerializeToString())
        return ExportInfo(self.name, path, time.perf_counter() - start, {
            "exporter": "dynamo" if options.dynamo else "torchscript",
            "torch_export_s": round(export_s, 4),
            "opset": model_opset(proto), "requested_opset": options.opset,
            "simplified": options.simplify, "nodes_before": nodes_raw,
            "nodes_after": len(proto.graph.node), "dynamic_batch": True,
        })

    def load(self, path: Path, options: ExportOptions) -> Runner:
        import onnxruntime as ort

        try:
            sess = session(path, threads=options.threads, providers=ort_providers(options.device))
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ExportError(f"onnxruntime cannot load {path}: {str(exc).splitlines()[0]}") from None
        name = sess.get_inputs()[0].name

        def run(x: np.ndarray) -> np.ndarray:
            return sess.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]

        return Runner(run, self.runtime, ort.__version__)

    def runtime_version(self) -> str:
        import onnxruntime as ort

        return ort.__version__
