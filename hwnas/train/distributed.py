"""torch.distributed for training: ranks from torchrun's environment, a local launcher, collectives.

A process is one rank of a distributed run when ``WORLD_SIZE`` > 1 is set in its environment -
by ``torchrun`` (one node or several, through its rendezvous) or by :func:`launch_local`, which
starts N processes on this machine on a free loopback port. gloo carries CPU tensors, NCCL CUDA
ones. Every rank computes the same metrics (sums are all-reduced); only rank 0 writes files.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from hwnas.errors import HwnasError
from hwnas.train.runtime import cores_available


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run; ``world_size`` 1 means no process group at all."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def ranks_from_env() -> Ranks:
    """The ranks torchrun (or launch_local) put in the environment; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks()
    return Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")),
                 int(os.environ.get("LOCAL_WORLD_SIZE", str(world))))


def init_process_group(ranks: Ranks, device: torch.device) -> None:
    if ranks.distributed and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def check_nproc(nproc: int, device_spec: str) -> None:
    """Refuse more local processes than GPUs (CUDA) or cores this process may use (CPU)."""
    if nproc < 1:
        raise HwnasError(f"--nproc must be >= 1, not {nproc}", "pass --nproc 1 or more")
    wants_cuda = device_spec.startswith("cuda") or (device_spec == "auto" and torch.cuda.is_available())
    if wants_cuda and ":" in device_spec and nproc > 1:
        raise HwnasError(f"--device {device_spec} names one GPU but --nproc {nproc} needs one per rank",
                         "pass --device cuda (rank N uses cuda:N)")
    if wants_cuda:
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if nproc > gpus:
            raise HwnasError(f"--nproc {nproc} needs {nproc} GPUs but torch sees {gpus}",
                             f"pass --nproc {max(gpus, 1)} or fewer, or --device cpu")
    elif nproc > cores_available():
        raise HwnasError(f"--nproc {nproc} exceeds the {cores_available()} CPU core(s) this process "
                         f"may use", f"pass --nproc {cores_available()} or fewer")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(local_rank: int, nproc: int, port: int, exchange: str, fn: Callable, args: tuple) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(local_rank),
                       "WORLD_SIZE": str(nproc), "LOCAL_RANK": str(local_rank),
                       "LOCAL_WORLD_SIZE": str(nproc)})
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo" if sys.platform.startswith("linux") else "lo0")
    try:
        result = fn(*args)
        if local_rank == 0:
            Path(exchange, "result.json").write_text(json.dumps(result))
    except HwnasError as exc:
        Path(exchange, f"error-{local_rank}.json").write_text(
            json.dumps({"message": exc.message, "fix": exc.fix}))
        sys.exit(2)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def launch_local(nproc: int, fn: Callable, args: tuple):
    """Run ``fn(*args)`` in ``nproc`` local ranks; return rank 0's (JSON-able) result.

    A library error in any rank comes back as that HwnasError (one line at the CLI), not as a
    traceback of the child process. ``fn`` must be importable (the children are spawned).
    """
    import torch.multiprocessing as mp
    from torch.multiprocessing.spawn import ProcessException

    # spawn logs a warning per sibling it terminates after one rank failed: the error line says it
    spawn_log = logging.getLogger("torch.multiprocessing.spawn")
    level = spawn_log.level
    spawn_log.setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="hwnas-ranks-") as exchange:
        try:
            mp.spawn(_rank_main, args=(nproc, _free_port(), exchange, fn, args), nprocs=nproc, join=True)
        except ProcessException:
            errors = sorted(Path(exchange).glob("error-*.json"))
            if errors:
                err = json.loads(errors[0].read_text())
                raise HwnasError(err["message"], err["fix"]) from None
            raise
        finally:
            spawn_log.setLevel(level)
        return json.loads(Path(exchange, "result.json").read_text())


def all_sum(values: list[float], device: torch.device, ranks: Ranks) -> list[float]:
    """Element-wise sum over ranks (float64, so counts and loss sums stay exact enough)."""
    if not ranks.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def barrier(ranks: Ranks) -> None:
    if ranks.distributed:
        dist.barrier()
