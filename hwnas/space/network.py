"""What network a space builds, as plain frozen data; ``hwnas.nn`` turns it into modules.

A space declares its network with :meth:`SearchSpace.network`, holding *every* choice, so one
description serves both the weight-sharing supernet (all choices) and the plain network of one
arch (a choice index per position). The ``OpSpec`` values are those the latency table is keyed
by, so a table and a network cannot disagree about shapes. The shape of the description says how
to wire it: a :class:`LayerwiseNet` is a chain of layers, a :class:`CellNet` repeats one DAG
cell. The nn layer dispatches on these types; a new wiring is a new type here and a builder there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hwnas.space.arch import OpSpec

ACTIVATIONS = ("relu", "relu6")


def _check_activation(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")


@dataclass(frozen=True)
class LayerwiseNet:
    """A chain: fixed ``prefix`` ops, one op per searchable position, fixed ``suffix`` ops.

    ``choices[position][choice]`` is the op of that choice, or ``None`` where the choice skips the
    layer (mbconv's *zero*). ``activation`` is that of the conv-norm ops (``relu`` or ``relu6``).
    """

    prefix: tuple[OpSpec, ...]
    choices: tuple[tuple[OpSpec | None, ...], ...]
    suffix: tuple[OpSpec, ...]
    activation: str

    def __post_init__(self) -> None:
        _check_activation(self.activation)

    def ops(self, indices: Sequence[int]) -> tuple[OpSpec, ...]:
        """The chain of one arch, skipped layers left out."""
        chosen = (self.choices[p][int(j)] for p, j in enumerate(indices))
        return (*self.prefix, *(op for op in chosen if op is not None), *self.suffix)


@dataclass(frozen=True)
class CellStage:
    """``cells`` copies of the cell after an optional ``reduction`` op.

    ``choices[edge][choice]`` is the op an edge runs for that choice at this stage's shape, or
    ``None`` where the edge outputs zeros (NB201's ``none``).
    """

    reduction: OpSpec | None
    cells: int
    choices: tuple[tuple[OpSpec | None, ...], ...]


@dataclass(frozen=True)
class CellNet:
    """``stem`` ops, stages of one repeated DAG cell, ``suffix`` ops.

    A searchable position is an edge of the cell; every cell of every stage uses the same choice
    on it. ``edges[e] = (to_node, from_node)``: node 0 is the cell's input, a node sums its
    incoming edges (in edge order) and the cell outputs its last node.
    """

    stem: tuple[OpSpec, ...]
    edges: tuple[tuple[int, int], ...]
    stages: tuple[CellStage, ...]
    suffix: tuple[OpSpec, ...]
    activation: str

    def __post_init__(self) -> None:
        _check_activation(self.activation)
        for stage in self.stages:
            if len(stage.choices) != len(self.edges):
                raise ValueError(f"a stage has {len(stage.choices)} edge choices, the cell {len(self.edges)}")
        if any(not 0 <= frm < to for to, frm in self.edges):
            raise ValueError(f"cell edges must go from a lower node to a higher one: {self.edges}")

    @property
    def num_nodes(self) -> int:
        return 1 + max(to for to, _ in self.edges)


NetworkSpec = LayerwiseNet | CellNet
