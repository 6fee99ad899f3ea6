"""Measuring an op *in context*: ``T(carrier_in + op + carrier_out) - T(carrier_in + carrier_out)``.

Timed alone, an op pays what it never pays inside a network: the runtime's per-call overhead,
copying its input in and its output out, and (on graph runtimes such as onnxruntime or XNNPACK)
converting tensors into and out of the runtime's internal layout (e.g. ORT's NCHWc reorders),
which inside a network happens once at the network's edges. Sandwiching the op between two cheap
1x1 "carrier" layers and subtracting the carriers alone leaves the op's cost as a network sees it.
The carriers are per-channel (depthwise 1x1 convs, a per-feature scale after the classifier): a
difference of two timings is only as precise as the timings, so the carriers must cost little
next to the op, at every channel count.
"""

from __future__ import annotations

import torch
from torch import nn

#: carrier layers: ``depthwise`` (a per-channel 1x1 conv, cost linear in channels) since issue
#: 17; tables made before it used ``dense`` (a full CxC 1x1 conv) and record no carrier
CARRIER = "depthwise"


def _carrier(shape: tuple[int, ...], seed: int) -> nn.Module:
    """A per-channel 1x1 layer: a real op of the runtime (so layout conversions happen at the
    sandwich's edges, as at a network's), whose cost grows with C, not C^2. A dense CxC 1x1
    conv at 7x7x1280 costs 4x the head conv it brackets: measured at load 22, the difference
    drowned in the carriers' noise and the head conv's entry clipped to 0 ms (in network 0.97
    ms), and the classifier's read 0.77 ms against 0.46 ms in network."""
    g = torch.Generator().manual_seed(seed)
    if len(shape) == 3:  # (C, H, W)
        layer: nn.Module = nn.Conv2d(shape[0], shape[0], 1, groups=shape[0])
    else:  # (D,): after the classifier
        layer = _Scale(shape[0])
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
    return layer


class _Scale(nn.Module):
    """``x * w + b`` per feature: the vector carrier (a DxD linear would cost D^2)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight + self.bias


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
