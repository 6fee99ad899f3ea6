"""Arch -> plain ``nn.Module``; parameter and multiply-accumulate counts."""

from __future__ import annotations

import torch
from torch import nn

from hwnas.nn.ops import build_op
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace


def build_model(space: SearchSpace, arch: Arch) -> nn.Module:
    """The network of ``arch``: the space's operators, in order, built from their ``OpSpec``."""
    if space.family == "nb201":
        from hwnas.nn.nb201 import NB201Network

        space.validate(arch)
        return NB201Network(space, arch)
    act = getattr(space, "activation", "relu6")
    return nn.Sequential(*[build_op(op, act) for op in space.ops(arch)])


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
