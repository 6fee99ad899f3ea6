"""The measurement contract every runtime is timed under, and interleaved measurement of many items.

:class:`MeasureProtocol` says how every timing is taken (stored in a table's metadata);
:func:`time_callable` times one runner under it; :func:`pin_to_core` and
:func:`process_settings_restored` apply and undo what measuring changes process-wide. Profilers
(:mod:`hwnas.latency.profiler`, plug-ins in ``profilers/``) and the export check build on these.

Interleaved measurement: timing each item in one long block lets the machine's drift (frequency,
other processes) land on some items and not others. :func:`measure_interleaved` prepares every
item once, then ``rounds`` rounds visit all items in a freshly shuffled order, each round timing
``per_round`` runs of every item; an item's figure is the median of its round medians. A
reference runner (the runtime's per-call overhead, an identity model) is timed in every round
too: its median is the call overhead, its round-to-round spread the drift record.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from hwnas.errors import HwnasError
from hwnas.latency.table import OpStats

Runner = Callable[[], object]
#: ``block(runner, count)`` -> ``count`` durations (ms) on some clock
TimedBlock = Callable[[Runner, int], list[float]]


@dataclass(frozen=True)
class MeasureProtocol:
    """How every timing is taken (stored in a table's metadata, so tables say how they were made).

    Attributes:
        threads: intra-op threads of the runtime.
        batch: batch size of the timed input.
        warmup: untimed runs before timing starts.
        runs: minimum number of timed runs (per item and round).
        max_runs: cap for the adaptive repeats.
        stability: the median is *stable* when one more block of ``runs // 2`` runs moves it by
            less than this fraction; repeats stop then (or at ``max_runs``).
        rounds: interleaved rounds used when several items are compared (a table, a validation
            sample): each round visits every item once in a shuffled order and the result is the
            median of the round medians, so slow drift of the machine hits every item alike.
        pin_cpu: pin the process to one core (``os.sched_setaffinity``) before measuring.
        cpu_core: the core to pin to; ``None`` picks the last core the process may use.
        in_context: time each op between two 1x1 carrier layers and subtract the carriers
            alone (see :mod:`hwnas.latency.context`), so the op costs what it costs in a network.
        carrier: the carrier layers' kind, recorded so a table is never resumed with others
            (``depthwise``; tables without it were measured with ``dense`` carriers).
        subtract_overhead: measure the runner's per-call overhead with an identity model and
            account for it once per network instead of once per op.
        seed: seeds the shuffled round order.
        flush_denormal: flush denormal floats to zero (FTZ/DAZ) on the measuring thread. Random
            weights can drive activations into the denormal range, where x86 arithmetic is many
            times slower: two instances of one op (or one arch) then time very differently.
        clock: ``"thread"`` times with the calling thread's CPU clock (``CLOCK_THREAD_CPUTIME_ID``):
            time the thread spent descheduled by other processes is not counted, which makes
            single-threaded CPU timings repeatable on a shared machine; ``"wall"`` uses
            ``perf_counter``; ``"auto"`` (default) is ``thread`` when ``threads == 1`` (the
            runtime then computes on the calling thread), else ``wall``. Device runtimes (CUDA
            events, a phone's own timer) ignore it.
    """

    threads: int = 1
    batch: int = 1
    warmup: int = 10
    runs: int = 50
    max_runs: int = 400
    stability: float = 0.01
    rounds: int = 5
    pin_cpu: bool = True
    cpu_core: int | None = None
    subtract_overhead: bool = True
    in_context: bool = True
    seed: int = 0
    clock: str = "auto"
    flush_denormal: bool = True
    carrier: str = "depthwise"  # in_context carriers (hwnas.latency.context.CARRIER); "dense" before

    def __post_init__(self) -> None:
        for name in ("threads", "batch", "runs", "rounds", "max_runs"):
            if getattr(self, name) < 1:
                raise HwnasError(f"measure protocol: {name} must be >= 1, got {getattr(self, name)}",
                                 f"pass a positive {name}")
        if self.clock not in ("auto", "wall", "thread"):
            raise HwnasError(f"measure protocol: clock {self.clock!r} is not auto, wall or thread",
                             "pass one of those")
        if self.warmup < 0:
            raise HwnasError(f"measure protocol: warmup must be >= 0, got {self.warmup}", "pass 0 or more")

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)

    @property
    def resolved_clock(self) -> str:
        if self.clock == "auto":
            return "thread" if self.threads == 1 else "wall"
        return self.clock


def clock_ns(protocol: MeasureProtocol) -> Callable[[], int]:
    return time.thread_time_ns if protocol.resolved_clock == "thread" else time.perf_counter_ns


def host_block(protocol: MeasureProtocol) -> TimedBlock:
    """``timed_block(fn, count)`` on the protocol's host clock: ``count`` durations in ms."""
    clock = clock_ns(protocol)

    def block(fn: Runner, count: int) -> list[float]:
        out = []
        for _ in range(count):
            t0 = clock()
            fn()
            out.append((clock() - t0) / 1e6)
        return out

    return block


def stats_from_samples(samples_ms: np.ndarray | list[float]) -> OpStats:
    """Summarise timed runs (ms) as ``OpStats``."""
    a = np.asarray(samples_ms, dtype=float)
    p10, p50, p90 = np.percentile(a, [10, 50, 90])
    return OpStats(float(p50), float(p10), float(p90), float(a.mean()), float(a.std()), int(a.size))


def time_callable(fn: Runner, protocol: MeasureProtocol, timed_block: TimedBlock | None = None) -> OpStats:
    """Time ``fn`` (one inference per call) under ``protocol``; statistics in milliseconds.

    ``protocol.warmup`` untimed calls, then at least ``protocol.runs`` timed calls; further
    blocks of ``runs // 2`` calls are added while the median still moves by more than
    ``protocol.stability`` (relative), up to ``protocol.max_runs``. ``timed_block(fn, count)``
    replaces the host clock (CUDA events, a phone's own timer); it returns the durations (ms) of
    ``count`` runs (a device that reports more runs than asked contributes all of them).
    """
    block_fn = timed_block or host_block(protocol)
    for _ in range(protocol.warmup):
        fn()
    samples = list(block_fn(fn, protocol.runs))
    block = max(1, protocol.runs // 2)
    median = float(np.median(samples))
    while len(samples) < protocol.max_runs:
        samples.extend(block_fn(fn, min(block, protocol.max_runs - len(samples))))
        new = float(np.median(samples))
        moved = abs(new - median) / max(median, 1e-9)
        median = new
        if moved < protocol.stability:
            break
    return stats_from_samples(samples)


@contextlib.contextmanager
def process_settings_restored() -> Iterator[None]:
    """Undo what measuring changes process-wide (core pinning, torch threads, denormal flushing).

    A library caller that profiles and then trains in the same process (``hwnas demo``, the
    benchmarks) must not keep one pinned core: torch's thread pool on one core made a
    following supernet epoch 25x slower (measured).
    """
    import torch

    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        if affinity is not None:
            os.sched_setaffinity(0, affinity)
        torch.set_num_threads(threads)
        torch.set_flush_denormal(False)


def pin_to_core(protocol: MeasureProtocol) -> int | None:
    """Pin this process to one core when the protocol asks (Linux); returns the core or None.

    Also applies ``protocol.flush_denormal`` to the calling thread (host CPU runtimes compute on
    it when ``threads == 1``).
    """
    if protocol.flush_denormal:
        import torch

        torch.set_flush_denormal(True)
    if not protocol.pin_cpu or not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    core = protocol.cpu_core if protocol.cpu_core is not None else allowed[-1]
    if core not in allowed:
        raise HwnasError(f"cannot pin to core {core}: this process may use cores {allowed}",
                         "pass one of those cores or disable pinning")
    os.sched_setaffinity(0, {core})
    return core


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
                        timed_block: TimedBlock,
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
