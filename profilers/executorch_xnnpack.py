"""``executorch``: the module lowered with the XNNPACK partitioner (what phones run), on this host.

The thread count of ExecuTorch's shared threadpool is a process-wide setting: it is set once per
process, before any program is loaded (``_unsafe_reset_threadpool``), and checked with
``_threadpool_get_thread_count``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from hwnas.errors import RuntimeMissingError
from profilers.base import Profiler, pin_to_core

_THREADS_SET: list[int] = []


def _portable():
    from executorch.extension.pybindings import portable_lib

    return portable_lib


def set_threads_once(threads: int) -> int:
    """Set ExecuTorch's threadpool size for this process (only the first call changes it)."""
    lib = _portable()
    if not _THREADS_SET:
        lib._unsafe_reset_threadpool(threads)
        _THREADS_SET.append(threads)
    elif _THREADS_SET[0] != threads:
        raise RuntimeMissingError(
            f"ExecuTorch threads were already set to {_THREADS_SET[0]} in this process, not {threads}",
            "measure each thread count in its own process")
    return int(lib._threadpool_get_thread_count())


def lower_to_pte(model: nn.Module, example: torch.Tensor) -> bytes:
    """``torch.export`` + XNNPACK partitioner -> ExecuTorch program bytes."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    exported = torch.export.export(model.eval(), (example,))
    program = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()]).to_executorch()
    return program.buffer


class ExecuTorchProfiler(Profiler):
    name = "executorch"
    extra = "mobile"

    @classmethod
    def available(cls) -> tuple[bool, str]:
        try:
            import executorch  # noqa: F401
            from executorch.extension.pybindings import portable_lib  # noqa: F401
        except ImportError as exc:
            return False, f"executorch is not installed ({exc}); pip install 'hwnas[mobile]'"
        return True, ""

    def runtime_version(self) -> str:
        try:
            from executorch.version import __version__
        except ImportError:
            __version__ = "unknown"
        return f"executorch {__version__} (XNNPACK)"

    def setup(self) -> None:
        pin_to_core(self.protocol)
        torch.set_num_threads(self.protocol.threads)
        set_threads_once(self.protocol.threads)

    def prepare(self, model: nn.Module, input_shape: tuple[int, int, int]) -> Callable[[], object]:
        self.setup()
        x = torch.randn(self.protocol.batch, *input_shape, generator=torch.Generator().manual_seed(0))
        # the loaded program points into this buffer: the runner must keep it alive
        buffer = lower_to_pte(model, x)
        module = _portable()._load_for_executorch_from_buffer(buffer)
        inputs = (x,)

        def run() -> object:
            run.buffer = buffer
            return module.forward(inputs)

        return run
