"""The NB201 supernet body: every cell holds a mixed op per edge; all cells share the gates."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hwnas.nn.nb201 import NB201Cell, NB201Network
from hwnas.nn.ops import build_op
from hwnas.nn.supernet import Gate, MixedOp, Zero
from hwnas.space.arch import Arch
from hwnas.space.nb201 import CELLS_PER_STAGE, NB201_EDGES, NB201_OPS, STAGE_CHANNELS, NB201Space


class MixedCell(nn.Module):
    def __init__(self, space: NB201Space, channels: int, size: int):
        super().__init__()
        self.edges = nn.ModuleList()
        for _ in NB201_EDGES:
            candidates = []
            for token in NB201_OPS:
                op = space.edge_op(token, channels, size)
                candidates.append(build_op(op) if op is not None else Zero())
            self.edges.append(MixedOp(candidates))

    def forward(self, x: torch.Tensor, gates: Sequence[Gate]) -> torch.Tensor:
        nodes = [x]
        for to in (1, 2, 3):
            total = torch.zeros_like(x)
            for e, (dst, src) in enumerate(NB201_EDGES):
                if dst == to:
                    total = total + self.edges[e](nodes[src], gates[e])
            nodes.append(total)
        return nodes[3]


class NB201Body(nn.Module):
    def __init__(self, space: NB201Space):
        super().__init__()
        self.space = space
        stem, *_ = space.prefix_ops()
        reductions = space.reduction_ops()
        self.layers = nn.ModuleList([build_op(stem)])
        for stage, (channels, size) in enumerate(zip(STAGE_CHANNELS, space.stage_sizes())):
            if stage > 0:
                self.layers.append(build_op(reductions[stage - 1]))
            self.layers.extend(MixedCell(space, channels, size) for _ in range(CELLS_PER_STAGE))
        self.layers.extend(build_op(op) for op in space.suffix_ops()[len(reductions):])

    def forward(self, x: torch.Tensor, gates: Sequence[Gate]) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, gates) if isinstance(layer, MixedCell) else layer(x)
        return x

    def extract(self, arch: Arch, indices: Sequence[int]) -> nn.Module:
        net = NB201Network(self.space, arch)
        for target, source in zip(net, self.layers):
            if isinstance(source, MixedCell):
                assert isinstance(target, NB201Cell)
                for e, j in enumerate(indices):
                    if target.active[e]:
                        target.edges[e].load_state_dict(source.edges[e].candidates[j].state_dict())
            else:
                target.load_state_dict(source.state_dict())
        return net
