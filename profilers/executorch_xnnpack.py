"""``executorch``: the module lowered with the XNNPACK partitioner (what phones run), on this host.

Lowering, program loading and the process-wide threadpool size are :mod:`runtimes.executorch`'s
(shared with the exporter, so both see one threadpool setting per process).

``dtype="int8"``: each op is quantized through the PT2E flow with XNNPACK's quantizer
(:func:`runtimes.executorch_int8.quantize_pt2e_int8`: symmetric int8, per-channel weights) before
it is lowered, calibrated on batches of its exact input shape from a generator seeded with the
protocol's seed (an op alone has no real activations; int8 kernel time depends on shapes only).
"""

from __future__ import annotations

import torch
from torch import nn

from hwnas.latency.measure import Runner, pin_to_core
from hwnas.latency.profiler import Profiler
from runtimes import executorch as et

CALIBRATION_BATCHES = 4


class ExecuTorchProfiler(Profiler):
    name = "executorch"
    extra = "mobile"
    dtypes = ("float32", "int8")

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
        if self.dtype == "int8":
            from runtimes.executorch_int8 import quantize_pt2e_int8

            gen = torch.Generator().manual_seed(self.protocol.seed)
            model = quantize_pt2e_int8(model, x, [torch.randn(x.shape, generator=gen)
                                                  for _ in range(CALIBRATION_BATCHES)])
        forward = et.load_forward(et.lower_to_xnnpack(model, x).buffer, self.protocol.threads)
        inputs = (x,)

        def run() -> object:
            return forward(inputs)

        return run
