"""A reusable supernet artifact: train a weight-sharing supernet once, keep it in a folder.

The folder holds ``supernet.pt`` (a state dict of tensors, loaded with ``weights_only=True``) and
``supernet.json`` (what the weights were trained for: space and its fingerprint, data, epochs,
sampling rule, seed, hwnas version, and the ranking fidelity once ``hwnas supernet rank`` has
measured it). Training writes ``checkpoint.pt`` after every epoch (one atomic file), so a run
killed with -9 resumes from its last finished epoch and ends with the same weights.

Sampling rules: ``uniform`` trains one random path per step (single-path one-shot, Guo et al.,
what ``--evaluator oneshot`` does); ``sandwich`` trains the largest, the smallest and ``k`` random
paths per step and sums their gradients (BigNAS / OFA), optionally distilling every smaller path
from the largest path's soft labels (in-place distillation).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hwnas import __version__
from hwnas.errors import HwnasError
from hwnas.evaluation.oneshot import OneShotConfig, OneShotEvaluator
from hwnas.evaluation.quantized import require_int8_pricing
from hwnas.io import load_weights, read_json, save_weights, write_json
from hwnas.space.base import SearchSpace

FORMAT = "hwnas-supernet/1"
WEIGHTS = "supernet.pt"
META = "supernet.json"
CHECKPOINT = "checkpoint.pt"
WRITES = (WEIGHTS, META, CHECKPOINT)
SAMPLINGS = ("uniform", "sandwich")


@dataclass(frozen=True)
class SupernetTrainConfig:
    """What a supernet is trained for; every field is stored in ``supernet.json``."""

    space: str = "mbconv-small"
    data: str = "digits"
    epochs: int = 5
    sampling: str = "uniform"
    random_paths: int = 2  # k of the sandwich rule (paths besides the largest and the smallest)
    distill: bool = False
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 4e-5
    seed: int = 0
    device: str = "cpu"
    precision: str = "fp32"

    def check(self) -> None:
        if self.sampling not in SAMPLINGS:
            raise HwnasError(f"unknown --sampling {self.sampling!r}", f"pass one of {', '.join(SAMPLINGS)}")
        if self.distill and self.sampling != "sandwich":
            raise HwnasError("--distill needs --sampling sandwich (it distils from the largest path)",
                             "pass --sampling sandwich or drop --distill")
        if self.random_paths < 0:
            raise HwnasError(f"--random-paths must be >= 0, not {self.random_paths}", "pass 0 or more")

    def trained_for(self) -> dict:
        """The fields that decide the weights (device and precision change speed, not intent)."""
        return {k: v for k, v in asdict(self).items() if k not in ("device", "precision")}


@dataclass(frozen=True)
class Supernet:
    """A loaded artifact: its metadata, its space and the supernet module (eval mode, CPU)."""

    path: Path
    meta: dict
    space: SearchSpace
    net: nn.Module


def extreme_gates(space: SearchSpace) -> tuple[list[int], list[int]]:
    """(largest, smallest) path: at each position the choice with the most / fewest MACs.

    Positions are independent in a layerwise space, so per-position extremes are the global ones;
    a tie keeps the first choice, so the result is deterministic.
    """
    from hwnas.nn import build_op, count_macs

    largest, smallest = [], []
    with torch.random.fork_rng(devices=[]):  # building ops must not move the caller's RNG
        for position in range(space.num_positions):
            macs = [sum(count_macs(build_op(op, space.activation), op.in_shape) for op in ops)
                    for ops in space.candidate_ops(position)]
            largest.append(int(np.argmax(macs)))
            smallest.append(int(np.argmin(macs)))
    return largest, smallest


def _step_paths(cfg: SupernetTrainConfig, sizes: list[int], rng: np.random.Generator,
                extremes: tuple[list[int], list[int]] | None) -> list[list[int]]:
    random_count = 1 if cfg.sampling == "uniform" else cfg.random_paths
    randoms = [[int(rng.integers(n)) for n in sizes] for _ in range(random_count)]
    return randoms if extremes is None else [extremes[0], extremes[1], *randoms]


def _kd_loss(logits: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    return nn.functional.kl_div(nn.functional.log_softmax(logits, 1),
                                nn.functional.softmax(teacher, 1), reduction="batchmean")


def _build(space: SearchSpace, seed: int) -> nn.Module:
    from hwnas.nn.supernet import build_supernet
    from hwnas.train import seeded

    return seeded(seed, lambda: build_supernet(space))


def train_supernet(space: SearchSpace, cfg: SupernetTrainConfig, out: Path, resume: bool = False,
                   say=lambda _msg: None) -> dict:
    """Train the supernet of ``space`` into ``out``; the metadata written to ``supernet.json``.

    Epoch ``e`` draws its paths from ``default_rng([seed, e])`` and its batch order from a torch
    generator seeded the same way, so a resumed run repeats exactly what the killed one would do.
    """
    from hwnas.data import load_for_space
    from hwnas.train import resolve_device
    from hwnas.train.runtime import autocast, check_precision, grad_scaler

    cfg.check()
    device = resolve_device(cfg.device)
    check_precision(cfg.precision, device)
    data = load_for_space(cfg.data, space)
    net = _build(space, cfg.seed).to(device)
    steps = len(data.loader("train", cfg.batch_size))
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay, nesterov=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, cfg.epochs * steps))
    scaler = grad_scaler(device, cfg.precision)
    meta = {"format": FORMAT, "space": space.name, "space_fingerprint": space.fingerprint(),
            "hwnas_version": __version__, "config": asdict(cfg), "trained_for": cfg.trained_for(),
            "epochs_done": 0, "train_loss": None, "train_wall_s": 0.0, "fidelity": None}
    start_epoch = 0
    if resume:
        meta, start_epoch = _restore(out, space, cfg, net, opt, sched, scaler)
        say(f"resuming {out} after epoch {start_epoch} of {cfg.epochs}")
    sizes = [len(c) for c in space.choices()]
    extremes = extreme_gates(space) if cfg.sampling == "sandwich" else None
    for epoch in range(start_epoch, cfg.epochs):
        started = time.perf_counter()
        rng = np.random.default_rng([cfg.seed, epoch])
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        net.train()
        loss_sum = 0.0
        for x, y in data.loader("train", cfg.batch_size, gen):
            x, y = x.to(device), y.to(device)
            opt.zero_grad(set_to_none=True)
            teacher = None
            for i, gates in enumerate(_step_paths(cfg, sizes, rng, extremes)):
                with autocast(device, cfg.precision):
                    logits = net(x, gates)
                    if cfg.distill and teacher is not None:
                        loss = _kd_loss(logits.float(), teacher)
                    else:
                        loss = nn.functional.cross_entropy(logits.float(), y)
                if cfg.distill and i == 0:
                    teacher = logits.detach().float()  # the largest path teaches the rest
                scaler.scale(loss).backward()  # gradients of all paths of a step add up
                loss_sum += float(loss.detach()) if i == 0 else 0.0
            scaler.step(opt)
            scaler.update()
            sched.step()
        meta = {**meta, "epochs_done": epoch + 1, "train_loss": loss_sum / max(steps, 1),
                "train_wall_s": meta["train_wall_s"] + time.perf_counter() - started}
        # one atomic file per epoch; the JSON beside it is informative, the checkpoint decides
        save_weights(out / CHECKPOINT, {"epoch": epoch + 1, "model": net.state_dict(),
                                        "opt": opt.state_dict(), "sched": sched.state_dict(),
                                        "scaler": scaler.state_dict()})
        write_json(out / META, meta)
        say(f"epoch {epoch + 1}/{cfg.epochs}: train loss {meta['train_loss']:.3f} "
            f"(first path of each step)")
    save_weights(out / WEIGHTS, {k: v.cpu() for k, v in net.state_dict().items()})
    meta = {**meta, "complete": True}
    write_json(out / META, meta)
    return meta


def _restore(out: Path, space: SearchSpace, cfg: SupernetTrainConfig, net, opt, sched, scaler):
    if not (out / CHECKPOINT).is_file():
        raise HwnasError(f"nothing to resume: {out / CHECKPOINT} does not exist",
                         "drop --resume to start a new supernet")
    meta = read_json(out / META, "supernet metadata") if (out / META).is_file() else None
    if not isinstance(meta, dict) or meta.get("trained_for") != cfg.trained_for():
        raise HwnasError(f"{out} holds a supernet trained with other settings than these",
                         "pass the settings it was started with (see its supernet.json), "
                         "or a new --out")
    saved = load_weights(out / CHECKPOINT)
    net.load_state_dict(saved["model"])
    opt.load_state_dict(saved["opt"])
    sched.load_state_dict(saved["sched"])
    scaler.load_state_dict(saved["scaler"])
    return {**meta, "epochs_done": int(saved["epoch"])}, int(saved["epoch"])


def load_supernet(path: Path) -> Supernet:
    """The artifact in folder ``path``; ``HwnasError`` naming what is missing or foreign."""
    from hwnas.space import get_space

    fix = "pass a folder written by `hwnas supernet train`"
    if not (path / META).is_file() or not (path / WEIGHTS).is_file():
        what = META if not (path / META).is_file() else WEIGHTS
        raise HwnasError(f"{path} is not a trained supernet: {what} is missing "
                         "(an unfinished training? resume it with --resume)", fix)
    meta = read_json(path / META, "supernet metadata")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise HwnasError(f"{path / META} is not hwnas supernet metadata ({FORMAT})", fix)
    cfg = SupernetTrainConfig(**{f.name: meta["config"][f.name] for f in fields(SupernetTrainConfig)
                                 if f.name in meta["config"]})
    space = get_space(cfg.space)
    if space.fingerprint() != meta["space_fingerprint"]:
        raise HwnasError(f"the space {cfg.space!r} has changed since the supernet in {path} was "
                         "trained (its fingerprint differs)", "train the supernet again")
    net = _build(space, cfg.seed)
    try:
        net.load_state_dict(load_weights(path / WEIGHTS))
    except RuntimeError:
        raise HwnasError(f"{path / WEIGHTS} does not fit the supernet of space {space.name}", fix) from None
    net.eval()
    return Supernet(path, meta, space, net)


def require_space(supernet: Supernet, space: SearchSpace) -> None:
    """Refuse a supernet trained for another space than ``space`` (compared by fingerprint)."""
    _require_fingerprint(supernet.path, supernet.meta, space)


def _require_fingerprint(path: Path, meta: dict, space: SearchSpace) -> None:
    if meta.get("space_fingerprint") != space.fingerprint():
        raise HwnasError(f"the supernet in {path} was trained for space {meta.get('space')!r} "
                         f"(fingerprint {meta.get('space_fingerprint')}), not for {space.name!r} "
                         f"(fingerprint {space.fingerprint()})",
                         f"pass --space {meta.get('space')} or a supernet trained for {space.name}")


def check_artifact_for(folder: Path, space: SearchSpace) -> None:
    """Refuse (before a search writes anything) a folder that is no artifact, or one trained for
    another space; reads only ``supernet.json``."""
    meta_path = folder / META
    if not meta_path.is_file() or not (folder / WEIGHTS).is_file():
        raise HwnasError(f"--supernet {folder} is not a trained supernet (no {META} and {WEIGHTS})",
                         "pass a folder written by `hwnas supernet train`")
    meta = read_json(meta_path, "supernet metadata")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise HwnasError(f"{meta_path} is not hwnas supernet metadata ({FORMAT})",
                         "pass a folder written by `hwnas supernet train`")
    _require_fingerprint(folder, meta, space)


class SupernetEvaluator(OneShotEvaluator):
    """The one-shot evaluator on a trained artifact: scores with its weights, never trains.

    Scoring is the one-shot evaluator's own (BN recalibration, validation split) on the data the
    supernet was trained on; the artifact is loaded in ``prepare`` (on each Ray worker too).
    """

    def __init__(self, space: SearchSpace, lut: str | None, folder: str, accuracy_of: str = "fp32"):
        super().__init__(space, lut, OneShotConfig(accuracy_of=accuracy_of))  # int8: evaluation.quantized
        self.folder = folder

    def prepare(self, run_dir: Path | None = None, progress: bool = False) -> None:
        from dataclasses import replace

        self._require_lut()
        require_int8_pricing(self._lut, self.config.accuracy_of)
        if self.supernet is not None:
            return
        artifact = load_supernet(Path(self.folder))
        require_space(artifact, self.space)
        self.config = replace(self.config, data=artifact.meta["config"]["data"])
        self.supernet = artifact.net

    def describe(self) -> dict:
        return {"evaluator": "oneshot", "lut": self.lut_path, "supernet": self.folder,
                "calib_batches": self.config.calib_batches, "accuracy_of": self.config.accuracy_of}
