"""Interleaved measurement of many items (ops of a table, archs of a validation sample).

Timing each item in one long block lets the machine's drift (frequency, other processes) land on
some items and not others. Here every item is prepared once, then ``rounds`` rounds visit all
items in a freshly shuffled order, each round timing ``per_round`` runs of every item; an item's
figure is the median of its round medians. A reference runner (the runtime's per-call overhead,
an identity model) is timed in every round too: its median is the call overhead, its round-to-
round spread the drift record.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hwnas.latency.table import OpStats

Runner = Callable[[], object]


@dataclass(frozen=True)
class InterleavedResult:
    stats: list[OpStats]            # per item: p50 = median of round medians; p10/p90 pooled
    round_medians: np.ndarray       # (rounds, items)
    reference_ms: float             # median of the reference runner's round medians (0 if none)
    reference_rounds: list[float]   # the reference's median per round (drift record)


def per_round_runs(runs: int, rounds: int) -> int:
    return max(5, math.ceil(runs / rounds))


def measure_interleaved(runners: Sequence[Runner], *, runs: int, rounds: int, warmup: int,
                        rng: np.random.Generator, reference: Runner | None = None,
                        timed_block: Callable[[Runner, int], list[float]],
                        on_round: Callable[[int], None] | None = None) -> InterleavedResult:
    """Time every runner in ``rounds`` shuffled rounds (at least ``runs`` timed runs in all)."""
    block = timed_block
    n = len(runners)
    count = per_round_runs(runs, rounds)
    pooled: list[list[float]] = [[] for _ in range(n)]
    medians = np.zeros((rounds, n))
    ref_rounds: list[float] = []
    for fn in runners:
        for _ in range(warmup):
            fn()
    if reference is not None:
        for _ in range(warmup):
            reference()
    for r in range(rounds):
        order = rng.permutation(n)
        if reference is not None:
            ref_rounds.append(float(np.median(block(reference, count))))
        for i in order:
            runners[i]()  # one untimed call: the item's data back in cache after the others ran
            samples = block(runners[i], count)
            pooled[i].extend(samples)
            medians[r, i] = float(np.median(samples))
        if on_round is not None:
            on_round(r)
    stats = []
    for i in range(n):
        a = np.asarray(pooled[i])
        p10, p90 = np.percentile(a, [10, 90])
        stats.append(OpStats(float(np.median(medians[:, i])), float(p10), float(p90), float(a.mean()),
                             float(a.std()), int(a.size)))
    ref = float(np.median(ref_rounds)) if ref_rounds else 0.0
    return InterleavedResult(stats, medians, ref, ref_rounds)
