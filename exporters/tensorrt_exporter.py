"""TensorRT: ONNX -> serialized engine through TensorRT's Python API (TensorRT 10, named tensors).

The ONNX step is the onnx exporter's (same opset, dynamic batch, optimization, checker); the
engine build and load are :mod:`runtimes.tensorrt`'s (shared with the tensorrt profiler), here
with an optimization profile over the batch dimension (min 1, opt ``opt_batch``, max
``max_batch``), a workspace limit, and fp16 when asked. The engine is checked and timed with
TensorRT's own runtime on CUDA buffers owned by torch (no pycuda needed). ``tensorrt`` and CUDA
are imported lazily; without them every entry point raises one line naming the extra.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from exporters.onnx_exporter import finalize, lower
from hwnas.export.base import Exporter, ExportError, ExportInfo, ExportMetadata, ExportOptions, Runner
from runtimes import tensorrt as rt
from runtimes.onnx import INPUT_NAME, optimize_basic


class TensorRTExporter(Exporter):
    name = "tensorrt"
    suffix = ".engine"
    runtime = "tensorrt"
    extra = "tensorrt"
    atol = 1e-3  # TF32 convolutions are on by default for fp32 engines on Ampere and later
    rtol = 1e-2

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("tensorrt") is None:
            return "TensorRT is not installed"
        if not torch.cuda.is_available():
            return "no CUDA GPU is visible to torch"
        return None

    def tolerance(self, options: ExportOptions) -> tuple[float, float]:
        return (5e-2, 5e-2) if options.fp16 else (self.atol, self.rtol)

    def export(self, model: nn.Module, sample: torch.Tensor, path: Path, options: ExportOptions,
               metadata: ExportMetadata) -> ExportInfo:
        self.require()
        start = time.perf_counter()
        onnx_bytes = finalize(optimize_basic(lower(model, sample, options)), metadata,
                              options.opset).SerializeToString()
        t_onnx = time.perf_counter()
        opt = min(max(1, options.opt_batch), options.max_batch)
        data = rt.build_engine(onnx_bytes, workspace_mb=options.workspace_mb, fp16=options.fp16,
                               batch=rt.BatchProfile(INPUT_NAME, tuple(sample.shape[1:]), opt,
                                                     options.max_batch))
        path.write_bytes(data)
        return ExportInfo(self.name, path, time.perf_counter() - start, {
            "onnx_s": round(t_onnx - start, 4), "build_s": round(time.perf_counter() - t_onnx, 4),
            "precision": "fp16" if options.fp16 else "fp32", "workspace_mb": options.workspace_mb,
            "profile": {"min": 1, "opt": opt, "max": options.max_batch}, "opset": options.opset,
            "bytes": len(data), "tensorrt_version": rt.version(),
            "gpu": torch.cuda.get_device_name(0),
        })

    def load(self, path: Path, options: ExportOptions) -> Runner:
        self.require()
        import tensorrt as trt

        loaded = rt.load_engine(path.read_bytes(), str(path))
        engine = loaded.engine
        context = engine.create_execution_context()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise ExportError(f"engine {path} has inputs {inputs} and outputs {outputs}; expected one each")
        in_name, out_name = inputs[0], outputs[0]
        in_dtype = torch.from_numpy(np.empty(0, trt.nptype(engine.get_tensor_dtype(in_name)))).dtype
        out_dtype = torch.from_numpy(np.empty(0, trt.nptype(engine.get_tensor_dtype(out_name)))).dtype

        def run(x: np.ndarray, _alive=loaded) -> np.ndarray:  # keep the engine alive
            x_dev = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to("cuda", in_dtype)
            context.set_input_shape(in_name, tuple(x_dev.shape))
            out_dev = torch.empty(tuple(context.get_tensor_shape(out_name)), dtype=out_dtype,
                                  device="cuda")
            context.set_tensor_address(in_name, x_dev.data_ptr())
            context.set_tensor_address(out_name, out_dev.data_ptr())
            stream = torch.cuda.current_stream()  # the stream torch's copies above were queued on
            if not context.execute_async_v3(stream.cuda_stream):
                raise ExportError("TensorRT execution failed")
            stream.synchronize()  # the timed call must include the GPU work
            return out_dev.float().cpu().numpy()

        return Runner(run, self.runtime, trt.__version__)

    def runtime_version(self) -> str:
        return rt.version()
