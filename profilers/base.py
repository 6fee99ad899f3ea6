"""One interface for every runtime: the measurement protocol, ``time_callable`` and ``Profiler``.

A profiler turns a module (one op at its exact input shape, or a whole network) into a *runner*
(a zero-argument callable that runs one inference on that runtime) and times the runner with
:func:`time_callable` under a :class:`MeasureProtocol`. Example::

    from profilers import get_profiler, MeasureProtocol
    prof = get_profiler("torch-cpu", MeasureProtocol(runs=50))
    stats = prof.measure_model(model, (3, 32, 32))   # OpStats in ms
"""

from __future__ import annotations

import contextlib
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from torch import nn

from hwnas.latency.table import OpStats
from hwnas.space.arch import OpSpec


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

    def __post_init__(self) -> None:
        from hwnas.errors import HwnasError

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


def host_block(protocol: MeasureProtocol) -> Callable[[Callable[[], object], int], list[float]]:
    """``timed_block(fn, count)`` on the protocol's host clock: ``count`` durations in ms."""
    clock = clock_ns(protocol)

    def block(fn: Callable[[], object], count: int) -> list[float]:
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


def time_callable(fn: Callable[[], object], protocol: MeasureProtocol,
                  timed_block: Callable[[Callable[[], object], int], list[float]] | None = None) -> OpStats:
    """Time ``fn`` (one inference per call) under ``protocol``; statistics in milliseconds.

    ``protocol.warmup`` untimed calls, then at least ``protocol.runs`` timed calls; further
    blocks of ``runs // 2`` calls are added while the median still moves by more than
    ``protocol.stability`` (relative), up to ``protocol.max_runs``. ``timed_block(fn, count)``
    replaces the host clock (e.g. CUDA events); it returns ``count`` durations in ms.
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
        from hwnas.errors import HwnasError

        raise HwnasError(f"cannot pin to core {core}: this process may use cores {allowed}",
                         "pass one of those cores or disable pinning")
    os.sched_setaffinity(0, {core})
    return core


class Profiler(ABC):
    """A runtime that can time one op or a whole network under a :class:`MeasureProtocol`.

    Subclasses set ``name`` (the ``--runtime`` value) and ``extra`` (the pip extra that installs
    the runtime, or ``None``), and implement :meth:`available`, :meth:`runtime_version` and
    :meth:`prepare`. ``measure_op`` and ``measure_model`` are built on ``prepare``.
    """

    name: str = ""
    extra: str | None = None

    def __init__(self, protocol: MeasureProtocol | None = None) -> None:
        self.protocol = protocol or MeasureProtocol()

    @classmethod
    @abstractmethod
    def available(cls) -> tuple[bool, str]:
        """(True, "") when the runtime can run here, else (False, reason naming the fix)."""

    @abstractmethod
    def runtime_version(self) -> str:
        """Version string of the runtime (stored in table metadata)."""

    def device_detail(self) -> str:
        """The hardware the runtime runs on (CPU model, GPU name, phone model)."""
        from profilers.sysinfo import cpu_model

        return cpu_model()

    @abstractmethod
    def prepare(self, model: nn.Module, input_shape: tuple[int, int, int]) -> Callable[[], object]:
        """Load ``model`` into the runtime for a ``(batch, *input_shape)`` input; return a runner.

        Calling the runner performs exactly one inference (synchronised: when it returns, the
        result is computed). Loading/export cost is paid here, not in the runner.
        """

    def setup(self) -> None:
        """Process-wide settings (threads, CPU pinning) applied once before measuring."""
        pin_to_core(self.protocol)

    def timed_block(self) -> Callable[[Callable[[], object], int], list[float]]:
        """``block(runner, count)`` -> ``count`` durations (ms) on this runtime's clock."""
        return host_block(self.protocol)

    def time_runner(self, runner: Callable[[], object]) -> OpStats:
        """Time a runner from :meth:`prepare` under the protocol."""
        return time_callable(runner, self.protocol, self.timed_block())

    def measure_model(self, model: nn.Module, input_shape: tuple[int, int, int]) -> OpStats:
        """Time a whole network (or any module) end to end at ``input_shape`` (C, H, W)."""
        with process_settings_restored():
            self.setup()
            return self.time_runner(self.prepare(model, tuple(input_shape)))

    def measure_op(self, op: OpSpec, act: str = "relu6") -> OpStats:
        """Time one op alone at its exact input shape (the module the network uses)."""
        from hwnas.nn.ops import build_op

        return self.measure_model(build_op(op, act), op.in_shape)

    def identity_runner(self, input_shape: tuple[int, int, int]) -> Callable[[], object]:
        """A runner of an identity-like model: the per-call overhead of this runtime."""
        return self.prepare(_Passthrough(), tuple(input_shape))


class _Passthrough(nn.Module):
    """Cheapest non-empty model every exporter accepts (an identity graph may be folded away)."""

    def forward(self, x):  # noqa: D401
        return x + 0.0
