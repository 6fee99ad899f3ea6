"""``tensorrt``: an engine built per op (from its ONNX export), timed with CUDA events.

TensorRT and CUDA are imported lazily; I/O buffers are torch CUDA tensors bound by address and
the engine runs with ``execute_async_v3`` on a torch CUDA stream.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hwnas.latency.profiler import Profiler, cuda_missing
from profilers.torch_cuda import cuda_event_block
from runtimes.onnx import torch_to_onnx_any
from runtimes.tensorrt import build_engine, load_engine


class TensorRTProfiler(Profiler):
    name = "tensorrt"
    extra = "tensorrt"
    needs_cuda = True

    @classmethod
    def available(cls) -> tuple[bool, str]:
        missing = cuda_missing()  # first: without a GPU, installing TensorRT would not help
        if missing is not None:
            return False, missing[0]
        try:
            import tensorrt  # noqa: F401
        except ImportError:
            return False, "tensorrt is not installed"  # get_profiler adds the fix (the extra)
        return True, ""

    def device_kind(self) -> str:
        return "gpu"

    def runtime_version(self) -> str:
        import tensorrt as trt

        return f"tensorrt {trt.__version__}"

    def device_detail(self) -> str:
        return torch.cuda.get_device_name(0)

    def setup(self) -> None:
        pass

    def prepare(self, model: nn.Module, input_shape: tuple[int, int, int]) -> Callable[[], object]:
        import tensorrt as trt

        x = torch.randn(self.protocol.batch, *input_shape, generator=torch.Generator().manual_seed(0))
        # static shapes, 256 MiB workspace: one small engine per op
        loaded = load_engine(build_engine(torch_to_onnx_any(model, x), workspace_mb=256, quiet=True),
                             quiet=True)
        engine = loaded.engine
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
            run.keep = (loaded, buffers)
            return buffers[-1]

        return run

    def timed_block(self):
        return cuda_event_block

    def time_runner(self, runner: Callable[[], object]):
        torch.cuda.synchronize()
        with torch.cuda.stream(torch.cuda.Stream()):  # TensorRT warns on the default stream
            stats = super().time_runner(runner)
        torch.cuda.synchronize()
        return stats
