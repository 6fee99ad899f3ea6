"""TensorRT: ONNX -> serialized engine through TensorRT's Python API (TensorRT 10, named tensors).

The ONNX step is :mod:`exporters.onnx_exporter` (same opset, dynamic batch, checker); the engine is
built with an optimization profile over the batch dimension (min 1, opt ``opt_batch``, max
``max_batch``), a workspace limit, and fp16 when asked. The engine is checked and timed with
TensorRT's own runtime on CUDA buffers owned by torch (no pycuda needed). ``tensorrt`` and CUDA
are imported only here, lazily; without them every entry point raises one line naming the extra.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from exporters.base import Exporter, ExportError, ExportInfo, ExportMetadata, ExportOptions, Runner
from exporters.onnx_exporter import INPUT_NAME, finalize, optimize_basic, torch_to_onnx_bytes


def _trt():
    import tensorrt as trt

    return trt


def _logger():
    trt = _trt()
    return trt.Logger(trt.Logger.WARNING)


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
        trt = _trt()
        start = time.perf_counter()
        onnx_bytes = finalize(optimize_basic(torch_to_onnx_bytes(model, sample, options)), metadata,
                              options.opset).SerializeToString()
        t_onnx = time.perf_counter()
        logger = _logger()
        builder = trt.Builder(logger)
        network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(onnx_bytes):
            errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
            raise ExportError(f"TensorRT's ONNX parser rejected the model: {errors[:1]}",
                              f"try another --opset than {options.opset}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mb << 20)
        if options.fp16:
            if not builder.platform_has_fast_fp16:
                raise ExportError("this GPU has no fast fp16", "export without --fp16")
            config.set_flag(trt.BuilderFlag.FP16)
        shape = tuple(sample.shape[1:])
        opt = min(max(1, options.opt_batch), options.max_batch)
        profile = builder.create_optimization_profile()
        profile.set_shape(INPUT_NAME, (1, *shape), (opt, *shape), (options.max_batch, *shape))
        config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise ExportError("TensorRT could not build an engine (see its log above)",
                              "raise --workspace or export without --fp16")
        data = bytes(serialized)
        path.write_bytes(data)
        return ExportInfo(self.name, path, time.perf_counter() - start, {
            "onnx_s": round(t_onnx - start, 4), "build_s": round(time.perf_counter() - t_onnx, 4),
            "precision": "fp16" if options.fp16 else "fp32", "workspace_mb": options.workspace_mb,
            "profile": {"min": 1, "opt": opt, "max": options.max_batch}, "opset": options.opset,
            "bytes": len(data), "tensorrt_version": trt.__version__,
            "gpu": torch.cuda.get_device_name(0),
        })

    def load(self, path: Path, options: ExportOptions) -> Runner:
        self.require()
        trt = _trt()
        runtime = trt.Runtime(_logger())
        engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            raise ExportError(f"TensorRT cannot deserialize {path}",
                              "rebuild the engine with this TensorRT version and GPU")
        context = engine.create_execution_context()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise ExportError(f"engine {path} has inputs {inputs} and outputs {outputs}; expected one each")
        in_name, out_name = inputs[0], outputs[0]
        in_dtype = torch.from_numpy(np.empty(0, trt.nptype(engine.get_tensor_dtype(in_name)))).dtype
        out_dtype = torch.from_numpy(np.empty(0, trt.nptype(engine.get_tensor_dtype(out_name)))).dtype

        def run(x: np.ndarray, _alive=(runtime, engine)) -> np.ndarray:  # keep the engine alive
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
        return _trt().__version__ if importlib.util.find_spec("tensorrt") else ""
