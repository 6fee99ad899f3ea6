"""Where a gradient search runs: its device and precision, and its share of each global batch.

One process or N ranks (``torchrun``, or ``--nproc`` through :func:`hwnas.train.launch_local`).
Every rank draws the global batches from the same seeded generator as one process would and
keeps its own slice of each, so N ranks see exactly the batches of one process. Every rank
also samples the same paths (the architecture generator is seeded alike and consumed alike).
The weights' and the architecture parameters' gradients are averaged over the ranks (data
parallelism by hand: each step trains another sampled path, and the architecture step runs the
supernet with frozen weights, which a DistributedDataParallel wrapper does not allow), so every
rank holds bit-identical weights and architecture parameters after every step.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, Sampler

from hwnas.train.distributed import Ranks


@dataclass(frozen=True)
class Placement:
    """Device, precision (``fp32`` | ``bf16`` | ``fp16``) and this process's ranks."""

    device: torch.device
    precision: str
    ranks: Ranks


class _RankSlices(Sampler):
    """Rank ``rank``'s contiguous slice of each global batch of ``batches``."""

    def __init__(self, batches: BatchSampler, rank: int, world: int):
        self.batches, self.rank, self.world = batches, rank, world

    def __iter__(self):
        for batch in self.batches:
            n = len(batch)
            if n < self.world:  # a rank would get nothing (only a last batch can be this small)
                continue
            yield batch[self.rank * n // self.world:(self.rank + 1) * n // self.world]

    def __len__(self) -> int:
        return len(self.batches)


def global_batches(dataset, batch_size: int, generator: torch.Generator,
                   ranks: Ranks, shuffle: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
    """One pass: ``(x, y, global_len)`` of this rank's part of each global batch.

    One process gets the loader it always had (``DataLoader(shuffle=True, generator=...)``);
    N ranks a loader that consumes ``generator`` exactly as that one does (a seed for workers,
    then one permutation), so the global batches are the same. A last batch smaller than the
    world (a rank would get no sample) is skipped on every rank.
    """
    n = len(dataset)
    if not ranks.distributed:
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)
        for x, y in loader:
            yield x, y, len(y)
        return
    sampler = RandomSampler(dataset, generator=generator) if shuffle else range(n)
    slices = _RankSlices(BatchSampler(sampler, batch_size, drop_last=False), ranks.rank,
                         ranks.world_size)
    steps = math.ceil(n / batch_size)
    for i, (x, y) in enumerate(DataLoader(dataset, batch_sampler=slices, generator=generator)):
        yield x, y, batch_size if i < steps - 1 else n - (steps - 1) * batch_size


def cycle(dataset, batch_size: int, generator: torch.Generator, ranks: Ranks):
    while True:
        yield from global_batches(dataset, batch_size, generator, ranks)


def share(loss: torch.Tensor, local_len: int, global_len: int, ranks: Ranks) -> torch.Tensor:
    """A rank's mean loss weighted so that the ranks' averaged gradients are the global batch's
    (slices of a last batch may differ in size by one); unchanged in one process."""
    if not ranks.distributed or local_len * ranks.world_size == global_len:
        return loss
    return loss * (local_len * ranks.world_size / global_len)


def average_grads(params, placement: Placement) -> bool:
    """Average the gradients of ``params`` over the ranks in one all-reduce; True when finite
    (always True in one process, which checks its loss before the backward pass).

    Every rank ends with the same (bit-identical) gradients, so the same finite verdict: a loss
    that became NaN on one rank stops every rank alike instead of leaving the others waiting.
    A parameter without a gradient (a path not sampled this step) has none on every rank.
    """
    ranks = placement.ranks
    grads = [p.grad for p in params if p.grad is not None] if ranks.distributed else []
    if not grads:  # one process checks its loss instead (the arithmetic of earlier versions)
        return True
    # NCCL carries device tensors only: CPU gradients (the architecture's) travel via the device
    flat = torch.cat([g.reshape(-1) for g in grads]).to(placement.device)
    dist.all_reduce(flat)
    flat /= ranks.world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()
    return bool(torch.isfinite(flat).all())


def broadcast_buffers(module: torch.nn.Module, ranks: Ranks) -> None:
    """Rank 0's BatchNorm running statistics on every rank (each rank saw only its slices)."""
    if ranks.distributed:
        for buffer in module.buffers():
            dist.broadcast(buffer, 0)
