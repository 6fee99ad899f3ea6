"""The NAS-Bench-201 network for one cell genotype."""

from __future__ import annotations

import torch
from torch import nn

from hwnas.nn.ops import build_op
from hwnas.space.arch import Arch
from hwnas.space.nb201 import CELLS_PER_STAGE, NB201_EDGES, STAGE_CHANNELS, NB201Space


class NB201Cell(nn.Module):
    def __init__(self, space: NB201Space, arch: Arch, channels: int, size: int):
        super().__init__()
        self.edges = nn.ModuleList()
        self.active: list[bool] = []
        for token in arch.choices:
            op = space.edge_op(token, channels, size)
            self.active.append(op is not None)
            self.edges.append(build_op(op) if op is not None else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for to in (1, 2, 3):
            total = torch.zeros_like(x)
            for e, (dst, src) in enumerate(NB201_EDGES):
                if dst == to and self.active[e]:
                    total = total + self.edges[e](nodes[src])
            nodes.append(total)
        return nodes[3]


class NB201Network(nn.Sequential):
    def __init__(self, space: NB201Space, arch: Arch):
        stem, *_ = space.prefix_ops()
        reductions = space.reduction_ops()
        layers: list[nn.Module] = [build_op(stem)]
        for stage, (channels, size) in enumerate(zip(STAGE_CHANNELS, space.stage_sizes())):
            if stage > 0:
                layers.append(build_op(reductions[stage - 1]))
            layers += [NB201Cell(space, arch, channels, size) for _ in range(CELLS_PER_STAGE)]
        layers += [build_op(op) for op in space.suffix_ops()[len(reductions):]]
        super().__init__(*layers)
