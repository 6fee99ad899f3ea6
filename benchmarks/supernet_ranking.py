"""Supernet ranking fidelity: does a uniform, tilted, sandwich or spread supernet rank archs as training does?

    python benchmarks/supernet_ranking.py [--data digits] [--data imagefolder:PATH | --data cifar]
        [--space mbconv-small] [--samples 10] [--epochs 2] [--supernet-epochs 4]
        [--random-paths 1] [--no-distill] [--supernet-augment none|cifar|shift|imagenet|auto]
        [--samplings uniform,tilted,sandwich,spread] [--train-images 0] [--work DIR] [--seed 0] [--quick]

For every ``--data`` (default: digits and ``cifar``, the 6,187-image CIFAR-10 subset in
``../shared/data/cifar10-subset`` beside the checkout): ``--samples`` archs spread over the MAC range
are trained from scratch with two seeds (``--epochs`` each), once, and every supernet of
``--samplings`` (uniform single path; tilted: one path a step leaning to small or large ops;
sandwich: largest, smallest and ``--random-paths`` random paths a step; spread: sandwich with tilted
random paths that cover the MAC range; in-place distillation unless ``--no-distill``) is trained
once for ``--supernet-epochs``, its training images augmented as ``--supernet-augment`` says (the
stand-alone runs are never augmented, so every supernet is ranked against the same runs). The same
archs and the same stand-alone runs serve every supernet.
Inherited accuracy is scored twice per supernet: BatchNorm recalibrated on 4 training batches of a
seeded shuffle (what the one-shot evaluator does) and on 16.
Printed JSON: Kendall tau, Spearman rho and top-k overlap of each against the stand-alone mean, the
MAC quantiles of the paths each rule trains, the stand-alone seed-to-seed agreement (the ceiling)
and the ratio to it (goal: tau >= 0.8 x the ceiling). Validation split only.

Every stage is cached in ``--work`` (default ``./supernet-ranking-work``): a supernet resumes from
its last finished epoch, each stand-alone run and each inherited score is a JSON file written when
it finishes, so a killed run continues where it stopped. ``--quick``: digits, 3 archs, 1 epoch,
256 training images (a seeded sample) (a test runs it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from hwnas.data.transforms import PRESETS
from hwnas.errors import HwnasError
from hwnas.evaluation.path_sampling import SAMPLINGS, SINGLE_PATH

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CIFAR = ROOT.parent / "shared" / "data" / "cifar10-subset"
GOAL_RATIO = 0.8
# (label, calibration batches, shuffle seed or None for the one-shot evaluator's own draw, which is
# hwnas.nn.input_batches: a seeded shuffle too, so evaluator-4 holds the first 4 of shuffled-16)
CALIBRATIONS = (("evaluator-4", 4, None), ("shuffled-16", 16, 0))


@dataclass(frozen=True)
class Sizes:
    samples: int = 10
    epochs: int = 2  # stand-alone epochs per arch and seed
    supernet_epochs: int = 4
    random_paths: int = 1
    distill: bool = True
    supernet_augment: str = "none"  # the supernets' training augmentation (stand-alone runs: none)
    train_images: int = 0  # 0: the whole training split
    batch_size: int = 64
    lr: float = 0.05
    seed: int = 0


QUICK = Sizes(samples=3, epochs=1, supernet_epochs=1, random_paths=0, train_images=256)


def _key(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _cached(path: Path, compute) -> dict:
    """The record in ``path``, or ``compute()`` written there atomically (a killed run resumes)."""
    from hwnas.io import read_json, write_json

    if path.is_file():
        return read_json(path, "cached stage")
    record = compute()
    write_json(path, record)
    return record


def _spread_order(n: int) -> list[int]:
    """0..n-1 in an order whose every prefix is spread over the range (first, last, middle...),
    so a run stopped early has finished archs from the whole MAC range."""
    order, queue = [], [(0, n - 1)]
    seen = set()
    while queue:
        lo, hi = queue.pop(0)
        for i in (lo, hi, (lo + hi) // 2):
            if lo <= i <= hi and i not in seen:
                seen.add(i)
                order.append(i)
        mid = (lo + hi) // 2
        if mid - lo > 1:
            queue.append((lo + 1, mid - 1))
        if hi - mid > 1:
            queue.append((mid + 1, hi - 1))
    return order + [i for i in range(n) if i not in seen]


def _supernet(space, spec: str, data, sampling: str, sizes: Sizes, work: Path, partial: bool):
    from hwnas.evaluation.supernet_artifact import (
        CHECKPOINT,
        META,
        WEIGHTS,
        SupernetTrainConfig,
        load_supernet,
        train_supernet,
    )
    from hwnas.io import read_json

    cfg = SupernetTrainConfig(space=space.name, data=spec, epochs=sizes.supernet_epochs, sampling=sampling,
                              random_paths=sizes.random_paths if sampling not in SINGLE_PATH else 2,
                              distill=sizes.distill and sampling not in SINGLE_PATH,
                              augment=sizes.supernet_augment, batch_size=sizes.batch_size, lr=sizes.lr,
                              seed=sizes.seed)
    folder = work / f"supernet-{sampling}-{_key([cfg.trained_for(), sizes.train_images])}"
    done = (folder / WEIGHTS).is_file() and read_json(folder / META, "supernet metadata").get("complete")
    if not done and partial:  # ranked without it; the JSON lists it under supernets_missing
        return None
    if not done:
        resume = (folder / CHECKPOINT).is_file()
        _log(f"{'resume' if resume else 'train'} {sampling} supernet, {cfg.epochs} epochs -> {folder}")
        train_supernet(space, cfg, folder, resume=resume, say=_log, data=data)
    return load_supernet(folder), cfg


def _standalone(space, archs, data, seeds, sizes: Sizes, work: Path, partial: bool,
                shard: tuple[int, int] = (0, 1), reverse: bool = False) -> dict[tuple[int, int], float]:
    """Validation accuracy of every arch trained from scratch with every seed (cached per run);
    ``partial``: only the runs already cached, nothing trains; ``shard`` (i, n): train only every
    n-th run from the i-th, so n processes share the runs; ``reverse``: take the runs from the end
    (a helper started late meets the others in the middle)."""
    from hwnas.evaluation.fidelity_rank import scratch_val_accuracy

    def train(arch, seed: int, what: dict) -> dict:
        t0 = time.perf_counter()
        acc = scratch_val_accuracy(space, arch, data, sizes.epochs, seed, sizes.batch_size, sizes.lr)
        _log(f"stand-alone {arch} seed {seed}: val {acc:.3f} ({time.perf_counter() - t0:.0f} s)")
        return {**what, "val_acc": acc, "wall_s": time.perf_counter() - t0}

    alone = {}
    runs = [(i, seed) for i in _spread_order(len(archs)) for seed in seeds]
    for j, (i, seed) in (reversed(list(enumerate(runs))) if reverse else enumerate(runs)):
        what = {"arch": str(archs[i]), "seed": seed, "epochs": sizes.epochs, "batch": sizes.batch_size,
                "lr": sizes.lr}
        path = work / f"standalone-{_key(what)}.json"
        if not path.is_file() and (partial or j % shard[1] != shard[0]):
            continue
        record = _cached(path, lambda a=archs[i], s=seed, w=what: train(a, s, w))
        alone[i, seed] = record["val_acc"]
    return alone


def _inherited(supernet, space, archs, data, calibration: tuple, sizes: Sizes, work: Path) -> list[float]:
    """Inherited validation accuracy of every arch, BatchNorm recalibrated as ``calibration`` says."""
    from hwnas.evaluation.fidelity_rank import calibration_batches, inherited_val_accuracy

    label, count, shuffle_seed = calibration
    batches: list = []

    def score(arch, what: dict) -> dict:
        if not batches:
            batches.extend(calibration_batches(data, count, sizes.batch_size, shuffle_seed))
        return {**what, "val_acc": inherited_val_accuracy(supernet.net, space, arch, data, batches)}

    scores = []
    for arch in archs:
        what = {"supernet": supernet.path.name, "arch": str(arch), "calibration": label}
        record = _cached(work / f"inherited-{_key(what)}.json", lambda a=arch, w=what: score(a, w))
        scores.append(record["val_acc"])
    return scores


def rank_one(spec: str, space_name: str, sizes: Sizes, work: Path, partial: bool = False,
             stage: str = "all", shard: tuple[int, int] = (0, 1), reverse: bool = False,
             samplings: tuple[str, ...] = SAMPLINGS) -> dict:
    from torch.utils.data import Subset

    from hwnas.data import load_for_space
    from hwnas.evaluation.base import arch_costs
    from hwnas.evaluation.fidelity_rank import agreement, spread_archs
    from hwnas.evaluation.path_sampling import PathSampler, choice_macs, path_macs_quantiles
    from hwnas.space import get_space

    started, load_start = time.perf_counter(), os.getloadavg()
    space = get_space(space_name)
    data = load_for_space(spec, space)
    # the supernets' bundle: the same split, its training images augmented as --supernet-augment says
    # (unaugmented, it is the same bundle: the folder is not read twice)
    sn_data = (data if sizes.supernet_augment == "none"
               else load_for_space(spec, space, augment=sizes.supernet_augment))
    if sizes.train_images and sizes.train_images < len(data.train):
        # a seeded random subset: an ImageFolder split is sorted by class, its first N are not a sample
        keep = np.sort(np.random.default_rng(sizes.seed).choice(len(data.train), sizes.train_images,
                                                                replace=False)).tolist()
        data, sn_data = (replace(d, train=Subset(d.train, keep)) for d in (data, sn_data))
    # the ranking never sees the test split
    data, sn_data = (replace(d, test=Subset(d.test, [])) for d in (data, sn_data))
    # the seed picks the training subset (and the archs): runs of other seeds never share a cache
    # folder (seed 0 keeps its original key, so earlier caches stay valid)
    work = work / _key([spec, space.name, sizes.train_images] + ([sizes.seed] if sizes.seed else []))
    if not partial:  # --partial trains nothing, so it makes no folder either
        work.mkdir(parents=True, exist_ok=True)
    archs = spread_archs(space, sizes.samples, np.random.default_rng(sizes.seed))
    seeds = (sizes.seed + 1, sizes.seed + 2)

    if stage == "standalone":  # one of several processes sharing the stand-alone runs
        done = _standalone(space, archs, data, seeds, sizes, work, partial, shard, reverse)
        return {"data": spec, "stage": stage, "shard": list(shard), "runs_done": len(done)}
    trained = {sampling: _supernet(space, spec, sn_data, sampling, sizes, work, partial)
               for sampling in samplings}
    supernets = {k: v for k, v in trained.items() if v is not None}
    if not supernets:
        raise HwnasError(f"no supernet in {work} is trained for these settings",
                         "run without --partial to train them")
    if stage == "supernets":
        return {"data": spec, "stage": stage, "supernets": [str(sn.path) for sn, _ in supernets.values()]}
    alone = _standalone(space, archs, data, seeds, sizes, work, partial)
    done = [i for i in range(len(archs)) if all((i, s) in alone for s in seeds)]
    if len(done) < 3:
        raise HwnasError(f"only {len(done)} of {len(archs)} archs have both stand-alone runs in {work}",
                         "run without --partial to train them")
    alone = {(j, s): alone[i, s] for j, i in enumerate(done) for s in seeds}
    archs = [archs[i] for i in done]
    k = max(1, len(archs) // 4)
    first, second = ([alone[i, s] for i in range(len(archs))] for s in seeds)
    mean = [(a + b) / 2 for a, b in zip(first, second)]
    ceiling = agreement(first, second, k)

    rows = [{"arch": str(a), "macs": arch_costs(space, a)[1], "standalone_val_acc": [first[i], second[i]],
             "inherited_val_acc": {}} for i, a in enumerate(archs)]
    results = []
    choice = choice_macs(space)  # an arch's MACs: a constant (stem, head) plus its choices'
    base_macs = rows[0]["macs"] - sum(m[i] for m, i in zip(choice, space.indices(archs[0])))
    for sampling, (supernet, cfg) in supernets.items():
        # the MACs of the paths one epoch of this rule trains (epoch 0's generator, 500 steps)
        trained_macs = path_macs_quantiles(space, PathSampler.for_space(space, sampling, cfg.random_paths),
                                           np.random.default_rng([cfg.seed, 0]), 500, base_macs=base_macs)
        for calibration in CALIBRATIONS:
            label, count, _ = calibration
            scores = _inherited(supernet, space, archs, data, calibration, sizes, work)
            for row, score in zip(rows, scores):
                row["inherited_val_acc"][f"{sampling}/{label}"] = score
            ours = agreement(scores, mean, k)
            ratio = (ours["kendall_tau"] / ceiling["kendall_tau"]
                     if ours["kendall_tau"] is not None and (ceiling["kendall_tau"] or 0) > 0 else None)
            results.append({"sampling": sampling, "random_paths": None if sampling in SINGLE_PATH
                            else cfg.random_paths, "distill": cfg.distill, "augment": cfg.augment,
                            "epochs": cfg.epochs,
                            "calibration": label, "calib_batches": count,
                            "train_wall_s": supernet.meta.get("train_wall_s"),
                            "trained_macs_quantiles": dict(zip(("min", "p5", "p50", "p95", "max"),
                                                               trained_macs)),
                            "inherited_range": [min(scores), max(scores)], "vs_standalone": ours,
                            "ratio_to_ceiling": ratio,
                            "meets_goal": ratio is not None and ratio >= GOAL_RATIO})
    return {"data": spec, "space": space.name, "sizes": asdict(sizes), "k": k, "split": "val",
            "archs_ranked": len(archs), "partial": partial,
            "supernets_missing": [k for k, v in trained.items() if v is None],
            "train_images": len(data.train), "val_images": len(data.val), "standalone_seeds": list(seeds),
            "standalone_mean_range": [min(mean), max(mean)],
            "macs_range": [rows[0]["macs"], rows[-1]["macs"]],
            "seed_to_seed_ceiling": ceiling,
            # the zero-cost baseline a supernet has to beat: rank the archs by their MACs alone
            "macs_vs_standalone": agreement([float(r["macs"]) for r in rows], mean, k),
            "supernets": results, "goal": f"tau >= {GOAL_RATIO} x ceiling",
            "archs": rows, "wall_s": time.perf_counter() - started,
            "load_average": {"start": list(load_start), "end": list(os.getloadavg())}}


def _data_specs(given: list[str] | None) -> list[str]:
    specs = []
    for spec in given or ["digits", "cifar"]:
        if spec == "cifar":
            if not DEFAULT_CIFAR.is_dir():
                raise HwnasError(f"the CIFAR-10 subset is not at {DEFAULT_CIFAR}",
                                 "pass --data imagefolder:PATH (PATH holds train/ and test/)")
            spec = f"imagefolder:{DEFAULT_CIFAR}"
        specs.append(spec)
    return specs


def _samplings(text: str) -> tuple[str, ...]:
    given = tuple(dict.fromkeys(t.strip() for t in text.split(",")))
    unknown = [t for t in given if t not in SAMPLINGS]
    if unknown or not given:
        raise HwnasError(f"--samplings {text!r} names no sampling rule or an unknown one "
                         f"({', '.join(unknown)})",
                         f"pass a comma-separated subset of {','.join(SAMPLINGS)}")
    return given


def _shard(text: str) -> tuple[int, int]:
    i, _, n = text.partition("/")
    if not (i.isdigit() and n.isdigit() and 1 <= int(i) <= int(n)):
        raise HwnasError(f"--shard {text!r} is not I/N with 1 <= I <= N", "pass e.g. --shard 1/2")
    return int(i) - 1, int(n)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", action="append", help="digits | cifar | imagefolder:PATH (repeatable)")
    p.add_argument("--space", default="mbconv-small")
    p.add_argument("--samples", type=int, default=Sizes.samples)
    p.add_argument("--epochs", type=int, default=Sizes.epochs, help="stand-alone epochs per seed")
    p.add_argument("--supernet-epochs", type=int, default=Sizes.supernet_epochs)
    p.add_argument("--random-paths", type=int, default=Sizes.random_paths, help="k of sandwich and spread")
    p.add_argument("--no-distill", action="store_true",
                   help="sandwich and spread without in-place distillation")
    p.add_argument("--supernet-augment", default="none",
                   help=f"the supernets' training augmentation: {' | '.join(PRESETS)} (the "
                        "stand-alone runs stay unaugmented, so their cache is shared)")
    p.add_argument("--samplings", default=",".join(SAMPLINGS),
                   help="the supernets to train and rank, comma-separated (processes sharing --work "
                        "can train one each)")
    p.add_argument("--train-images", type=int, default=0,
                   help="train on a seeded random N of the training images (0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 suits a shared machine)")
    p.add_argument("--work", type=Path, default=Path("supernet-ranking-work"))
    p.add_argument("--quick", action="store_true", help="digits, 3 archs, 1 epoch, 256 images")
    p.add_argument("--stage", choices=("all", "supernets", "standalone"), default="all",
                   help="run one stage only (processes sharing --work); all: every stage, then the figures")
    p.add_argument("--shard", default="1/1", help="with --stage standalone: I/N, this process's share")
    p.add_argument("--reverse", action="store_true", help="with --stage standalone: take runs from the end")
    p.add_argument("--partial", action="store_true",
                   help="train nothing: rank the archs and supernets already done in --work")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(max(1, args.threads))
    sizes = QUICK if args.quick else Sizes(args.samples, args.epochs, args.supernet_epochs, args.random_paths,
                                           not args.no_distill, args.supernet_augment, args.train_images,
                                           seed=args.seed)
    try:
        if sizes.samples < 3 or sizes.epochs < 1 or sizes.supernet_epochs < 1 or sizes.train_images < 0:
            raise HwnasError("--samples must be >= 3, --epochs and --supernet-epochs >= 1, "
                             "--train-images >= 0", "pass larger values")
        specs = ["digits"] if args.quick else _data_specs(args.data)
        out = {"command": " ".join(["python", "benchmarks/supernet_ranking.py", *(argv or sys.argv[1:])]),
               "results": [rank_one(spec, args.space, sizes, args.work, args.partial, args.stage,
                                    _shard(args.shard), args.reverse, _samplings(args.samplings))
                           for spec in specs]}
    except HwnasError as exc:
        print(f"error: {exc}", file=sys.stderr)  # the cause; the fix
        return 2
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
