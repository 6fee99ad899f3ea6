"""``run_gradient_search``: checks, run folder, loop with checkpoints, derivation, scratch training."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import replace

from hwnas.errors import DataError, HwnasError
from hwnas.latency.cost import CostModel
from hwnas.runs import RunFolder, RunResult
from hwnas.search.gradient.config import GradientSearchConfig
from hwnas.search.gradient.loop import new_state, run_epoch
from hwnas.search.gradient.objective import LossConfig, check_loss, expected_latency
from hwnas.search.gradient.ranks import Placement
from hwnas.search.gradient.relax import RELAXATIONS

MIN_SPLIT_SAMPLES = 8


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def load_table(lut: str):
    """A table by path or by a shipped name."""
    from hwnas.latency import load_table as load

    return load(lut)


def _check_config(config: GradientSearchConfig) -> None:
    if config.relaxation not in RELAXATIONS:
        raise HwnasError(f"unknown relaxation {config.relaxation!r}",
                         f"choose one of {', '.join(RELAXATIONS)}")
    if config.epochs < 1 or not 0 <= config.warmup_epochs <= config.epochs:
        raise HwnasError(f"need epochs >= 1 and 0 <= warmup epochs <= epochs, got {config.epochs} "
                         f"and {config.warmup_epochs}", "fix --epochs / --warmup-epochs")
    if config.batch_size < 1 or config.arch_update_every < 1:
        raise HwnasError("batch size and arch_update_every must be positive", "fix the config")
    if not math.isfinite(config.budget_ms) or config.budget_ms <= 0:
        raise HwnasError(f"budget must be a positive number, got {config.budget_ms}", "fix --budget-ms")


def _check_budget(cost: CostModel, budget: float) -> None:
    fastest = cost.price(cost.fastest_arch())
    if budget < fastest:
        raise HwnasError(
            f"budget {budget:g} {cost.unit} is below the fastest arch of space {cost.space.name} on this "
            f"table ({fastest:.4g} {cost.unit}); no arch can meet it",
            f"raise --budget-ms to at least {fastest:.4g}",
        )


def _check_data(data, space) -> None:
    sizes = data.sizes()
    if sizes["train"] < MIN_SPLIT_SAMPLES or sizes["val"] < MIN_SPLIT_SAMPLES:
        raise DataError(
            f"dataset {data.name} is too small for a gradient search: train {sizes['train']}, "
            f"validation {sizes['val']} samples (architecture steps need at least "
            f"{MIN_SPLIT_SAMPLES} validation samples)",
            "use a larger dataset (the validation split is a fixed share of it)",
        )


def _open_run(run: RunFolder, config: GradientSearchConfig) -> dict | None:
    """Create or resume the run folder; return the checkpoint to resume from (or None)."""
    run.create({"strategy": "proxyless", **config.to_dict()}, config.resume, config.force)
    return run.load_checkpoint() if config.resume else None


def check_placement(config: GradientSearchConfig, nproc: int = 1):
    """Refuse a missing GPU, fp16 on the CPU, more ranks than cores or GPUs and a global batch
    the ranks cannot share, before anything is written; return this process's device."""
    from hwnas.train import check_nproc, ranks_from_env, resolve_device
    from hwnas.train.runtime import check_precision

    ranks = ranks_from_env()
    device = resolve_device(config.device, ranks.local_rank)
    check_precision(config.precision, device)
    if nproc > 1 and ranks.distributed:
        raise HwnasError("--nproc inside a torchrun launch", "drop --nproc; torchrun starts the ranks")
    check_nproc(nproc, config.device)
    world = max(nproc, ranks.world_size)
    if config.batch_size % world:
        raise HwnasError(f"the global batch {config.batch_size} cannot be split over {world} ranks",
                         f"pass an --nproc that divides {config.batch_size}")
    return device


def _rank_entry(config: GradientSearchConfig, progress: bool) -> dict:
    """One of ``--nproc`` ranks (spawned: module level); rank 0's result comes back as a dict."""
    import torch

    if config.threads:
        torch.set_num_threads(config.threads)
    return run_gradient_search(config, progress).to_dict()


