"""Training engine: devices, precision, data-loader workers, DDP ranks, checkpoints, metrics.

``from hwnas.train import TrainConfig, TrainResult, seeded, evaluate, train_model`` is the
API the evaluators and the gradient search use.
"""

from hwnas.train.checkpoint import CheckpointError
from hwnas.train.config import TrainConfig, TrainIO, TrainResult
from hwnas.train.distributed import Ranks, check_nproc, launch_local, ranks_from_env
from hwnas.train.loop import evaluate, seeded, train_model
from hwnas.train.runtime import cores_available, default_threads, resolve_device

__all__ = ["CheckpointError", "Ranks", "TrainConfig", "TrainIO", "TrainResult", "check_nproc",
           "cores_available", "default_threads", "evaluate", "launch_local", "ranks_from_env",
           "resolve_device", "seeded", "train_model"]
