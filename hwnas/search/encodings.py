"""Arch encodings that see the structure of the space, and its one-edit neighbourhood.

A cell space (NB201) is a DAG whose edges carry ops; ``none`` cuts an edge. What a cell computes
is the set of input-to-output paths that survive, each with its sequence of ops: the *path
encoding* of BANANAS (White et al. 2021). One-hot features alone are additive per edge, so they
cannot express that a ``none`` on one edge silences the conv on the next; path features can (a
path's feature is 1 only if none of its edges is ``none``). For other spaces the encoding is the
one-hot choices plus adjacent pairs (``hwnas.search.surrogate.encode``). ``cell_summary`` adds
counts shared by many cells (live paths, live and dead ops, convolutions along the deepest live
path, a residual's depth), which a model fitted on 100 archs can learn from where it sees each
path feature once.

Example:
    >>> import numpy as np
    >>> from hwnas.space import get_space
    >>> structure_encoding(get_space("nb201"), np.zeros((1, 6), dtype=int)).shape
    (1, 130)
"""

from __future__ import annotations

import itertools
import re

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


def live_edges(index_rows: np.ndarray, edges, cut: int) -> tuple[np.ndarray, np.ndarray]:
    """Which input-output paths survive (n, paths; in ``cell_paths`` order) and which edges are
    live (n, edges): on a surviving path. An op on any other edge changes nothing."""
    rows = np.asarray(index_rows, dtype=int)
    paths = cell_paths(edges)
    alive = np.stack([(rows[:, list(p)] != cut).all(axis=1) for p in paths], axis=1)
    live = np.zeros(rows.shape, dtype=bool)
    for j, path in enumerate(paths):
        live[:, list(path)] |= alive[:, [j]]
    return alive, live


def cell_summary(index_rows: np.ndarray, edges, ops: tuple[str, ...], cut: int) -> np.ndarray:
    """A few counts of what a cell computes, unscaled: live paths, ops on live and on dead edges,
    the convolutions along the deepest live path, a residual's depth, the squares of the op counts.

    Path features name each (path, op sequence) once, so 100 evaluations see few of them twice;
    these counts are shared by many cells, so a ridge on them learns "more live 3x3 convolutions,
    deeper" from few samples. An edge is live when it lies on a path of non-cutting ops from the
    input to the output; ops on dead edges cost latency and change nothing, so they are counted
    apart. The residual's depth is the deepest live path's convolution count when an all-skip
    path joins the input to the output (a ResNet block), else 0: on the real NB201 pairs a skip
    from input to output lowers accuracy on average (CIFAR-100: 62.0 % mean against 67.0 % for a
    3x3 conv there) yet is in each of the 50 best CIFAR-100 cells (37 of 50 on ImageNet16-120),
    beside a chain of convolutions - a product that neither the counts nor the edge pairs hold,
    and that a search fitted on 100 archs otherwise learns only if its early asks try it.
    """
    rows = np.asarray(index_rows, dtype=int)
    paths = cell_paths(edges)
    alive, live = live_edges(rows, edges, cut)
    conv = np.array(["conv" in op for op in ops])
    kernels = [int(m.group(1)) if (m := re.search(r"(\d+)x\d+", op)) and "conv" in op else 0
               for op in ops]
    widest = int(np.argmax(kernels)) if max(kernels) > 0 else None  # the largest-kernel conv

    def along(mask: np.ndarray) -> np.ndarray:  # per live path: how many of its ops are in mask
        return np.stack([np.where(alive[:, j], mask[rows[:, list(p)]].sum(axis=1), 0)
                         for j, p in enumerate(paths)], axis=1)

    counts = [((rows == j) & state).sum(axis=1) for j in range(len(ops)) if j != cut
              for state in (live, ~live)]
    deep = along(conv)
    wide = along(np.arange(len(ops)) == widest) if widest is not None else deep * 0
    pool = along(np.array(["pool" in op for op in ops]))
    # an identity path: a live path whose every op is a skip
    identity = (along(np.array(["skip" in op for op in ops])) == [len(p) for p in paths]).any(axis=1)
    feats = [alive.sum(axis=1), alive.any(axis=1), *counts, deep.max(axis=1), wide.max(axis=1),
             deep.sum(axis=1), wide.sum(axis=1), pool.sum(axis=1), (alive & (deep == 0)).sum(axis=1),
             identity * deep.max(axis=1)]
    base = np.stack(feats, axis=1).astype(np.float64)
    return np.hstack([base, base[:, 2:2 + len(counts)] ** 2])


_SUMMARY_SCALE: dict[str, np.ndarray] = {}


def _nb201_summary(space: NB201Space, rows: np.ndarray) -> np.ndarray:
    """The summary of NB201 cells, each column divided by its spread over the whole space (a fixed
    scale, so a row's features never depend on which other rows are encoded with it)."""
    args = (NB201_EDGES, NB201_OPS, NB201_OPS.index("none"))
    if "nb201" not in _SUMMARY_SCALE:  # every NB201 space has the same cells
        _SUMMARY_SCALE["nb201"] = cell_summary(all_rows(space), *args).std(axis=0) + 1e-9
    return (cell_summary(rows, *args) / _SUMMARY_SCALE["nb201"]).astype(np.float32)


ENCODINGS = ("path", "path+summary", "path+summary+pairs")


def structure_encoding(space: SearchSpace, index_rows: np.ndarray, kind: str = "path") -> np.ndarray:
    """One-hot choices plus path features for a cell space (``path+summary``: and the cell
    summary; ``path+summary+pairs``: and the ops of every two edges, one-hot), plus adjacent
    pairs otherwise."""
    rows = np.asarray(index_rows, dtype=int).reshape(-1, space.num_positions)
    if isinstance(space, NB201Space):
        blocks = [encode(space, rows),
                  path_encoding(rows, NB201_EDGES, len(NB201_OPS), NB201_OPS.index("none"))]
        if kind.startswith("path+summary"):
            blocks.append(_nb201_summary(space, rows))
        if kind.endswith("+pairs"):  # every two edges' ops together: interactions
            k = len(NB201_OPS)
            blocks += [np.eye(k * k, dtype=np.float32)[rows[:, i] * k + rows[:, j]]
                       for i, j in itertools.combinations(range(rows.shape[1]), 2)]
        return np.hstack(blocks)
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
