"""int8 ExecuTorch: post-training static quantization through the PT2E flow for XNNPACK.

The module is captured with ``torch.export``, annotated by XNNPACK's quantizer (symmetric int8,
per-channel weights: what XNNPACK's int8 kernels take), calibrated, converted, and then lowered
like any float module (:func:`runtimes.executorch.lower_to_xnnpack`), which delegates the
quantized pattern (dq -> op -> q) to XNNPACK's int8 kernels.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from hwnas.errors import HwnasError


class _Quantized(nn.Module):
    """A plain module around the converted graph: ``.eval()`` returns it, as lowering expects."""

    def __init__(self, graph: nn.Module) -> None:
        super().__init__()
        self.inner = graph

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


def quantize_pt2e_int8(model: nn.Module, example: torch.Tensor, batches: Iterable[torch.Tensor]) -> nn.Module:
    """The int8 (PT2E, XNNPACK quantizer) version of eval-mode ``model``, calibrated on ``batches``."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    batches = list(batches)
    if not batches:
        raise HwnasError("int8 quantization needs at least one calibration batch",
                         "pass calibration data with training images")
    try:
        captured = torch.export.export(model.eval(), (example,)).module()
        quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
        prepared = prepare_pt2e(captured, quantizer)
        with torch.no_grad():
            for batch in batches:
                prepared(batch)
        converted = convert_pt2e(prepared)
        # the lowering calls .eval(), which an exported module refuses unless allowed (in place)
        allow_exported_model_train_eval(converted)
        return _Quantized(converted)
    except Exception as exc:  # noqa: BLE001 - torch.export / torchao raise assorted types
        raise HwnasError(f"ExecuTorch could not quantize the model to int8: "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                         "report the arch or op that failed") from None


def int8_classifier(model: nn.Module, example: torch.Tensor, batches, threads: int = 1):
    """A callable ``x -> logits`` (numpy, any batch size) running the PT2E int8 version of
    ``model`` lowered to XNNPACK in the ExecuTorch runtime, calibrated on ``batches`` (numpy):
    the program has a static batch of 1, so it is calibrated and run image by image."""
    import numpy as np

    from runtimes.executorch import load_forward, lower_to_xnnpack

    images = [torch.from_numpy(b[i:i + 1]) for b in batches for i in range(len(b))]
    quantized = quantize_pt2e_int8(model, example[:1], images)
    forward = load_forward(lower_to_xnnpack(quantized, example[:1]).buffer, threads)

    def run(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        return np.concatenate([forward([torch.from_numpy(x[i:i + 1])])[0].numpy() for i in range(len(x))])

    return run
