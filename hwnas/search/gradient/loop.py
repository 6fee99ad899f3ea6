"""The search loop: warm-up (weights only), then alternating weight and architecture steps.

State that a resumed run needs (supernet weights, architecture logits, both optimizers, the
Lagrange multiplier, the step counter and every generator's state) is saved in ``checkpoint.pt``
after each epoch, as tensors and plain values, so it loads with ``weights_only=True``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from hwnas.errors import HwnasError
from hwnas.latency.cost import CostModel
from hwnas.nn.supernet import Supernet, build_supernet
from hwnas.search.gradient.config import GradientSearchConfig
from hwnas.search.gradient.objective import LossConfig, dual_ascent, expected_latency, search_loss
from hwnas.search.gradient.ranks import (
    Placement,
    average_grads,
    broadcast_buffers,
    cycle,
    global_batches,
    share,
)
from hwnas.search.gradient.relax import ArchParams, ArchStep, temperature, weight_gates
from hwnas.train.distributed import Ranks, all_sum
from hwnas.train.runtime import autocast, grad_scaler


@dataclass
class SearchState:
    """Everything that evolves during the search (mutable on purpose: it is the loop's state)."""

    supernet: Supernet
    arch: ArchParams
    weight_opt: torch.optim.Optimizer
    arch_opt: torch.optim.Optimizer
    gens: dict[str, torch.Generator]
    placement: Placement
    scalers: dict[str, torch.amp.GradScaler]
    multiplier: float = 0.0
    global_step: int = 0
    next_epoch: int = 0
    extra: dict = field(default_factory=dict)

    def state_dict(self) -> dict:
        return {
            "supernet": self.supernet.state_dict(), "arch": self.arch.state_dict(),
            "weight_opt": self.weight_opt.state_dict(), "arch_opt": self.arch_opt.state_dict(),
            "gens": {k: g.get_state() for k, g in self.gens.items()},
            "multiplier": float(self.multiplier), "global_step": int(self.global_step),
            "next_epoch": int(self.next_epoch), "world_size": self.placement.ranks.world_size,
            "scalers": {k: s.state_dict() for k, s in self.scalers.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        self.supernet.load_state_dict(state["supernet"])
        self.arch.load_state_dict(state["arch"])
        self.weight_opt.load_state_dict(state["weight_opt"])
        self.arch_opt.load_state_dict(state["arch_opt"])
        for k, g in self.gens.items():
            g.set_state(state["gens"][k])
        self.multiplier = float(state["multiplier"])
        self.global_step = int(state["global_step"])
        self.next_epoch = int(state["next_epoch"])
        for k, scaler in self.scalers.items():  # fp16 only; checkpoints before it have none
            saved = state.get("scalers", {}).get(k)
            if saved:
                scaler.load_state_dict(saved)


def new_state(space, config: GradientSearchConfig,
              placement: Placement = Placement(torch.device("cpu"), "fp32", Ranks())) -> SearchState:
    """The start of a search. The supernet goes to the placement's device; the architecture
    parameters (a few float64 logits) and every generator stay on the CPU, so every device and
    every rank draws the same paths from the same seed."""
    from hwnas.train import seeded

    supernet = seeded(config.seed, lambda: build_supernet(space)).to(placement.device)
    arch = ArchParams([len(c) for c in space.choices()])
    weight_opt = torch.optim.SGD(supernet.parameters(), lr=config.weight_lr,
                                 momentum=config.weight_momentum, weight_decay=config.weight_decay,
                                 nesterov=True)
    arch_opt = torch.optim.Adam(arch.parameters(), lr=config.arch_lr, betas=(0.0, 0.999), eps=1e-8)
    gens = {name: torch.Generator().manual_seed(config.seed * 1000 + i)
            for i, name in enumerate(("data", "val", "arch"))}
    scalers = {k: grad_scaler(placement.device, placement.precision) for k in ("weight", "arch")}
    return SearchState(supernet, arch, weight_opt, arch_opt, gens, placement, scalers)


@contextmanager
def _frozen(module: nn.Module):
    """Architecture steps need gradients for activations, not for the supernet's weights."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


@dataclass(frozen=True)
class EpochRecord:
    history: dict
    probs: list[list[float]]


def run_epoch(state: SearchState, epoch: int, config: GradientSearchConfig, data, cost: CostModel,
              loss_cfg: LossConfig, on_step: Callable[[dict], None] | None = None) -> EpochRecord:
    """One epoch: a pass over the train split (weight steps), architecture steps interleaved.

    With N ranks each step's global batch is split over them and the gradients averaged, so
    the step is the global batch's step (up to BatchNorm statistics, which are per slice).
    """
    supernet, arch, place = state.supernet, state.arch, state.placement
    device, ranks = place.device, place.ranks
    train_batches = global_batches(data.train, config.batch_size, state.gens["data"], ranks)
    val_batches = cycle(data.val, config.batch_size, state.gens["val"], ranks)
    steps_per_epoch = math.ceil(len(data.train) / config.batch_size)
    total_steps = max(1, config.epochs * steps_per_epoch)
    searching = epoch >= config.warmup_epochs
    search_epochs = max(1, config.epochs - config.warmup_epochs)
    tau = temperature(epoch - config.warmup_epochs, search_epochs, config.tau_max, config.tau_min)
    start = time.perf_counter()
    ce_sum, n_seen, arch_loss_sum, arch_steps, expected = 0.0, 0, 0.0, 0, math.nan
    lr = config.weight_lr
    scaler = state.scalers["weight"]
    for i, (x, y, global_len) in enumerate(train_batches):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        lr = config.weight_lr * 0.5 * (1 + math.cos(math.pi * state.global_step / total_steps))
        for group in state.weight_opt.param_groups:
            group["lr"] = lr
        supernet.train()
        gates = weight_gates(config.relaxation, arch, state.gens["arch"], tau)
        with autocast(device, place.precision):
            ce = nn.functional.cross_entropy(supernet(x, gates), y)
        if not ranks.distributed:
            _check_finite(ce, epoch, "weight")
        state.weight_opt.zero_grad(set_to_none=True)
        scaler.scale(share(ce, len(y), global_len, ranks)).backward()
        finite = average_grads(supernet.parameters(), place)
        if not finite and not scaler.is_enabled():  # fp16: the scaler skips the step itself
            _check_finite(torch.tensor(math.nan), epoch, "weight")
        scaler.step(state.weight_opt)
        scaler.update()
        state.global_step += 1
        ce_sum += ce.item() * len(y)
        n_seen += len(y)
        if searching and (i + 1) % config.arch_update_every == 0:
            loss, expected = _arch_step(state, next(val_batches), config, cost, loss_cfg, tau, epoch)
            arch_loss_sum += loss.item()
            arch_steps += 1
        if on_step is not None:
            on_step({"ce": ce.item(), "expected": expected, "multiplier": state.multiplier})
    broadcast_buffers(supernet, ranks)
    ce_total, seen_total, arch_loss_total = all_sum([ce_sum, float(n_seen), arch_loss_sum], device, ranks)
    with torch.no_grad():
        expected = float(expected_latency(cost, arch.probs()))
        probs = arch.probs_lists()
    argmax = [max(range(len(p)), key=p.__getitem__) for p in probs]
    val_acc = _val_accuracy(supernet, argmax, data, config.batch_size, place)
    history = {
        "epoch": epoch, "phase": "search" if searching else "warmup", "expected_latency": expected,
        "train_ce": ce_total / max(seen_total, 1),
        "arch_loss": arch_loss_total / (arch_steps * ranks.world_size) if arch_steps else None,
        "arch_steps": arch_steps, "val_acc": val_acc,
        "temperature": tau if config.relaxation == "gumbel" else None,
        "multiplier": state.multiplier, "lr": lr, "argmax": argmax,
        "argmax_latency": cost.price_indices(argmax), "wall_s": time.perf_counter() - start,
    }
    return EpochRecord(history, probs)


def _arch_step(state: SearchState, batch, config: GradientSearchConfig, cost: CostModel,
               loss_cfg: LossConfig, tau: float, epoch: int) -> tuple[torch.Tensor, float]:
    x, y, global_len = batch
    place = state.placement
    x, y = x.to(place.device, non_blocking=True), y.to(place.device, non_blocking=True)
    supernet, arch, scaler = state.supernet, state.arch, state.scalers["arch"]
    supernet.train()
    step = ArchStep(config.relaxation, arch, state.gens["arch"], tau)
    with _frozen(supernet):
        with autocast(place.device, place.precision):
            logits = supernet(x, step.gates)
        ce = nn.functional.cross_entropy(logits.float(), y).to(torch.float64).cpu()
        expected = expected_latency(cost, arch.probs())
        loss = search_loss(share(ce, len(y), global_len, place.ranks), expected, loss_cfg,
                           state.multiplier)
        if not place.ranks.distributed:
            _check_finite(loss, epoch, "architecture")
        state.arch_opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
    step.after_backward()
    # the same architecture gradients on every rank: the same step, bit for bit
    if not average_grads(arch.parameters(), place) and not scaler.is_enabled():
        _check_finite(torch.tensor(math.nan), epoch, "architecture")
    scaler.step(state.arch_opt)
    scaler.update()
    step.after_step()
    with torch.no_grad():
        expected_now = float(expected_latency(cost, arch.probs()))
    if loss_cfg.kind == "budget":
        state.multiplier = dual_ascent(state.multiplier, expected_now, loss_cfg.target, config.dual_lr)
    return loss.detach(), expected_now


CALIB_BATCHES = 4


@torch.no_grad()
def _val_accuracy(supernet: Supernet, indices: list[int], data, batch_size: int,
                  place: Placement) -> float:
    """The argmax path's validation accuracy, with BatchNorm statistics of that path.

    The supernet's running statistics belong to the mixture of sampled paths: with them, a
    supernet whose training loss fell from 2.25 to 0.86 scored 0.09-0.18 (mbconv-small on
    digits, measured), so the figure said nothing. The path's statistics are re-estimated on a
    few training batches and the supernet's own are put back afterwards (checkpoints, and so
    resumed runs, stay as they were). Every rank recalibrates on the same batches and scores its
    share of the validation split; the sums are all-reduced.
    """
    from torch.utils.data import DataLoader, Subset

    from hwnas.nn import input_batches, recalibrate_bn

    saved = {k: v.clone() for k, v in supernet.state_dict().items()
             if k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    gates = list(indices)
    with autocast(place.device, place.precision):
        recalibrate_bn(supernet, input_batches(data, CALIB_BATCHES, batch_size),
                       forward=lambda x: supernet(x, gates))
    ranks = place.ranks
    loader = data.loader("val", batch_size) if not ranks.distributed else DataLoader(
        Subset(data.val, range(ranks.rank, len(data.val), ranks.world_size)), batch_size=batch_size)
    correct, n = 0, 0
    for x, y in loader:  # the training batch: no larger memory peak
        x, y = x.to(place.device, non_blocking=True), y.to(place.device, non_blocking=True)
        with autocast(place.device, place.precision):
            correct += (supernet(x, gates).argmax(1) == y).sum().item()
        n += len(y)
    supernet.load_state_dict(saved, strict=False)
    correct, n = all_sum([float(correct), float(n)], place.device, ranks)
    return correct / max(n, 1)


def _check_finite(loss: torch.Tensor, epoch: int, what: str) -> None:
    if not torch.isfinite(loss):
        raise HwnasError(
            f"the {what} loss became {loss.item()} in epoch {epoch}; search stopped, the last good "
            f"checkpoint (end of epoch {epoch - 1}) is kept" if epoch > 0 else
            f"the {what} loss became {loss.item()} in epoch 0; search stopped before any checkpoint",
            "lower --weight-lr / --arch-lr, then rerun (with --resume to continue from the checkpoint)",
        )
