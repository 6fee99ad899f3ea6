"""``executorch``: the module lowered with the XNNPACK partitioner (what phones run), on this host.

Lowering, program loading and the process-wide threadpool size are :mod:`runtimes.executorch`'s
(shared with the exporter, so both see one threadpool setting per process).
"""

from __future__ import annotations

import torch
from torch import nn

from hwnas.latency.measure import Runner, pin_to_core
from hwnas.latency.profiler import Profiler
from runtimes import executorch as et


class ExecuTorchProfiler(Profiler):
    name = "executorch"
    extra = "mobile"

    @classmethod
    def available(cls) -> tuple[bool, str]:
        reason = et.unavailable_reason()
        return (False, reason) if reason else (True, "")  # get_profiler adds the fix (the extra)

    def runtime_version(self) -> str:
        return f"executorch {et.version() or 'unknown'} (XNNPACK)"

    def setup(self) -> None:
        pin_to_core(self.protocol)
        torch.set_num_threads(self.protocol.threads)
        et.set_threads_once(self.protocol.threads)

    def prepare(self, model: nn.Module, input_shape: tuple[int, int, int]) -> Runner:
        self.setup()
        x = torch.randn(self.protocol.batch, *input_shape, generator=torch.Generator().manual_seed(0))
        forward = et.load_forward(et.lower_to_xnnpack(model, x).buffer, self.protocol.threads)
        inputs = (x,)

        def run() -> object:
            return forward(inputs)

        return run
