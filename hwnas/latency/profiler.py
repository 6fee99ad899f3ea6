"""The ``Profiler`` interface every runtime implements (plug-ins live in ``profilers/``).

A profiler turns a module (one op at its exact input shape, or a whole network) into a *runner*
(a zero-argument callable that runs one inference on that runtime) and times runners through
:meth:`Profiler.timed_block` under a :class:`~hwnas.latency.measure.MeasureProtocol`. Example::

    from hwnas.plugins import get_profiler
    from hwnas.latency.measure import MeasureProtocol
    prof = get_profiler("torch-cpu", MeasureProtocol(runs=50))
    stats = prof.measure_model(model, (3, 32, 32))   # OpStats in ms
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from torch import nn

from hwnas.latency.machine import cpu_model
from hwnas.latency.measure import (
    MeasureProtocol,
    Runner,
    TimedBlock,
    host_block,
    pin_to_core,
    process_settings_restored,
    time_callable,
)
from hwnas.latency.table import OpStats
from hwnas.space.arch import OpSpec


def cuda_missing() -> tuple[str, str] | None:
    """(reason, fix) when torch cannot reach a CUDA GPU here, else ``None``."""
    import torch

    cpu_fix = "or profile this machine's CPU with --runtime onnxruntime"
    if torch.version.cuda is None:
        return (f"no CUDA device found: torch {torch.__version__} is built without CUDA",
                "install a CUDA build of torch (https://pytorch.org/get-started/locally/) on a machine "
                f"with an NVIDIA GPU, {cpu_fix}")
    if not torch.cuda.is_available():
        return (f"no CUDA device found (torch {torch.__version__} is built for CUDA {torch.version.cuda} "
                "but sees no GPU)",
                f"run on a machine with an NVIDIA GPU and its driver (`nvidia-smi` lists it), {cpu_fix}")
    return None


class Profiler(ABC):
    """A runtime that can time one op or a whole network under a :class:`MeasureProtocol`.

    Subclasses set ``name`` (the ``--runtime`` value) and ``extra`` (the pip extra that installs
    the runtime, or ``None``), and implement :meth:`available`, :meth:`runtime_version` and
    :meth:`prepare`. ``measure_op`` and ``measure_model`` are built on ``prepare``.
    """

    name: str = ""
    extra: str | None = None
    needs_cuda: bool = False  # checked before the runtime itself: no install fixes a missing GPU

    def __init__(self, protocol: MeasureProtocol | None = None) -> None:
        self.protocol = protocol or MeasureProtocol()

    @classmethod
    @abstractmethod
    def available(cls) -> tuple[bool, str]:
        """(True, "") when the runtime can run here, else (False, reason naming the fix)."""

    @classmethod
    def unusable(cls) -> tuple[str, str] | None:
        """(reason, fix) when the runtime cannot run here, else ``None``: a missing GPU first
        (installing the runtime would not help), then what :meth:`available` says, whose fix is
        installing the plug-in's extra."""
        if cls.needs_cuda:
            missing = cuda_missing()
            if missing is not None:
                return missing
        ok, reason = cls.available()
        if ok:
            return None
        return reason, (f"install it with `pip install 'hwnas[{cls.extra}]'`" if cls.extra
                        else "run on a machine that has it")

    @abstractmethod
    def runtime_version(self) -> str:
        """Version string of the runtime (stored in table metadata)."""

    def device_detail(self) -> str:
        """The hardware the runtime runs on (CPU model, GPU name, phone model)."""
        return cpu_model()

    def device_kind(self) -> str:
        """Where the runtime computes: ``cpu`` (this host's CPU), ``gpu`` (this host's GPU) or
        ``remote`` (a device attached to the host); tables record it (``meta.host``) so a table
        is compared with the right part of the machine that uses it."""
        return "cpu"

    @abstractmethod
    def prepare(self, model: nn.Module, input_shape: tuple[int, int, int]) -> Runner:
        """Load ``model`` into the runtime for a ``(batch, *input_shape)`` input; return a runner.

        Calling the runner performs exactly one inference (synchronised: when it returns, the
        result is computed). Loading/export cost is paid here, not in the runner.
        """

    def setup(self) -> None:
        """Process-wide settings (threads, CPU pinning) applied once before measuring."""
        pin_to_core(self.protocol)

    def timed_block(self) -> TimedBlock:
        """``block(runner, count)`` -> durations (ms) of ``count`` runs on this runtime's clock.

        This is the one timing hook: :meth:`time_runner`, ``hwnas profile`` and ``hwnas lut
        validate`` all time runners through it. The default times calls on the host clock; a
        device that times itself (CUDA events, a phone's benchmark binary) returns its own
        durations instead, so host round trips never enter a figure.
        """
        return host_block(self.protocol)

    def time_runner(self, runner: Runner) -> OpStats:
        """Time a runner from :meth:`prepare` under the protocol (through :meth:`timed_block`)."""
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

    def identity_runner(self, input_shape: tuple[int, int, int]) -> Runner:
        """A runner of an identity-like model: the per-call overhead of this runtime."""
        return self.prepare(_Passthrough(), tuple(input_shape))


class _Passthrough(nn.Module):
    """Cheapest non-empty model every exporter accepts (an identity graph may be folded away)."""

    def forward(self, x):  # noqa: D401
        return x + 0.0
