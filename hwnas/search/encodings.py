"""Arch encodings that see the structure of the space, and its one-edit neighbourhood.

A cell space (NB201) is a DAG whose edges carry ops; ``none`` cuts an edge. What a cell computes
is the set of input-to-output paths that survive, each with its sequence of ops: the *path
encoding* of BANANAS (White et al. 2021). One-hot features alone are additive per edge, so they
cannot express that a ``none`` on one edge silences the conv on the next; path features can (a
path's feature is 1 only if none of its edges is ``none``). For other spaces the encoding is the
one-hot choices plus adjacent pairs (``hwnas.search.surrogate.encode``).

Example:
    >>> import numpy as np
    >>> from hwnas.space import get_space
    >>> structure_encoding(get_space("nb201"), np.zeros((1, 6), dtype=int)).shape
    (1, 130)
"""

from __future__ import annotations

import itertools

import numpy as np

from hwnas.search.surrogate import encode
from hwnas.space.base import SearchSpace
from hwnas.space.nb201 import NB201_EDGES, NB201_OPS, NB201Space


def cell_paths(edges: tuple[tuple[int, int], ...]) -> list[tuple[int, ...]]:
    """Every path from node 0 to the last node, as a tuple of edge positions (shortest first)."""
    last = max(to for to, _ in edges)
    paths: list[tuple[int, ...]] = []

    def walk(node: int, taken: tuple[int, ...]) -> None:
        if node == last:
            paths.append(taken)
            return
        for position, (to, src) in enumerate(edges):
            if src == node:
                walk(to, (*taken, position))

    walk(0, ())
    return sorted(paths, key=lambda p: (len(p), p))


def path_encoding(index_rows: np.ndarray, edges, num_ops: int, cut: int) -> np.ndarray:
    """One binary feature per (path, sequence of non-cutting ops): 1 if the cell has it."""
    rows = np.asarray(index_rows, dtype=int)
    live = [j for j in range(num_ops) if j != cut]
    rank = np.full(num_ops, -1)
    rank[live] = np.arange(len(live))
    blocks = []
    for path in cell_paths(edges):
        ops = rank[rows[:, list(path)]]                      # (n, len(path)), -1 where cut
        alive = (ops >= 0).all(axis=1)
        code = np.zeros(len(rows), dtype=int)
        for k in range(len(path)):
            code = code * len(live) + np.clip(ops[:, k], 0, None)
        block = np.zeros((len(rows), len(live) ** len(path)), dtype=np.float32)
        block[np.flatnonzero(alive), code[alive]] = 1.0
        blocks.append(block)
    return np.concatenate(blocks, axis=1)


def structure_encoding(space: SearchSpace, index_rows: np.ndarray) -> np.ndarray:
    """One-hot choices plus path features for a cell space, plus adjacent pairs otherwise."""
    rows = np.asarray(index_rows, dtype=int).reshape(-1, space.num_positions)
    if isinstance(space, NB201Space):
        return np.hstack([encode(space, rows),
                          path_encoding(rows, NB201_EDGES, len(NB201_OPS), NB201_OPS.index("none"))])
    return encode(space, rows, pairs=True)


def neighbours(space: SearchSpace, row: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Every one-edit neighbour of ``row`` (choice indices), position by position."""
    out = []
    for p, choices in enumerate(space.choices()):
        for j in range(len(choices)):
            if j != row[p]:
                out.append((*row[:p], j, *row[p + 1:]))
    return out


def all_rows(space: SearchSpace) -> np.ndarray:
    """Every arch of a small space as rows of choice indices (for exhaustive acquisition)."""
    return np.array(list(itertools.product(*(range(len(c)) for c in space.choices()))), dtype=int)
