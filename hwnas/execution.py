"""Where candidate evaluations run: in this process, or as Ray tasks on a cluster.

Both executors map an evaluator over a batch of archs and return results in batch order, so a
search gives the same result on either. Ray is optional: it is imported only by
:class:`RayExecutor` (``pip install 'hwnas[ray]'``). A Ray task whose worker dies mid-evaluation
is retried (``max_retries``), so no result is lost.
"""

from __future__ import annotations

import os
import socket
from abc import ABC, abstractmethod

from hwnas.errors import HwnasError, RuntimeMissingError
from hwnas.evaluation.base import Evaluator
from hwnas.runs import Candidate
from hwnas.space.arch import Arch

CONNECT_TIMEOUT_S = 5.0
LOOPBACK = "127.0.0.1"  # a local cluster is reachable from this machine only
SINGLE_NODE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray keeps a loopback node address


class Executor(ABC):
    name = "executor"
    workers = 1

    def start(self) -> None:  # noqa: B027
        pass

    @abstractmethod
    def map(self, evaluator: Evaluator, archs: list[Arch]) -> list[Candidate]:
        """Evaluate ``archs``; results in the same order."""

    def shutdown(self) -> None:  # noqa: B027
        pass


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, workers: int = 1):
        self.workers = workers

    def map(self, evaluator: Evaluator, archs: list[Arch]) -> list[Candidate]:
        return [evaluator.evaluate(a) for a in archs]


def _evaluate_task(evaluator: Evaluator, arch: Arch) -> Candidate:
    return evaluator.evaluate(arch)


def check_address(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast (bounded) if nothing answers at a Ray ``host:port`` / ``ray://host:port``."""
    if address == "auto":
        return
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise HwnasError(f"Ray address {address!r} is not host:port", "pass e.g. --ray-address 10.0.0.5:6379")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise HwnasError(f"no Ray cluster answers at {address} within {timeout_s:.0f} s "
                         f"({exc.strerror or exc})",
                         "start one with `ray start --head` or drop --ray-address for a local "
                         "cluster") from None


def _init_local(ray, workers: int) -> None:
    """Start a Ray cluster of our own whose services listen on loopback only.

    ``address="local"`` never attaches to a cluster `ray start --head` left running (or that
    RAY_ADDRESS names). Ray turns ``_node_ip_address="127.0.0.1"`` into the machine's address
    unless multi-node clusters are off (its RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER switch, read at
    import and inherited by the processes it starts): switch them off for the start only.
    """
    from ray._private import ray_constants

    saved_env = os.environ.get(SINGLE_NODE_ENV)
    saved_flag = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[SINGLE_NODE_ENV], ray_constants.ENABLE_RAY_CLUSTER = "0", False
    try:
        ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False,
                 _node_ip_address=LOOPBACK)
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop(SINGLE_NODE_ENV, None)
        else:
            os.environ[SINGLE_NODE_ENV] = saved_env


class RayExecutor(Executor):
    """Ray tasks on a local cluster started on demand (``workers`` CPUs, bound to 127.0.0.1,
    never a cluster already running) or on the existing cluster at ``address``."""

    name = "ray"

    def __init__(self, workers: int = 2, address: str | None = None, max_retries: int = 3):
        self.workers, self.address, self.max_retries = workers, address, max_retries
        self._ray = None
        self._started_here = False
        self._remote = None
        self._ref = self._put_for = None

    def start(self) -> None:
        if self._ray is not None:
            return
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        try:
            import ray
        except ImportError:
            raise RuntimeMissingError("the ray executor needs Ray",
                                      "pip install 'hwnas[ray]'") from None
        if self.address:
            check_address(self.address)
        if not ray.is_initialized():
            try:
                if self.address:
                    ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
                else:
                    _init_local(ray, self.workers)
            except Exception as exc:  # Ray raises many types (ConnectionError, RuntimeError...)
                raise HwnasError(f"cannot start Ray: {str(exc).splitlines()[0]}",
                                 "check --ray-address or the local Ray install") from None
            self._started_here = True
        self._ray = ray
        self._remote = ray.remote(num_cpus=1, max_retries=self.max_retries)(_evaluate_task)

    def map(self, evaluator: Evaluator, archs: list[Arch]) -> list[Candidate]:
        self.start()
        if self._put_for is not evaluator:  # ship the evaluator (and its weights) once
            self._ref, self._put_for = self._ray.put(evaluator), evaluator
        ref = self._ref
        futures = [self._remote.remote(ref, a) for a in archs]
        try:
            return self._ray.get(futures)
        except self._ray.exceptions.RayTaskError as exc:
            cause = exc.cause if hasattr(exc, "cause") else exc
            if isinstance(cause, HwnasError):
                raise cause from None
            raise HwnasError(f"a Ray evaluation failed: {str(cause).splitlines()[0]}") from None
        except self._ray.exceptions.WorkerCrashedError:
            raise HwnasError(f"a Ray worker died {self.max_retries + 1} times on one candidate",
                             "check the workers' memory; finished candidates are saved, rerun "
                             "with --resume") from None

    def shutdown(self) -> None:
        if self._ray is not None and self._started_here:
            self._ray.shutdown()
        self._ray = None


def make_executor(name: str, workers: int = 1, address: str | None = None) -> Executor:
    if name == "local":
        if address:
            raise HwnasError("--ray-address needs --executor ray", "add --executor ray")
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(workers, address)
    raise HwnasError(f"unknown executor {name!r}", "choose local or ray")
