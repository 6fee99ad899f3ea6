"""The trainer: SGD with Nesterov momentum and a cosine schedule, deterministic by seed on CPU.

One loop serves one process and N ranks (DistributedDataParallel), fp32 / bf16 / fp16, CPU and
CUDA. In one fp32 CPU process it performs exactly the arithmetic of hwnas's first trainer, so
earlier figures still hold.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from hwnas.data import DataBundle
from hwnas.errors import DataError, HwnasError
from hwnas.train.checkpoint import load_checkpoint, save_checkpoint
from hwnas.train.config import TrainConfig, TrainIO, TrainResult
from hwnas.train.distributed import all_sum, barrier, init_process_group, ranks_from_env
from hwnas.train.monitor import EpochSink, Progress
from hwnas.train.runtime import (
    autocast,
    check_precision,
    grad_scaler,
    maybe_compile,
    resolve_device,
    set_threads,
)

EVAL_BATCH = 256


def seeded(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    """Build a module with its initial weights drawn from ``seed``, leaving global RNG untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _to_device(x: torch.Tensor, y: torch.Tensor, device: torch.device, channels_last: bool):
    if device.type != "cpu":
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


def _worker_error(exc: DataError) -> DataError:
    """A DataError raised in a loader worker arrives wrapped in its traceback: keep its one line."""
    lines = [ln for ln in str(exc).splitlines() if ln.startswith("hwnas.errors.DataError: ")]
    return DataError(lines[-1].split(": ", 1)[1]) if lines else exc


def _eval_sums(model: nn.Module, loader, device: torch.device, precision: str,
               channels_last: bool) -> tuple[float, float, float]:
    model.eval()
    loss_sum, correct, n = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            x, y = _to_device(x, y, device, channels_last)
            with autocast(device, precision):
                logits = model(x)
            loss_sum += nn.functional.cross_entropy(logits.float(), y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            n += len(y)
    return loss_sum, correct, n


def evaluate(model: nn.Module, loader, precision: str = "fp32",
             channels_last: bool = False) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) over a loader, in eval mode, on the model's device."""
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    loss_sum, correct, n = _eval_sums(model, loader, device, precision, channels_last)
    return loss_sum / max(n, 1), correct / max(n, 1)


