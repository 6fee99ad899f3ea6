"""BatchNorm recalibration: give BN layers real running statistics from a few data batches.

Needed in two places: one-shot evaluation (a subnet inherits shared weights whose BN statistics
belong to the supernet's mixture) and export parity checks (a fresh net's default statistics make
every output near zero, so a comparison would prove nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable[torch.Tensor],
                   forward: Callable[[torch.Tensor], torch.Tensor] | None = None) -> nn.Module:
    """Reset every BN layer's running stats and re-estimate them as a cumulative average.

    ``batches`` yields input tensors (CPU ones are moved to the model's device, where the
    recalibration runs); ``forward`` defaults to ``model`` (pass a closure to run a supernet
    with fixed gates). The model is left in eval mode.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average over the batches seen
    model.train()
    run = forward or model
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    for x in batches:
        run(x.to(device, non_blocking=True))
    for bn, momentum in zip(bns, saved):
        bn.momentum = momentum
    model.eval()
    return model


def input_batches(data, count: int, batch_size: int = 64, split: str = "train",
                  seed: int = 0) -> list[torch.Tensor]:
    """``count`` input batches of a DataBundle split, drawn in a seeded shuffled order.

    Never the split's first images in file order: an image folder lists its images class by
    class, so the first batches of CIFAR's train/ hold airplanes only, and BatchNorm statistics
    (or int8 ranges) calibrated on them misjudge every other class.
    """
    out = []
    order = torch.Generator().manual_seed(seed)
    for x, _ in data.loader(split, batch_size, generator=order, shuffle=True):
        out.append(x)
        if len(out) == count:
            break
    return out
