"""Networks of a :class:`~hwnas.space.network.CellNet` (NB201): one arch's, and the supernet."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hwnas.nn.mixed import Gate, MixedOp, Supernet, Zero
from hwnas.nn.ops import build_op
from hwnas.space.base import SearchSpace
from hwnas.space.network import CellNet, CellStage


def _sum_nodes(x: torch.Tensor, net: CellNet, edge_out) -> torch.Tensor:
    """Node ``n`` sums ``edge_out(e, node)`` over its incoming edges; the cell returns the last node."""
    nodes = [x]
    for to in range(1, net.num_nodes):
        total = torch.zeros_like(x)
        for e, (dst, src) in enumerate(net.edges):
            if dst == to:
                out = edge_out(e, nodes[src])
                if out is not None:
                    total = total + out
        nodes.append(total)
    return nodes[-1]


class Cell(nn.Module):
    """One cell of one arch; an edge whose choice outputs zeros holds a placeholder and is skipped."""

    def __init__(self, net: CellNet, stage: CellStage, indices: Sequence[int]):
        super().__init__()
        self.net = net
        self.edges = nn.ModuleList()
        self.active: list[bool] = []
        for e, j in enumerate(indices):
            op = stage.choices[e][j]
            self.active.append(op is not None)
            self.edges.append(build_op(op, net.activation) if op is not None else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _sum_nodes(x, self.net, lambda e, h: self.edges[e](h) if self.active[e] else None)


class CellNetwork(nn.Sequential):
    """Stem, then per stage its reduction and cells, then the suffix, as one flat sequence."""

    def __init__(self, net: CellNet, indices: Sequence[int]):
        act = net.activation
        layers: list[nn.Module] = [build_op(op, act) for op in net.stem]
        for stage in net.stages:
            if stage.reduction is not None:
                layers.append(build_op(stage.reduction, act))
            layers += [Cell(net, stage, indices) for _ in range(stage.cells)]
        layers += [build_op(op, act) for op in net.suffix]
        super().__init__(*layers)


class MixedCell(nn.Module):
    """One cell holding a mixed op per edge (``Zero`` for a choice that outputs zeros)."""

    def __init__(self, net: CellNet, stage: CellStage):
        super().__init__()
        self.net = net
        self.edges = nn.ModuleList(
            MixedOp([build_op(op, net.activation) if op is not None else Zero() for op in per_choice])
            for per_choice in stage.choices
        )

    def forward(self, x: torch.Tensor, gates: Sequence[Gate]) -> torch.Tensor:
        return _sum_nodes(x, self.net, lambda e, h: self.edges[e](h, gates[e]))


class CellBody(nn.Module):
    def __init__(self, net: CellNet):
        super().__init__()
        act = net.activation
        self.layers = nn.ModuleList([build_op(op, act) for op in net.stem])
        for stage in net.stages:
            if stage.reduction is not None:
                self.layers.append(build_op(stage.reduction, act))
            self.layers.extend(MixedCell(net, stage) for _ in range(stage.cells))
        self.layers.extend(build_op(op, act) for op in net.suffix)

    def forward(self, x: torch.Tensor, gates: Sequence[Gate]) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, gates) if isinstance(layer, MixedCell) else layer(x)
        return x


class CellSupernet(Supernet):
    """Every cell holds a mixed op per edge; all cells share the gates (one per edge)."""

    def __init__(self, space: SearchSpace, net: CellNet):
        super().__init__(space)
        self.net = net
        self.body = CellBody(net)

    def run(self, x: torch.Tensor, gates: Sequence[Gate]) -> torch.Tensor:
        return self.body(x, gates)

    def extract_indices(self, indices: Sequence[int]) -> nn.Module:
        subnet = CellNetwork(self.net, indices)
        for target, source in zip(subnet, self.body.layers):
            if isinstance(source, MixedCell):
                for e, j in enumerate(indices):
                    if target.active[e]:
                        target.edges[e].load_state_dict(source.edges[e].candidates[j].state_dict())
            else:
                target.load_state_dict(source.state_dict())
        return subnet
