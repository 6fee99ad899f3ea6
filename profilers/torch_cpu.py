"""``torch-cpu``: PyTorch eager on the CPU, inference mode, fixed intra-op thread count."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hwnas.latency.measure import pin_to_core
from hwnas.latency.profiler import Profiler


class TorchCPUProfiler(Profiler):
    name = "torch-cpu"
    extra = None

    @classmethod
    def available(cls) -> tuple[bool, str]:
        return True, ""

    def runtime_version(self) -> str:
        return f"torch {torch.__version__}"

    def setup(self) -> None:
        pin_to_core(self.protocol)
        torch.set_num_threads(self.protocol.threads)

    def prepare(self, model: nn.Module, input_shape: tuple[int, int, int]) -> Callable[[], object]:
        model = model.eval()
        x = torch.randn(self.protocol.batch, *input_shape, generator=torch.Generator().manual_seed(0))

        def run() -> object:
            with torch.inference_mode():
                return model(x)

        return run
