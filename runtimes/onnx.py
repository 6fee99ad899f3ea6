"""ONNX: the one torch -> ONNX lowering, its offline optimization and metadata, and onnxruntime sessions.

Used by the onnxruntime and TensorRT profilers (one model per op, static shapes) and by the onnx
and tensorrt exporters (dynamic batch, a chosen opset, metadata, ``onnx.checker``).

Exporter choice: the legacy TorchScript exporter (``torch.onnx.export(..., dynamo=False)``) took
0.11 s per op on 6 ops of the tiny space and ~0.3 s per mbconv-small network (see
``benchmarks/export.py``), emitting the requested opset natively; the ``torch.export``-based one
(``dynamo=True``) took 1.43 s per op and ~5-11 s per network, has no implementations below opset
18 (it exports 18 and converts down) and gives the same graph after optimization for these plain
conv nets. Tables export hundreds of ops, so the legacy exporter is the default everywhere.

Optimization is onnxruntime's *basic* offline level (constant folding, redundant node removal,
Conv+BN/Conv+Add fusions): it only emits standard ONNX ops, so the result still runs in other
ONNX consumers (TensorRT). The extended/layout levels would add onnxruntime-only ops.
"""

from __future__ import annotations

import io
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from hwnas.errors import HwnasError

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def torch_to_onnx(model: nn.Module, example: torch.Tensor, *, opset: int = OPSET, dynamo: bool = False,
                  dynamic_batch: bool = False, max_batch: int = 64) -> bytes:
    """Serialized ONNX model of eval-mode ``model`` at ``example``'s shape.

    Args:
        opset: the ONNX opset to emit.
        dynamo: use the ``torch.export``-based exporter instead of the (faster) TorchScript one.
        dynamic_batch: make dimension 0 of input and output symbolic (``batch``).
        max_batch: the largest batch the dynamo exporter's symbolic dimension allows.
    """
    model = model.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter deprecation chatter; failures still raise
        if dynamo:
            batch = torch.export.Dim("batch", min=1, max=max(2, max_batch))
            shapes = ({0: batch},) if dynamic_batch else None
            program = torch.onnx.export(model, (example,), dynamo=True, opset_version=opset,
                                        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                        dynamic_shapes=shapes, verbose=False)
            program.save(buffer)  # type: ignore[union-attr]
        else:
            axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
            torch.onnx.export(model, (example,), buffer, dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes=axes, do_constant_folding=True)
    return buffer.getvalue()


def torch_to_onnx_any(model: nn.Module, example: torch.Tensor) -> bytes:
    """Static-shape ONNX at :data:`OPSET` for timing: the fast exporter, the dynamo one if it fails."""
    try:
        return torch_to_onnx(model, example)
    except Exception as legacy_exc:  # noqa: BLE001 - the two exporters support different ops
        try:
            return torch_to_onnx(model, example, dynamo=True)
        except Exception as exc:  # noqa: BLE001
            raise HwnasError(f"ONNX export failed: {legacy_exc}; dynamo exporter: {exc}",
                             "report the op that failed") from None


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


def with_metadata(model_bytes: bytes, props: Mapping[str, str], doc: str, opset: int):
    """Attach ``props`` as metadata, check the model (full check); return the ``onnx.ModelProto``."""
    import onnx

    from hwnas.export.base import ExportError

    proto = onnx.load_from_string(model_bytes)
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "hwnas"
    proto.doc_string = doc
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"onnx.checker rejected the exported model: {str(exc).splitlines()[0]}",
                          f"try another --opset than {opset}") from None
    return proto


def model_opset(proto) -> int:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), -1)


def session(model: bytes | Path, *, threads: int, providers: Sequence[str] = ("CPUExecutionProvider",),
            flush_denormal: bool = False):
    """An onnxruntime ``InferenceSession`` set up for timing: ``threads`` intra-op threads,
    sequential execution, all graph optimizations, no spinning at one thread."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    if flush_denormal:
        opts.add_session_config_entry("session.set_denormal_as_zero", "1")
    if threads == 1:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=opts, providers=list(providers))
