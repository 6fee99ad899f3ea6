"""Measuring an op *in context*: ``T(carrier_in + op + carrier_out) - T(carrier_in + carrier_out)``.

Timed alone, an op pays what it never pays inside a network: the runtime's per-call overhead,
copying its input in and its output out, and (on graph runtimes such as onnxruntime or XNNPACK)
converting tensors into and out of the runtime's internal layout (e.g. ORT's NCHWc reorders),
which inside a network happens once at the network's edges. Sandwiching the op between two cheap
1x1 "carrier" layers and subtracting the carriers alone leaves the op's cost as a network sees it.
"""

from __future__ import annotations

import torch
from torch import nn


def _carrier(shape: tuple[int, ...], seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    if len(shape) == 3:  # (C, H, W)
        layer: nn.Module = nn.Conv2d(shape[0], shape[0], 1)
    else:  # (D,): after the classifier
        layer = nn.Linear(shape[0], shape[0])
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (1.0 / max(1, shape[0]) ** 0.5))
    return layer


def output_shape(module: nn.Module, in_shape: tuple[int, int, int]) -> tuple[int, ...]:
    with torch.inference_mode():
        return tuple(module.eval()(torch.zeros(1, *in_shape)).shape[1:])


def sandwich(module: nn.Module, in_shape: tuple[int, int, int]) -> tuple[nn.Module, nn.Module, tuple]:
    """(carrier_in + op + carrier_out, carrier_in + carrier_out, key of the carrier pair)."""
    out = output_shape(module, in_shape)
    pair_key = (tuple(in_shape), out)
    with_op = nn.Sequential(_carrier(tuple(in_shape), 1), module, _carrier(out, 2)).eval()
    if tuple(in_shape) == out:
        bare = nn.Sequential(_carrier(tuple(in_shape), 1), _carrier(out, 2)).eval()
    else:
        # shapes differ: the bare pair needs the cheapest reshaping in between; the op's own cost
        # is measured above it. A 1x1 conv/linear at the carrier-out shape fed by a strided or
        # pooled view keeps the pair comparable.
        bare = nn.Sequential(_carrier(tuple(in_shape), 1), _Reshaper(tuple(in_shape), out),
                             _carrier(out, 2)).eval()
    return with_op, bare, pair_key


class _Reshaper(nn.Module):
    """Cheapest map from ``in_shape`` to ``out`` (adaptive pool + channel slice/pad)."""

    def __init__(self, in_shape: tuple[int, int, int], out: tuple[int, ...]) -> None:
        super().__init__()
        self.in_shape, self.out = in_shape, out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if len(self.out) == 1:
            return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)[:, : self.out[0]].contiguous() \
                if x.shape[1] >= self.out[0] else nn.functional.pad(
                    torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1), (0, self.out[0] - x.shape[1]))
        c, h, w = self.out
        if (h, w) != tuple(x.shape[2:]):
            x = nn.functional.avg_pool2d(x, x.shape[2] // h) if x.shape[2] % h == 0 else \
                nn.functional.adaptive_avg_pool2d(x, (h, w))
        if x.shape[1] > c:
            x = x[:, :c]
        elif x.shape[1] < c:
            x = torch.cat([x] * (c // x.shape[1]) + [x[:, : c % x.shape[1]]], 1)
        return x
