"""ExecuTorch: the one torch -> XNNPACK ``.pte`` lowering, the threadpool guard and program loading.

Lowering (ExecuTorch 1.x): ``torch.export.export`` -> ``to_edge_transform_and_lower`` with an
``XnnpackPartitioner`` -> ``to_executorch``, what phones run. Used by the executorch and adb
profilers and by the executorch exporter.

ExecuTorch's threadpool is process-wide: its size is set once per process, before the first
program is loaded, by :func:`set_threads_once` (the only place that sets it, so the profilers and
the exporter cannot disagree within a process); a later request for another size is refused
rather than silently ignored.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from hwnas.errors import RuntimeMissingError

_threadpool_size: int | None = None  # set once per process (ExecuTorch's threadpool is global)


@dataclass(frozen=True)
class PteProgram:
    """A lowered program: its bytes, what the partitioner delegated, and where the time went."""

    buffer: bytes
    delegate_calls: int
    undelegated_ops: tuple[str, ...]
    torch_export_s: float
    lower_s: float
    to_executorch_s: float


def unavailable_reason() -> str | None:
    """``None`` if ExecuTorch with XNNPACK and its runtime bindings imports here, else why not."""
    if importlib.util.find_spec("executorch") is None:
        return "executorch is not installed"
    try:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import (  # noqa: F401
            XnnpackPartitioner,
        )
        from executorch.runtime import Runtime  # noqa: F401
    except ImportError as exc:
        return f"executorch is installed without XNNPACK or its runtime bindings ({exc})"
    return None


def version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("executorch")
    except importlib.metadata.PackageNotFoundError:
        return ""


def lower_to_xnnpack(model: nn.Module, example: torch.Tensor) -> PteProgram:
    """Lower eval-mode ``model`` at ``example``'s shape to an ExecuTorch program (XNNPACK)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    start = time.perf_counter()
    exported = torch.export.export(model.eval(), (example,))
    t_export = time.perf_counter()
    edge = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
    t_lower = time.perf_counter()
    buffer = edge.to_executorch().buffer
    t_done = time.perf_counter()
    calls = [n for n in edge.exported_program().graph_module.graph.nodes if n.op == "call_function"]
    delegated = ["executorch_call_delegate" in str(n.target) for n in calls]
    undelegated = sorted({str(n.target) for n, d in zip(calls, delegated)
                          if not d and "getitem" not in str(n.target)})
    return PteProgram(buffer, sum(delegated), tuple(undelegated), t_export - start, t_lower - t_export,
                      t_done - t_lower)


def set_threads_once(threads: int) -> int:
    """Size ExecuTorch's process-wide threadpool (only the first call changes it); its size now."""
    global _threadpool_size
    from executorch.extension.pybindings import portable_lib

    if _threadpool_size is None:
        portable_lib._unsafe_reset_threadpool(threads)
        _threadpool_size = threads
    elif _threadpool_size != threads:
        raise RuntimeMissingError(
            f"ExecuTorch threads were already set to {_threadpool_size} in this process, not {threads}",
            "measure or export each thread count in its own process")
    return int(portable_lib._threadpool_get_thread_count())


def load_forward(program: bytes | Path, threads: int) -> Callable[[Sequence[torch.Tensor]], Sequence]:
    """The ``forward`` method of a program (bytes or a ``.pte`` path), after sizing the threadpool.

    The returned callable keeps the loaded program (and its buffer) alive.
    """
    set_threads_once(threads)
    from executorch.runtime import Runtime

    loaded = Runtime.get().load_program(program if isinstance(program, bytes) else str(program))
    method = loaded.load_method("forward")

    def forward(inputs: Sequence[torch.Tensor], _alive=loaded) -> Sequence:
        return method.execute(inputs)

    return forward
