"""A small reusable trainer: SGD with momentum and a cosine schedule, deterministic by seed."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from hwnas.data import DataBundle
from hwnas.errors import HwnasError


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 4e-5
    seed: int = 0


@dataclass(frozen=True)
class TrainResult:
    epochs: int
    train_loss: float
    train_acc: float
    val_acc: float
    test_acc: float
    wall_s: float
    history: tuple[dict, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return {
            "epochs": self.epochs, "train_loss": self.train_loss, "train_acc": self.train_acc,
            "val_acc": self.val_acc, "test_acc": self.test_acc, "wall_s": self.wall_s,
            "history": list(self.history),
        }


def seeded(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    """Build a module with its initial weights drawn from ``seed``, leaving global RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


@torch.no_grad()
def evaluate(model: nn.Module, loader) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over a loader, in eval mode."""
    model.eval()
    loss_sum, correct, n = 0.0, 0, 0
    for x, y in loader:
        logits = model(x)
        loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        n += len(y)
    return loss_sum / max(n, 1), correct / max(n, 1)


def train_model(model: nn.Module, data: DataBundle, config: TrainConfig,
                progress: bool = True, label: str = "train") -> TrainResult:
    """Train ``model`` on ``data.train``; report validation and test accuracy."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    generator = torch.Generator().manual_seed(config.seed)
    train_loader = data.loader("train", config.batch_size, generator)
    val_loader = data.loader("val", 256)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay, nesterov=True)
    steps = max(1, config.epochs * len(train_loader))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    history: list[dict] = []
    start = time.perf_counter()
    loss_avg, acc = math.nan, 0.0
    columns = (TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("{task.fields[status]}"), TimeRemainingColumn())
    with Progress(*columns, transient=True, disable=not progress) as bar:
        task = bar.add_task(label, total=config.epochs, status="")
        for epoch in range(config.epochs):
            model.train()
            loss_sum, correct, n = 0.0, 0, 0
            for x, y in train_loader:
                logits = model(x)
                loss = nn.functional.cross_entropy(logits, y)
                if not torch.isfinite(loss):
                    raise HwnasError(f"training diverged at epoch {epoch} (loss {loss.item()})",
                                     "lower --lr")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                loss_sum += loss.item() * len(y)
                correct += (logits.argmax(1) == y).sum().item()
                n += len(y)
            loss_avg, acc = loss_sum / n, correct / n
            _, val_acc = evaluate(model, val_loader)
            history.append({"epoch": epoch, "train_loss": loss_avg, "train_acc": acc,
                            "val_acc": val_acc})
            bar.update(task, advance=1, status=f"loss {loss_avg:.3f} val {val_acc:.3f}")
    _, val_acc = evaluate(model, val_loader)
    _, test_acc = evaluate(model, data.loader("test", 256))
    return TrainResult(config.epochs, loss_avg, acc, val_acc, test_acc,
                       time.perf_counter() - start, tuple(history))
