"""``tensorrt``: an engine built per op (from its ONNX export), timed with CUDA events.

TensorRT and CUDA are imported lazily; I/O buffers are torch CUDA tensors bound by address and
the engine runs with ``execute_async_v3`` on a torch CUDA stream.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hwnas.errors import HwnasError
from profilers.base import Profiler, time_callable
from profilers.onnx_export import export_onnx_bytes
from profilers.torch_cuda import cuda_event_block


class TensorRTProfiler(Profiler):
    name = "tensorrt"
    extra = "tensorrt"

    @classmethod
    def available(cls) -> tuple[bool, str]:
        try:
            import tensorrt  # noqa: F401
        except ImportError:
            return False, "tensorrt is not installed; pip install 'hwnas[tensorrt]'"
        if not torch.cuda.is_available():
            return False, "no CUDA GPU is visible (TensorRT needs one)"
        return True, ""

    def runtime_version(self) -> str:
        import tensorrt as trt

        return f"tensorrt {trt.__version__}"

    def device_detail(self) -> str:
        return torch.cuda.get_device_name(0)

    def setup(self) -> None:
        pass

    def build_engine(self, onnx_bytes: bytes):
        import tensorrt as trt

        logger = trt.Logger(trt.Logger.ERROR)
        builder = trt.Builder(logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(onnx_bytes):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise HwnasError(f"TensorRT could not parse the ONNX export: {errors}", "report the op")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 28)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise HwnasError("TensorRT failed to build an engine", "check the TensorRT log")
        engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
        return engine

    def prepare(self, model: nn.Module, input_shape: tuple[int, int, int]) -> Callable[[], object]:
        import tensorrt as trt

        x = torch.randn(self.protocol.batch, *input_shape, generator=torch.Generator().manual_seed(0))
        engine = self.build_engine(export_onnx_bytes(model.eval(), x))
        context = engine.create_execution_context()
        buffers = []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = tuple(context.get_tensor_shape(name))
            dtype = torch.float16 if engine.get_tensor_dtype(name) == trt.DataType.HALF else torch.float32
            buf = (x.to("cuda") if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
                   else torch.empty(shape, dtype=dtype, device="cuda"))
            context.set_tensor_address(name, buf.data_ptr())
            buffers.append(buf)

        def run() -> object:
            # enqueue on the current stream, where the timing events are recorded too
            context.execute_async_v3(torch.cuda.current_stream().cuda_stream)
            run.keep = (engine, buffers)
            return buffers[-1]

        return run

    def timed_block(self):
        return cuda_event_block

    def time_runner(self, runner: Callable[[], object]):
        torch.cuda.synchronize()
        with torch.cuda.stream(torch.cuda.Stream()):  # TensorRT warns on the default stream
            stats = time_callable(runner, self.protocol, timed_block=cuda_event_block)
        torch.cuda.synchronize()
        return stats
