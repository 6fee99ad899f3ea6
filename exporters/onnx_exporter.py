"""ONNX: a chosen opset, dynamic batch, ``onnx.checker``, optional offline graph optimization.

Exporter choice (measured on mbconv-small at 32x32, 2-core CPU, see ``benchmarks/export.py``):
the TorchScript exporter (``dynamo=False``) takes ~0.3 s and emits the requested opset natively;
the ``torch.export`` one (``dynamo=True``) takes ~5-11 s, has no implementations below opset 18
(it exports 18 and converts down) and gives the same graph after optimization for these plain
conv nets. So the default is ``dynamo=False``; ``ExportOptions(dynamo=True)`` selects the other.

Simplification is onnxruntime's *basic* offline optimization (constant folding, redundant node
removal, Conv+BN/Conv+Add fusions): it only emits standard ONNX ops, so the result still runs in
other ONNX consumers (TensorRT). The extended/layout levels would add onnxruntime-only ops.
"""

from __future__ import annotations

import io
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from exporters.base import Exporter, ExportError, ExportInfo, ExportMetadata, ExportOptions, Runner

INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def torch_to_onnx_bytes(model: nn.Module, sample: torch.Tensor, options: ExportOptions) -> bytes:
    """The ONNX model of ``model`` with a dynamic batch dimension, as serialized bytes."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter deprecation chatter; failures still raise
        if options.dynamo:
            batch = torch.export.Dim("batch", min=1, max=max(2, options.max_batch))
            program = torch.onnx.export(model, (sample,), dynamo=True, opset_version=options.opset,
                                        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                        dynamic_shapes=({0: batch},), verbose=False)
            program.save(buffer)  # type: ignore[union-attr]
        else:
            torch.onnx.export(model, (sample,), buffer, dynamo=False, opset_version=options.opset,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                              do_constant_folding=True)
    return buffer.getvalue()


def optimize_basic(model_bytes: bytes) -> bytes:
    """onnxruntime's offline ORT_ENABLE_BASIC optimization of a model (portable ops only)."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.onnx", Path(tmp) / "out.onnx"
        src.write_bytes(model_bytes)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.optimized_model_filepath = str(dst)
        ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])
        return dst.read_bytes()


def finalize(model_bytes: bytes, metadata: ExportMetadata, opset: int):
    """Attach metadata, check the model, and return the ``onnx.ModelProto``."""
    import onnx

    proto = onnx.load_from_string(model_bytes)
    del proto.metadata_props[:]
    for key, value in metadata.as_props().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "hwnas"
    proto.doc_string = f"hwnas {metadata.space} arch {metadata.arch}"
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"onnx.checker rejected the exported model: {str(exc).splitlines()[0]}",
                          f"try another --opset than {opset}") from None
    return proto


def model_opset(proto) -> int:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), -1)


class OnnxExporter(Exporter):
    name = "onnx"
    suffix = ".onnx"
    runtime = "onnxruntime"
    atol = 1e-4
    rtol = 1e-4

    def export(self, model: nn.Module, sample: torch.Tensor, path: Path, options: ExportOptions,
               metadata: ExportMetadata) -> ExportInfo:
        start = time.perf_counter()
        raw = torch_to_onnx_bytes(model, sample, options)
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

        so = ort.SessionOptions()
        so.intra_op_num_threads = options.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ExportError(f"onnxruntime cannot load {path}: {str(exc).splitlines()[0]}") from None
        name = session.get_inputs()[0].name

        def run(x: np.ndarray) -> np.ndarray:
            return session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})[0]

        return Runner(run, self.runtime, ort.__version__)

    def runtime_version(self) -> str:
        import onnxruntime as ort

        return ort.__version__
