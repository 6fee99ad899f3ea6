"""``torch-cuda``: PyTorch eager on a CUDA GPU, each run timed with CUDA events + synchronize."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hwnas.latency.profiler import Profiler, cuda_missing


def cuda_event_block(fn: Callable[[], object], count: int) -> list[float]:
    """``count`` runs of ``fn``, each bracketed by CUDA events on the current stream (ms)."""
    out = []
    for _ in range(count):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        out.append(float(start.elapsed_time(end)))
    return out


class TorchCUDAProfiler(Profiler):
    name = "torch-cuda"
    extra = None
    needs_cuda = True

    @classmethod
    def available(cls) -> tuple[bool, str]:
        missing = cuda_missing()
        return (False, missing[0]) if missing is not None else (True, "")

    def device_kind(self) -> str:
        return "gpu"

    def runtime_version(self) -> str:
        return f"torch {torch.__version__} (CUDA {torch.version.cuda})"

    def device_detail(self) -> str:
        return torch.cuda.get_device_name(0)

    def setup(self) -> None:
        torch.backends.cudnn.benchmark = True  # pick the kernel once, during warm-up

    def prepare(self, model: nn.Module, input_shape: tuple[int, int, int]) -> Callable[[], object]:
        model = model.eval().to("cuda")
        x = torch.randn(self.protocol.batch, *input_shape, generator=torch.Generator().manual_seed(0))
        x = x.to("cuda")

        def run() -> object:
            with torch.inference_mode():
                return model(x)

        return run

    def timed_block(self):
        return cuda_event_block

    def time_runner(self, runner: Callable[[], object]):
        torch.cuda.synchronize()
        return super().time_runner(runner)
