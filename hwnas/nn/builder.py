"""Arch -> plain ``nn.Module``; parameter and multiply-accumulate counts."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hwnas.nn.cells import CellNetwork
from hwnas.nn.ops import build_op
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace
from hwnas.space.network import CellNet, LayerwiseNet, NetworkSpec


def build_model(space: SearchSpace, arch: Arch) -> nn.Module:
    """The plain network of ``arch`` (validated against ``space``), from the space's description."""
    return build_network(space.network(), space.indices(arch))


def build_network(net: NetworkSpec, indices: Sequence[int]) -> nn.Module:
    """The network of one choice index per position, wired as ``net``'s type says.

    A layerwise net is an ``nn.Sequential`` of its ops (a skipped layer leaves no module), so the
    modules are those of ``space.ops(arch)``, in order, which the latency table prices.
    """
    if isinstance(net, LayerwiseNet):
        return nn.Sequential(*[build_op(op, net.activation) for op in net.ops(indices)])
    if isinstance(net, CellNet):
        return CellNetwork(net, indices)
    raise TypeError(f"no builder for a network described as {type(net).__name__}")


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of one forward pass at batch 1 (convolutions and linear layers)."""
    total = 0

    def conv_hook(module: nn.Conv2d, _inp, out: torch.Tensor) -> None:
        nonlocal total
        k = module.kernel_size[0] * module.kernel_size[1]
        total += out.numel() * k * module.in_channels // module.groups

    def linear_hook(module: nn.Linear, _inp, out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * module.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        model(torch.zeros(1, *input_shape))
    model.train(was_training)
    for h in handles:
        h.remove()
    return total
