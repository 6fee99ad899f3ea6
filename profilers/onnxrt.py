"""``onnxruntime``: each op exported to its own ONNX model, run by an InferenceSession.

CPU execution provider (intra-op threads pinned, sequential execution, all graph optimisations);
the CUDA provider is used when onnxruntime reports it. Outputs are copied to host, so a
returned ``run`` call is a finished inference.

``dtype="int8"`` (``hwnas profile --dtype int8``): each op's ONNX model is statically quantized
(:func:`runtimes.onnx_int8.quantize_int8`: QDQ, per-channel int8 weights) before it is timed with
the same protocol. Calibration batches of the op's exact input shape come from a generator seeded
with the protocol's seed (N(0, 1) values, the scale after BatchNorm): an op alone has no real
activations, and int8 kernel time does not depend on the calibrated ranges, only on the shapes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from hwnas.latency.profiler import Profiler
from runtimes.onnx import session, torch_to_onnx_any
from runtimes.onnx_int8 import quantize_int8, seeded_batches

CALIBRATION_BATCHES = 4  # of the protocol's batch size; MinMax ranges settle within a few


class OnnxRuntimeProfiler(Profiler):
    name = "onnxruntime"
    extra = None  # a core dependency of hwnas
    dtypes = ("float32", "int8")

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
        graph = torch_to_onnx_any(model, x)
        if self.dtype == "int8":
            graph = quantize_int8(graph, seeded_batches(tuple(x.shape), CALIBRATION_BATCHES,
                                                        self.protocol.seed))
        sess = session(graph, threads=self.protocol.threads,
                       providers=self.providers(), flush_denormal=self.protocol.flush_denormal)
        name = sess.get_inputs()[0].name
        feed = {name: np.ascontiguousarray(x.numpy())}

        def run() -> object:
            return sess.run(None, feed)

        return run
