"""Where and how arithmetic runs: device, precision (autocast), threads, torch.compile."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

import torch
from torch import nn

from hwnas.errors import HwnasError, RuntimeMissingError

PRECISIONS = ("fp32", "bf16", "fp16")
# torch's own choice before anyone set it (its physical-core count, or OMP_NUM_THREADS): the
# default below reads this, not the current count, so it does not shrink after a set_num_threads.
TORCH_DEFAULT_THREADS = torch.get_num_threads()
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _what_torch_sees() -> str:
    built = torch.version.cuda or "none (a CPU-only build)"
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return f"torch {torch.__version__} (CUDA build {built}) sees {count} CUDA device(s)"


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` -> a torch.device, refusing a missing GPU.

    With several local ranks, ``cuda`` and ``auto`` mean the rank's own GPU (``cuda:LOCAL_RANK``).
    """
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    kind, _, index = spec.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise HwnasError(f"unknown device {spec!r}", "pass auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise RuntimeMissingError(f"--device {spec} needs a CUDA GPU but {_what_torch_sees()}",
                                  "pass --device cpu (or auto)")
    n = int(index) if index else local_rank
    if n >= torch.cuda.device_count():
        raise RuntimeMissingError(f"--device cuda:{n} does not exist: {_what_torch_sees()}",
                                  f"pass cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    return torch.device("cuda", n)


def check_precision(precision: str, device: torch.device) -> None:
    if precision not in PRECISIONS:
        raise HwnasError(f"unknown precision {precision!r}", f"pass one of {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type == "cpu":
        raise HwnasError("--precision fp16 is not supported on the CPU (no fp16 autocast kernels "
                         "worth using there)", "pass --precision bf16 or fp32 on the CPU, or use a GPU")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise HwnasError(f"{torch.cuda.get_device_name(device)} has no bf16 support",
                         "pass --precision fp16 or fp32")


def autocast(device: torch.device, precision: str):
    """Autocast for bf16 / fp16 forward passes; fp32 runs untouched (no context at all)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=_DTYPES[precision])


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """A loss scaler for fp16 (its narrow exponent underflows small gradients); a no-op otherwise."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


def cores_available() -> int:
    """Cores this process may run on (its affinity mask), not the machine's core count."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_threads(local_ranks: int = 1) -> int:
    """torch threads for one of ``local_ranks`` training processes on this machine.

    torch sizes its pool by the machine's physical cores, ignoring the affinity mask (a
    container or ``taskset`` limit) and other processes. Its OpenMP workers spin at every
    barrier, so a pool wider than the cores it may actually run on spends CPU spinning instead
    of working - on a busy machine, far more than a fair share. So: never more threads than
    cores in the affinity mask, shared out between the local ranks (the CLI also makes idle
    workers sleep: ``OMP_WAIT_POLICY=PASSIVE``). The load average is not followed: a thread
    count that changes with the load changes floating-point reduction order, and runs with the
    same seed must give the same numbers.

    Example:
        >>> default_threads() == min(TORCH_DEFAULT_THREADS, cores_available())
        True
    """
    return max(1, min(TORCH_DEFAULT_THREADS, cores_available()) // max(1, local_ranks))


def apply_threads(threads: int, local_ranks: int = 1) -> int:
    """Set torch's intra-op thread count for this process and return it.

    ``threads`` 0 means :func:`default_threads` (``local_ranks`` processes share the cores). The
    count is set, not left to torch, so that what a run records is what it ran with.
    """
    if threads < 0:
        raise HwnasError(f"--threads must be >= 0, not {threads}", "pass --threads 0 (automatic) or more")
    count = threads or default_threads(local_ranks)
    torch.set_num_threads(count)
    return count


def set_threads(threads: int) -> None:
    if threads < 0:
        raise HwnasError(f"threads must be >= 0, not {threads}", "pass --threads 0 (automatic) or more")
    if threads:
        torch.set_num_threads(threads)


def maybe_compile(model: nn.Module, enabled: bool, sample: torch.Tensor,
                  say: Callable[[str], None]) -> nn.Module:
    """torch.compile ``model`` when asked, or return it unchanged with one line saying why not.

    Compilation is lazy, so a trial forward on ``sample`` (in eval mode, no gradients) makes
    failures (no C++ compiler, an unsupported op, an old GPU) show here instead of mid-training.
    """
    if not enabled:
        return model
    try:
        compiled = torch.compile(model)
        was_training = model.training
        model.eval()
        with torch.no_grad():
            compiled(sample)
        model.train(was_training)
        return compiled
    except Exception as exc:  # any backend failure means: train eagerly, as without --compile
        model.train()
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        say(f"torch.compile failed ({type(exc).__name__}: {reason}); training without it")
        return model
