"""The NAS-Bench-201 cell space: 6 edges x 5 ops, one cell repeated in a fixed macro skeleton.

Macro: 3x3 conv stem (16 ch), three stages of 5 cells at 16/32/64 channels with a residual
reduction block between stages, BN-ReLU, global pooling, linear. A cell is a DAG over 4 nodes;
edge (j <- i) applies its op to node i and node j sums its incoming edges.
"""

from __future__ import annotations

import re

from hwnas.errors import SpaceError
from hwnas.space.arch import NB201_NOTATION, Arch, OpSpec
from hwnas.space.base import SearchSpace
from hwnas.space.network import CellNet, CellStage

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (to_node, from_node) of each edge in string order
NB201_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
STAGE_CHANNELS = (16, 32, 64)
CELLS_PER_STAGE = 5


class NB201Space(SearchSpace):
    family = "nb201"
    notation = NB201_NOTATION
    activation = "relu"

    def __init__(self, resolution: int = 32, num_classes: int = 10, name: str = "nb201"):
        self.name = name
        self.resolution = resolution
        self.num_classes = num_classes

    def choices(self) -> tuple[tuple[str, ...], ...]:
        return tuple(NB201_OPS for _ in NB201_EDGES)

    def position_label(self, position: int) -> str:
        to, frm = NB201_EDGES[position]
        return f"edge {position} (node {to} <- node {frm})"

    def stage_sizes(self) -> tuple[int, ...]:
        r = self.resolution
        return (r, -(-r // 2), -(-r // 4))

    def edge_op(self, token: str, channels: int, size: int) -> OpSpec | None:
        shape = (channels, size, size)
        if token == "none":
            return None
        if token == "skip_connect":
            return OpSpec("Identity", shape, (("Cout", channels),))
        if token == "avg_pool_3x3":
            return OpSpec("Pool", shape, (("Cout", channels), ("kernel", 3), ("stride", 1)))
        kernel = 1 if token == "nor_conv_1x1" else 3
        return OpSpec("ReLUConvBN", shape, (("Cout", channels), ("kernel", kernel), ("stride", 1)))

    def candidate_ops(self, position: int) -> tuple[tuple[OpSpec, ...], ...]:
        result = []
        for token in NB201_OPS:
            per_choice: list[OpSpec] = []
            for channels, size in zip(STAGE_CHANNELS, self.stage_sizes()):
                op = self.edge_op(token, channels, size)
                if op is not None:
                    per_choice += [op] * CELLS_PER_STAGE
            result.append(tuple(per_choice))
        return tuple(result)

    def prefix_ops(self) -> tuple[OpSpec, ...]:
        r = self.resolution
        return (OpSpec("ConvBN", (3, r, r), (("Cout", STAGE_CHANNELS[0]), ("kernel", 3), ("stride", 1))),)

    def reduction_ops(self) -> tuple[OpSpec, ...]:
        sizes = self.stage_sizes()
        return tuple(
            OpSpec("ResBlock", (STAGE_CHANNELS[i], sizes[i], sizes[i]), (("Cout", STAGE_CHANNELS[i + 1]),))
            for i in range(2)
        )

    def suffix_ops(self) -> tuple[OpSpec, ...]:
        c, s = STAGE_CHANNELS[-1], self.stage_sizes()[-1]
        return (
            *self.reduction_ops(),
            OpSpec("BNReLU", (c, s, s), (("Cout", c),)),
            OpSpec("AvgP", (c, s, s), (("Cout", c), ("kernel", s), ("stride", 1))),
            OpSpec("FC", (c, 1, 1), (("Cout", self.num_classes),)),
        )

    def network(self) -> CellNet:
        reductions = self.reduction_ops()
        stages = tuple(
            CellStage(
                reduction=reductions[stage - 1] if stage > 0 else None,
                cells=CELLS_PER_STAGE,
                choices=tuple(
                    tuple(self.edge_op(token, channels, size) for token in NB201_OPS) for _ in NB201_EDGES
                ),
            )
            for stage, (channels, size) in enumerate(zip(STAGE_CHANNELS, self.stage_sizes()))
        )
        # the reductions open stages 2 and 3; suffix_ops lists them first only for the latency sum
        suffix = self.suffix_ops()[len(reductions):]
        return CellNet(self.prefix_ops(), NB201_EDGES, stages, suffix, self.activation)

    def describe(self) -> dict:
        return {
            "family": self.family, "name": self.name, "resolution": self.resolution,
            "num_classes": self.num_classes, "ops": list(NB201_OPS),
            "stage_channels": list(STAGE_CHANNELS), "cells_per_stage": CELLS_PER_STAGE,
        }

    def parse(self, text: str) -> Arch:
        original, text = text, text.strip()  # stripped to name the parts; only the original parses
        nodes = text.split("+")
        if len(nodes) != 3:
            raise SpaceError(
                f"nb201 arch {text!r} has {len(nodes)} node groups, expected 3",
                "write it as |op~0|+|op~0|op~1|+|op~0|op~1|op~2|",
            )
        tokens: list[str] = []
        for node_index, group in enumerate(nodes, start=1):
            edges = [e for e in group.strip().strip("|").split("|")]
            if len(edges) != node_index:
                raise SpaceError(
                    f"nb201 arch: node {node_index} has {len(edges)} incoming edges, expected "
                    f"{node_index}", "write it as |op~0|+|op~0|op~1|+|op~0|op~1|op~2|",
                )
            for source, edge in enumerate(edges):
                match = re.fullmatch(r"([a-z_0-9x]+)~([0-9]+)", edge, re.ASCII)
                if not match or int(match.group(2)) != source:
                    raise SpaceError(
                        f"nb201 arch: edge {edge!r} into node {node_index} must read OP~{source}"
                    )
                tokens.append(match.group(1))
        arch = Arch(self.name, tuple(tokens), self.notation)
        return self._canonical(original, arch)