class _Run:
    """The state of one training run on one rank (built once, stepped per epoch)."""

    def __init__(self, model: nn.Module, data: DataBundle, config: TrainConfig, io: TrainIO,
                 say: Callable[[str], None]):
        self.config, self.data, self.io, self.say = config, data, io, say
        self.ranks = ranks_from_env()
        self.device = resolve_device(config.device, self.ranks.local_rank)
        check_precision(config.precision, self.device)
        set_threads(config.threads)
        if not 0.0 <= config.label_smoothing < 1.0:
            raise HwnasError(f"label smoothing must be in [0, 1), not {config.label_smoothing}",
                             "pass --label-smoothing 0.1 or so")
        world = self.ranks.world_size
        if config.batch_size % world:
            raise HwnasError(f"the global batch {config.batch_size} cannot be split over {world} ranks",
                             f"pass a --batch-size divisible by {world}")
        init_process_group(self.ranks, self.device)
        self.pin = self.device.type == "cuda"
        self.generator = torch.Generator().manual_seed(config.seed)
        self.sampler = None
        if self.ranks.distributed:
            from torch.utils.data.distributed import DistributedSampler

            self.sampler = DistributedSampler(data.train, world, self.ranks.rank, shuffle=True,
                                              seed=config.seed)
        self.train_loader = data.loader("train", config.batch_size // world, self.generator,
                                        workers=config.workers, pin_memory=self.pin, sampler=self.sampler)
        self.module = model.to(self.device)
        if config.channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)
        if config.sync_bn and self.ranks.distributed:
            self.module = nn.SyncBatchNorm.convert_sync_batchnorm(self.module)
        self.net: nn.Module = self.module
        if self.ranks.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.net = DistributedDataParallel(
                self.module, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.optimizer = torch.optim.SGD(self.module.parameters(), lr=config.lr, momentum=config.momentum,
                                         weight_decay=config.weight_decay, nesterov=True)
        steps = max(1, config.epochs * len(self.train_loader))
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=steps)
        self.scaler = grad_scaler(self.device, config.precision)
        self.history: list[dict] = []
        self.start_epoch = 0

    def eval_loader(self, split: str):
        """This rank's share of a split (every world_size-th item, no padding: sums stay exact)."""
        if not self.ranks.distributed:
            return self.data.loader(split, EVAL_BATCH, workers=self.config.workers, pin_memory=self.pin)
        dataset = getattr(self.data, split)
        shard = Subset(dataset, range(self.ranks.rank, len(dataset), self.ranks.world_size))
        return DataLoader(shard, batch_size=EVAL_BATCH, num_workers=self.config.workers,
                          pin_memory=self.pin)

    def evaluate(self, split: str) -> tuple[float, float]:
        # through the DDP wrapper: its forward first gives every rank rank 0's buffers (BatchNorm
        # statistics), so all ranks score, checkpoint and return one model
        sums = _eval_sums(self.net, self.eval_loader(split), self.device, self.config.precision,
                          self.config.channels_last)
        loss_sum, correct, n = all_sum(list(sums), self.device, self.ranks)
        return loss_sum / max(n, 1), correct / max(n, 1)

    def resume(self) -> None:
        state = load_checkpoint(self.io.checkpoint_dir, self.config, self.ranks.world_size,
                                self.say if self.ranks.is_main else (lambda _m: None))
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["rng"]["loader"])
        self.resume_rng = state["rng"]["torch"]  # set inside train_model's forked RNG scope
        self.start_epoch, self.history = state["epoch"], state["history"]

    def train_epoch(self, epoch: int, bar: Progress) -> dict:
        config, device = self.config, self.device
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
        self.net.train()
        # sums stay on the device (no per-step host sync on a GPU); float64 keeps the CPU figures
        # equal to the first trainer's Python-float sums
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        n, start = 0, time.perf_counter()
        try:
            for x, y in self.train_loader:
                x, y = _to_device(x, y, device, config.channels_last)
                with autocast(device, config.precision):
                    logits = self.net(x)
                    loss = nn.functional.cross_entropy(logits, y, label_smoothing=config.label_smoothing)
                if device.type == "cpu" and not torch.isfinite(loss):
                    raise HwnasError(f"training diverged at epoch {epoch} (loss {loss.item()})", "lower --lr")
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.scheduler.step()
                loss_sum += loss.detach().double() * len(y)
                correct += (logits.argmax(1) == y).sum()
                n += len(y)
                bar.step()
        except DataError as exc:
            raise _worker_error(exc) from None
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_s = time.perf_counter() - start
        loss_total, correct_total, n_total = all_sum([loss_sum.item(), float(correct.item()), float(n)],
                                                        device, self.ranks)
        train_loss = loss_total / max(n_total, 1)
        if not math.isfinite(train_loss):
            raise HwnasError(f"training diverged at epoch {epoch} (mean loss {train_loss})", "lower --lr")
        val_loss, val_acc = self.evaluate("val")
        return {"epoch": epoch, "train_loss": train_loss, "train_acc": correct_total / max(n_total, 1),
                "val_loss": val_loss, "val_acc": val_acc, "lr": self.optimizer.param_groups[0]["lr"],
                "epoch_s": time.perf_counter() - start, "train_s": train_s,
                "images_per_s": n_total / train_s if train_s > 0 else 0.0}

    def save(self, epoch: int) -> None:
        save_checkpoint(self.io.checkpoint_dir, epoch=epoch, config=self.config,
                        world_size=self.ranks.world_size, model=self.module.state_dict(),
                        optimizer=self.optimizer.state_dict(), scheduler=self.scheduler.state_dict(),
                        scaler=self.scaler.state_dict(), loader_rng=self.generator.get_state(),
                        history=self.history)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def train_model(model: nn.Module, data: DataBundle, config: TrainConfig, progress: bool = True,
                label: str = "train", io: TrainIO | None = None,
                say: Callable[[str], None] = _say) -> TrainResult:
    """Train ``model`` in place on ``data.train``; report validation and test accuracy.

    Runs as one rank of a distributed run when torchrun / ``launch_local`` set the environment
    (every rank then returns the same result; only rank 0 writes ``io``'s files). The model
    comes back on the CPU in the default memory format, whatever ``config.device`` was.

    Example:
        >>> result = train_model(seeded(0, lambda: build_model(space, arch)), data, TrainConfig(epochs=2))
    """
    io = io or TrainIO()
    run = _Run(model, data, config, io, say)
    main = run.ranks.is_main
    if io.resume:
        run.resume()
    sink = EpochSink(io.metrics_jsonl, io.tensorboard_dir) if main else EpochSink(None, None)
    if io.resume:
        sink.restart(run.history)
    device_rng = [run.device] if run.device.type == "cuda" else []
    start = time.perf_counter()
    trained, train_s = 0, 0.0
    try:
        with torch.random.fork_rng(devices=device_rng):
            if config.compile:
                sample = data.train[0][0][None]
                run.net = maybe_compile(run.net, True, _to_device(sample, sample, run.device,
                                                                  config.channels_last)[0], say)
            # augmentation in this process draws from the global RNG: seed it, restored after
            if io.resume:
                torch.set_rng_state(run.resume_rng)
            else:
                torch.manual_seed(config.seed + run.ranks.rank)
            total = (config.epochs - run.start_epoch) * len(run.train_loader)
            with Progress(label, total, progress and main) as bar:
                for epoch in range(run.start_epoch, config.epochs):
                    record = run.train_epoch(epoch, bar)
                    run.history.append(record)
                    trained += record["images_per_s"] * record["train_s"]
                    train_s += record["train_s"]
                    bar.status(f"loss {record['train_loss']:.3f} val {record['val_acc']:.3f} "
                               f"{record['images_per_s']:.0f} img/s")
                    if main:
                        sink.add(record)
                        if io.checkpoint_dir is not None:
                            run.save(epoch + 1)
                    barrier(run.ranks)
        last = run.history[-1] if run.history else {}
        val_acc = last["val_acc"] if last else run.evaluate("val")[1]
        _, test_acc = run.evaluate("test")
    finally:
        sink.close()
        model = run.module
        if run.device.type != "cpu" or config.channels_last:
            model.to("cpu", memory_format=torch.contiguous_format)
    return TrainResult(config.epochs, last.get("train_loss", math.nan), last.get("train_acc", 0.0),
                       val_acc, test_acc, time.perf_counter() - start, tuple(run.history),
                       trained / train_s if train_s else 0.0, run.ranks.world_size)
