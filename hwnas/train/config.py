"""What a training run is asked to do (TrainConfig), where it reports (TrainIO), what it got (TrainResult)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

# Settings that change only speed or placement, not the arithmetic of a run: a resumed run may
# change them; any other difference is refused (the result would no longer match the first part).
RESUMABLE_CHANGES = ("device", "threads", "workers", "compile")


@dataclass(frozen=True)
class TrainConfig:
    """SGD (Nesterov momentum) with a cosine schedule; ``batch_size`` is the global batch.

    ``device`` is ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when present); the library
    default stays ``cpu`` so callers that do not ask for a GPU keep their numbers. ``threads``
    0 leaves torch's thread count alone (``hwnas.train.default_threads`` picks one for a busy
    machine). With several ranks each rank trains on ``batch_size / world_size`` images a step.
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 4e-5
    seed: int = 0
    device: str = "cpu"
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    label_smoothing: float = 0.0
    threads: int = 0
    workers: int = 0
    sync_bn: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainIO:
    """Files a run writes (rank 0 only); None skips each. ``checkpoint_dir`` gets one
    ``checkpoint.pt`` per finished epoch; ``resume`` continues from it."""

    metrics_jsonl: Path | None = None
    tensorboard_dir: Path | None = None
    checkpoint_dir: Path | None = None
    resume: bool = False


@dataclass(frozen=True)
class TrainResult:
    epochs: int
    train_loss: float
    train_acc: float
    val_acc: float
    test_acc: float
    wall_s: float
    history: tuple[dict, ...] = field(default_factory=tuple)
    images_per_s: float = 0.0
    world_size: int = 1

    def to_dict(self) -> dict:
        return {
            "epochs": self.epochs, "train_loss": self.train_loss, "train_acc": self.train_acc,
            "val_acc": self.val_acc, "test_acc": self.test_acc, "wall_s": self.wall_s,
            "images_per_s": self.images_per_s, "world_size": self.world_size,
            "history": list(self.history),
        }
