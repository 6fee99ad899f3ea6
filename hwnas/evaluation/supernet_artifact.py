"""A reusable supernet artifact: train a weight-sharing supernet once, keep it in a folder.

The folder holds ``supernet.pt`` (a state dict of tensors, loaded with ``weights_only=True``) and
``supernet.json`` (what the weights were trained for: space and its fingerprint, data, epochs,
sampling rule, seed, hwnas version, and the ranking fidelity once ``hwnas supernet rank`` has
measured it). Training writes ``checkpoint.pt`` after every epoch (one atomic file), so a run
killed with -9 resumes from its last finished epoch and ends with the same weights.

Sampling rules (:mod:`hwnas.evaluation.path_sampling`): ``uniform`` trains one random path per
step (single-path one-shot, Guo et al., what ``--evaluator oneshot`` does); ``tilted`` one path
leaning to small or large ops, so every MAC level is trained; ``sandwich`` trains the
largest, the smallest and ``k`` random paths per step and sums their gradients (BigNAS / OFA);
``spread`` is ``sandwich`` with tilted random paths that cover the whole MAC range. The last two
can distil every smaller path from the largest path's soft labels (in-place distillation).
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
from hwnas.evaluation.path_sampling import SAMPLINGS, SINGLE_PATH, PathSampler
from hwnas.evaluation.quantized import accuracy_kind, require_int8_pricing
from hwnas.io import load_weights, read_json, save_weights, write_json
from hwnas.space.base import SearchSpace

FORMAT = "hwnas-supernet/1"
WEIGHTS = "supernet.pt"
META = "supernet.json"
CHECKPOINT = "checkpoint.pt"
WRITES = (WEIGHTS, META, CHECKPOINT)


@dataclass(frozen=True)
class SupernetTrainConfig:
    """What a supernet is trained for; every field is stored in ``supernet.json``."""

    space: str = "mbconv-small"
    data: str = "digits"
    epochs: int = 5
    sampling: str = "uniform"
    random_paths: int = 2  # k of sandwich / spread (paths besides the largest and the smallest)
    distill: bool = False
    augment: str = "none"  # training-split augmentation preset (hwnas.data.transforms.PRESETS)
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
        if self.distill and self.sampling in SINGLE_PATH:
            raise HwnasError("--distill needs --sampling sandwich or spread (it distils from the "
                             f"largest path, which {self.sampling} does not train)",
                             "pass --sampling sandwich or spread, or drop --distill")
        if self.random_paths < 0:
            raise HwnasError(f"--random-paths must be >= 0, not {self.random_paths}", "pass 0 or more")
        from hwnas.data.transforms import PRESETS

        if self.augment not in PRESETS:
            raise HwnasError(f"unknown --augment {self.augment!r}", f"pass one of {', '.join(PRESETS)}")

    def trained_for(self) -> dict:
        """The fields that decide the weights (device and precision change speed, not intent).

        ``augment`` is left out while it is ``none``: artifacts written before the option existed
        were unaugmented, and their ``--resume`` and cache keys stay valid."""
        skip = ("device", "precision") + (("augment",) if self.augment == "none" else ())
        return {k: v for k, v in asdict(self).items() if k not in skip}


@dataclass(frozen=True)
class Supernet:
    """A loaded artifact: its metadata, its space and the supernet module (eval mode, CPU)."""

    path: Path
    meta: dict
    space: SearchSpace
    net: nn.Module


def _kd_loss(logits: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    return nn.functional.kl_div(nn.functional.log_softmax(logits, 1),
                                nn.functional.softmax(teacher, 1), reduction="batchmean")


def _build(space: SearchSpace, seed: int) -> nn.Module:
    from hwnas.nn.supernet import build_supernet
    from hwnas.train import seeded

    return seeded(seed, lambda: build_supernet(space))


def train_supernet(space: SearchSpace, cfg: SupernetTrainConfig, out: Path, resume: bool = False,
                   say=lambda _msg: None, data=None) -> dict:
    """Train the supernet of ``space`` into ``out``; the metadata written to ``supernet.json``.

    Epoch ``e`` draws its paths from ``default_rng([seed, e])`` and its batch order from a torch
    generator seeded the same way, so a resumed run repeats exactly what the killed one would do.
    ``data``: a loaded bundle to train on instead of ``cfg.data`` (a benchmark's subsample).

    Run as one rank of several (``launch_local`` / torchrun sets ``WORLD_SIZE``), every rank draws
    the same paths and the same global batch and trains on its own slice of it; the gradients of
    the step are averaged over ranks (an all-reduce, not DDP: a sandwich step runs several
    backward passes over changing sub-graphs, which DDP's reducer does not allow) and BatchNorm
    statistics are taken from rank 0 after every epoch, so every rank holds the same weights.
    Only rank 0 writes.
    """
    from hwnas.data import load_for_space
    from hwnas.evaluation.supernet_ranks import state_digest
    from hwnas.train import ranks_from_env, resolve_device
    from hwnas.train.distributed import barrier, init_process_group
    from hwnas.train.runtime import check_precision, grad_scaler

    cfg.check()
    ranks = ranks_from_env()
    device = resolve_device(cfg.device)
    if device.type == "cuda" and ranks.distributed:
        device = torch.device("cuda", ranks.local_rank)
    check_precision(cfg.precision, device)
    init_process_group(ranks, device)
    data = load_for_space(cfg.data, space, augment=cfg.augment) if data is None else data
    net = _build(space, cfg.seed).to(device)
    steps = len(data.loader("train", cfg.batch_size))
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay, nesterov=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, cfg.epochs * steps))
    scaler = grad_scaler(device, cfg.precision)
    meta = {"format": FORMAT, "space": space.name, "space_fingerprint": space.fingerprint(),
            "hwnas_version": __version__, "config": asdict(cfg), "trained_for": cfg.trained_for(),
            "epochs_done": 0, "train_loss": None, "train_wall_s": 0.0, "fidelity": None,
            "world_size": ranks.world_size}
    start_epoch = 0
    if resume:
        meta, start_epoch = _restore(out, space, cfg, net, opt, sched, scaler)
        meta = {**meta, "world_size": ranks.world_size}
        say(f"resuming {out} after epoch {start_epoch} of {cfg.epochs}")
    sampler = PathSampler.for_space(space, cfg.sampling, cfg.random_paths)
    caller_rng = torch.get_rng_state()  # the per-epoch seeding below must not leak to the caller
    try:
        meta = _epochs(net, data, cfg, sampler, opt, sched, scaler, ranks, device, meta, start_epoch,
                       steps, out, say)
    finally:
        torch.set_rng_state(caller_rng)
    state = {k: v.cpu() for k, v in net.state_dict().items()}
    meta = {**meta, "complete": True, "state_digest": state_digest(state)}
    if ranks.is_main:
        save_weights(out / WEIGHTS, state)
        write_json(out / META, meta)
    barrier(ranks)  # no rank reports done before the artifact is there
    return meta


def _epochs(net, data, cfg: SupernetTrainConfig, sampler, opt, sched, scaler, ranks, device, meta: dict,
            start_epoch: int, steps: int, out: Path, say) -> dict:
    """Epochs ``start_epoch``..``cfg.epochs`` of :func:`train_supernet`; the metadata after them."""
    from hwnas.evaluation.supernet_ranks import average_gradients, mean_over_ranks, share_buffers
    from hwnas.train.runtime import autocast

    for epoch in range(start_epoch, cfg.epochs):
        started = time.perf_counter()
        rng = np.random.default_rng([cfg.seed, epoch])
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        # augmentation draws from the global RNG: seeded per epoch (the same on every rank, which
        # all load the same global batch), so a resumed run repeats the killed run's crops
        torch.manual_seed(cfg.seed * 100_003 + epoch)
        net.train()
        loss_sum = 0.0
        for x, y in data.loader("train", cfg.batch_size, gen):
            paths = sampler.step(rng)  # drawn on every rank, even if skipped
            if len(y) < ranks.world_size:
                continue  # a last batch too small to give every rank an image
            x, y = x[ranks.rank::ranks.world_size].to(device), y[ranks.rank::ranks.world_size].to(device)
            opt.zero_grad(set_to_none=True)
            teacher = None
            for i, gates in enumerate(paths):
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
            average_gradients(net, ranks)
            scaler.step(opt)
            scaler.update()
            sched.step()
        share_buffers(net, ranks)
        loss_sum = mean_over_ranks(loss_sum, device, ranks)
        meta = {**meta, "epochs_done": epoch + 1, "train_loss": loss_sum / max(steps, 1),
                "train_wall_s": meta["train_wall_s"] + time.perf_counter() - started}
        if ranks.is_main:  # one atomic file per epoch; the JSON beside it is informative
            save_weights(out / CHECKPOINT, {"epoch": epoch + 1, "model": net.state_dict(),
                                            "opt": opt.state_dict(), "sched": sched.state_dict(),
                                            "scaler": scaler.state_dict()})
            write_json(out / META, meta)
            say(f"epoch {epoch + 1}/{cfg.epochs}: train loss {meta['train_loss']:.3f} "
                f"(first path of each step)")
    return meta


def train_supernet_rank(cfg: SupernetTrainConfig, out: str, resume: bool, verbose: bool) -> dict:
    """One rank of ``hwnas supernet train --nproc N`` (importable: ``launch_local`` spawns it)."""
    from hwnas.space import get_space
    from hwnas.train import cores_available, ranks_from_env

    ranks = ranks_from_env()
    torch.set_num_threads(max(1, cores_available() // ranks.local_world_size))
    say = print if verbose and ranks.is_main else (lambda _msg: None)
    return train_supernet(get_space(cfg.space), cfg, Path(out), resume=resume, say=say)


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


def score_key(folder: Path, config, accuracy_of: str = "supernet-fp32"):
    """The :class:`~hwnas.evaluation.score_cache.ScoreKey` of scores made with ``config`` (a
    :class:`~hwnas.evaluation.oneshot.OneShotConfig`) on the artifact in ``folder``."""
    from hwnas.evaluation.score_cache import ScoreKey, weights_sha256

    meta = read_json(Path(folder) / META, "supernet metadata")
    return ScoreKey(weights_sha256(Path(folder) / WEIGHTS), meta["space_fingerprint"],
                    meta["config"]["data"], "val", config.calib_batches, config.batch_size,
                    config.seed, accuracy_of)


class SupernetEvaluator(OneShotEvaluator):
    """The one-shot evaluator on a trained artifact: scores with its weights, never trains.

    Scoring is the one-shot evaluator's own (BN recalibration, validation split) on the data the
    supernet was trained on; the artifact is loaded in ``prepare`` (on each Ray worker too).
    Scores are read from and appended to the artifact's ``scores.jsonl``
    (:mod:`hwnas.evaluation.score_cache`), so an arch is scored once for all devices.
    """

    def __init__(self, space: SearchSpace, lut: str | None, folder: str, accuracy_of: str = "fp32"):
        super().__init__(space, lut, OneShotConfig(accuracy_of=accuracy_of))  # int8: evaluation.quantized
        self.folder = folder
        self._key = None
        self._scores: dict[str, float] = {}

    def prepare(self, run_dir: Path | None = None, progress: bool = False) -> None:
        from dataclasses import replace

        from hwnas.evaluation.score_cache import read_scores

        self._require_lut()
        require_int8_pricing(self._lut, self.config.accuracy_of)
        if self.supernet is not None:
            return
        artifact = load_supernet(Path(self.folder))
        require_space(artifact, self.space)
        self.config = replace(self.config, data=artifact.meta["config"]["data"])
        self._key = score_key(Path(self.folder), self.config, self._scored_as())
        self._scores = read_scores(Path(self.folder), self._key)
        self.supernet = artifact.net

    def accuracy(self, arch) -> float:
        """The cached score, or the one-shot scoring's, appended to the cache."""
        from hwnas.evaluation.score_cache import append_score

        name = str(arch)
        cached = self._scores.get(name)
        if cached is not None:
            return cached
        acc = super().accuracy(arch)
        append_score(Path(self.folder), self._key, name, acc,
                     accuracy_kind("oneshot-val", self.config.accuracy_of))
        self._scores[name] = acc
        return acc

    def _scored_as(self) -> str:
        return scored_as(self.config.accuracy_of, self._lut.meta.runtime)

    def describe(self) -> dict:
        return {"evaluator": "oneshot", "lut": self.lut_path, "supernet": self.folder,
                "calib_batches": self.config.calib_batches, "accuracy_of": self.config.accuracy_of}


def scored_as(accuracy_of: str, runtime: str) -> str:
    """The score cache's ``accuracy_of`` field: int8 scores depend on the runtime that quantized
    them (ORT QDQ vs XNNPACK), so they are kept apart; fp32 keeps the key older caches use."""
    return "supernet-fp32" if accuracy_of == "fp32" else f"supernet-{accuracy_of}-{runtime}"


def cached_archs(folder: Path, accuracy_of: str = "fp32", runtime: str = "") -> set[str]:
    """The archs ``folder/scores.jsonl`` holds for a search with the default scoring settings
    (what ``hwnas search --supernet`` uses), read without warnings: a before/after count."""
    from hwnas.evaluation.oneshot import OneShotConfig
    from hwnas.evaluation.score_cache import read_scores

    meta = read_json(Path(folder) / META, "supernet metadata")
    config = OneShotConfig(data=meta["config"]["data"])
    key = score_key(folder, config, scored_as(accuracy_of, runtime))
    return set(read_scores(Path(folder), key, warn=lambda _m: None))
