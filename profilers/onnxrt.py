"""``onnxruntime``: each op exported to its own ONNX model, run by an InferenceSession.

CPU execution provider (intra-op threads pinned, sequential execution, all graph optimisations);
the CUDA provider is used when onnxruntime reports it. Outputs are copied to host, so a
returned ``run`` call is a finished inference.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from hwnas.latency.profiler import Profiler
from runtimes.onnx import session, torch_to_onnx_any


class OnnxRuntimeProfiler(Profiler):
    name = "onnxruntime"
    extra = None  # a core dependency of hwnas

    @classmethod
    def available(cls) -> tuple[bool, str]:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return False, "onnxruntime is not installed (pip install onnxruntime)"
        return True, ""

    @staticmethod
    def providers() -> list[str]:
        import onnxruntime as ort

        have = ort.get_available_providers()
        return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in have]

    def runtime_version(self) -> str:
        import onnxruntime as ort

        return f"onnxruntime {ort.__version__} ({self.providers()[0]})"

    def device_detail(self) -> str:
        if self.device_kind() == "gpu":
            return torch.cuda.get_device_name(0)
        return super().device_detail()

    def device_kind(self) -> str:
        cuda = self.providers()[0] == "CUDAExecutionProvider" and torch.cuda.is_available()
        return "gpu" if cuda else "cpu"

    def prepare(self, model: nn.Module, input_shape: tuple[int, int, int]) -> Callable[[], object]:
        x = torch.randn(self.protocol.batch, *input_shape, generator=torch.Generator().manual_seed(0))
        sess = session(torch_to_onnx_any(model, x), threads=self.protocol.threads,
                       providers=self.providers(), flush_denormal=self.protocol.flush_denormal)
        name = sess.get_inputs()[0].name
        feed = {name: np.ascontiguousarray(x.numpy())}

        def run() -> object:
            return sess.run(None, feed)

        return run