def run_gradient_search(config: GradientSearchConfig, progress: bool = True,
                        nproc: int = 1) -> RunResult:
    """Search ``config.space`` under ``config.budget_ms`` on ``config.lut``; write the run folder.

    The result's ``details`` hold the derived arch's table prediction and how it was chosen;
    a run stopped early (``stop_after_epoch``) returns ``complete=False`` and no best arch.
    ``nproc`` > 1 runs it on that many local ranks (:func:`hwnas.train.launch_local`); a
    process that ``torchrun`` started is one rank by itself. Only rank 0 writes the run folder.
    """
    import torch

    from hwnas.data import load_for_space
    from hwnas.space import get_space
    from hwnas.train.distributed import barrier, init_process_group, ranks_from_env

    device = check_placement(config, nproc)

    if config.epochs > 1 and config.warmup_epochs >= config.epochs:
        config = replace(config, warmup_epochs=config.epochs - 1)  # keep one search epoch at least
    elif config.epochs == 1 and config.warmup_epochs >= 1:
        config = replace(config, warmup_epochs=0)
    _check_config(config)
    space = get_space(config.space)
    table = load_table(config.lut)
    table.require(space)
    cost = table.cost_model(space)
    loss_cfg = LossConfig(config.loss, config.budget_ms, config.mul_alpha, config.mul_beta, config.add_lambda)
    check_loss(loss_cfg)
    _check_budget(cost, config.budget_ms)
    data = load_for_space(config.data, space, config.seed)  # no more classes than outputs
    _check_data(data, space)
    if nproc > 1:  # every check above ran here first: a refusal is one line, before any rank
        from hwnas.train import launch_local

        raw = launch_local(nproc, _rank_entry, (config, progress))
        return RunResult.from_dict(space, raw, "rank 0's result")

    ranks = ranks_from_env()
    init_process_group(ranks, device)
    main = ranks.is_main
    run = RunFolder(config.out)
    checkpoint = None
    if main:
        try:
            checkpoint = _open_run(run, config)
        except HwnasError:
            run.abandon()  # a resume that fails to read leaves the folder as it was
            raise
    barrier(ranks)  # the other ranks read the checkpoint rank 0 accepted
    if not main and config.resume:
        checkpoint = run.load_checkpoint()
    state = new_state(space, config, Placement(device, config.precision, ranks))
    if checkpoint is not None:
        state.load_state_dict(checkpoint)
        saved_world = int(checkpoint.get("world_size", 1))
        if saved_world != ranks.world_size and main:
            _say(f"resuming a {saved_world}-rank gradient search on {ranks.world_size} rank(s): the "
                 f"same global batches and paths, but BatchNorm sees other slices of them, so the "
                 f"result will not equal the uninterrupted run's bit for bit")
    if main:
        # drop epochs logged after the last checkpoint (all of them when there is none yet): they
        # are run again, so the logs hold each epoch exactly once at every instant a resume sees
        for log in ("history", "arch_probs"):
            run.trim_log(log, lambda r: r.get("epoch", -1) < state.next_epoch)

    start = time.perf_counter()
    epochs_run = _loop(state, config, data, cost, loss_cfg, run, progress and main)
    barrier(ranks)  # rank 0's logs are whole before any rank reads them
    finished = state.next_epoch >= config.epochs
    probs = state.arch.probs_lists()
    with torch.no_grad():
        expected = float(expected_latency(cost, state.arch.probs()))
    if not finished:  # interrupted on purpose (stop_after_epoch): resume later with --resume
        metric = "energy_mj" if table.meta.metric == "energy" else "latency_ms"
        return RunResult("proxyless", space.name, ("accuracy", metric), config.budget_ms,
                         (), None, None, 0, 0, False, lut=config.lut, run_dir=str(run.path),
                         details={"stopped_after_epoch": state.next_epoch - 1, "unit": cost.unit,
                                  "expected_final": expected, "epochs_run": epochs_run,
                                  "arch_alphas": state.arch.alphas_lists(),
                                  "search_wall_s": time.perf_counter() - start})
    from hwnas.search.gradient.finish import finish_run

    return finish_run(config, space, table, cost, data, state, probs, expected, run,
                      time.perf_counter() - start, epochs_run, progress and main)


def _loop(state, config, data, cost, loss_cfg, run: RunFolder, progress: bool) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    last = config.epochs if config.stop_after_epoch is None else min(config.epochs,
                                                                     config.stop_after_epoch + 1)
    steps = math.ceil(len(data.train) / config.batch_size)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("{task.fields[status]}"), TimeRemainingColumn())
    epochs_run = 0
    with Progress(*columns, transient=True, disable=not progress) as bar:
        task = bar.add_task("proxyless", total=max(0, last - state.next_epoch) * steps, status="")
        val_acc = math.nan
        for epoch in range(state.next_epoch, last):
            def on_step(info, epoch=epoch, val_acc=val_acc):
                bar.update(task, advance=1, status=(
                    f"ep {epoch} E[LAT] {info['expected']:.4g} {cost.unit} ce {info['ce']:.3f} "
                    f"val {val_acc:.3f} mu {info['multiplier']:.3g}"))

            record = run_epoch(state, epoch, config, data, cost, loss_cfg, on_step)
            val_acc = record.history["val_acc"]
            state.next_epoch = epoch + 1
            # logs first, then the checkpoint: a kill in between leaves logged epochs beyond the
            # checkpoint, which the resume trims and runs again (the other order lost an epoch)
            if state.placement.ranks.is_main:
                run.append_log("history", record.history)
                run.append_log("arch_probs", {"epoch": epoch, "probs": record.probs})
                run.save_checkpoint(state.state_dict())
            epochs_run += 1
    return epochs_run

