"""Several ranks training one supernet: the same paths everywhere, gradients averaged by hand.

:func:`hwnas.evaluation.supernet_artifact.train_supernet` calls these between its steps; with one
process they do nothing.
"""

from __future__ import annotations

import torch
from torch import nn


def state_digest(state: dict) -> str:
    """sha256 over a state dict's names and tensor bytes (equal weights, equal digest)."""
    import hashlib

    h = hashlib.sha256()
    for name in sorted(state):
        h.update(name.encode())
        h.update(state[name].detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def average_gradients(net: nn.Module, ranks) -> None:
    """Mean of every rank's gradients. Every rank ran the same paths, so the same parameters
    hold a gradient on every rank and the flattened buffers line up."""
    if not ranks.distributed:
        return
    import torch.distributed as dist
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    grads = [p.grad for p in net.parameters() if p.grad is not None]
    if not grads:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= ranks.world_size
    for g, mean in zip(grads, _unflatten_dense_tensors(flat, grads)):
        g.copy_(mean)


def share_buffers(net: nn.Module, ranks) -> None:
    """BatchNorm running statistics of rank 0 on every rank (each rank saw its own slices)."""
    if ranks.distributed:
        import torch.distributed as dist

        for buf in net.buffers():
            dist.broadcast(buf, 0)


def mean_over_ranks(value: float, device, ranks) -> float:
    from hwnas.train.distributed import all_sum

    return all_sum([value], device, ranks)[0] / ranks.world_size
