"""The ranking fidelity of a supernet: does its inherited accuracy order archs as training does?

``N`` archs spread over the MAC range (a seeded pool, sorted by MACs, read at evenly spaced
quantiles) are scored twice: with the supernet's inherited weights after BatchNorm recalibration
(the one-shot evaluator's own scoring) and by training each from scratch with two different seeds.
Kendall tau, Spearman rho and top-k overlap between inherited and stand-alone accuracy (the mean of
the two seeds) are reported beside the same figures between the two seeds: no evaluator can rank
better than training itself agrees with itself. Everything is scored on the validation split; the
test split is never read (the scratch runs get an empty test split).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from hwnas.errors import HwnasError
from hwnas.evaluation.base import arch_costs
from hwnas.evaluation.path_sampling import choice_macs, choice_ranks, tilted_path
from hwnas.evaluation.supernet_artifact import META, Supernet
from hwnas.io import write_json
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace

PLOT = "fidelity.png"


@dataclass(frozen=True)
class RankConfig:
    samples: int = 8
    epochs: int = 3
    seed: int = 0
    top_k: int = 0  # 0: a quarter of the samples (at least 1)
    batch_size: int = 64
    lr: float = 0.05

    def check(self) -> None:
        if self.samples < 3:
            raise HwnasError(f"--samples must be >= 3 for a rank correlation, not {self.samples}",
                             "pass --samples 8 or more")
        if self.epochs < 1:
            raise HwnasError(f"--epochs must be >= 1, not {self.epochs}", "pass --epochs 1 or more")
        if not 0 <= self.top_k <= self.samples:
            raise HwnasError(f"--top-k must be in [0, {self.samples}], not {self.top_k}",
                             "pass 0 (a quarter of --samples) or a smaller k")

    @property
    def k(self) -> int:
        return self.top_k or max(1, self.samples // 4)


def spread_archs(space: SearchSpace, count: int, rng: np.random.Generator,
                 pool_factor: int = 8) -> list[Arch]:
    """``count`` distinct archs spread over the MAC range of a seeded random pool.

    Uniform sampling piles archs up in the middle of the MAC range (a sum of independent choices),
    where a true ranking is hardest to see; so each pool arch is a
    :func:`~hwnas.evaluation.path_sampling.tilted_path` (towards small or large ops by its own
    random tilt; the ``spread`` training rule draws its paths the same way), which spreads the pool
    from near the smallest path to near the largest. The picks sit at evenly spaced quantiles of
    the pool sorted by MACs.
    """
    macs = choice_macs(space)
    ranks = choice_ranks(macs)
    pool = [space.arch_from_indices(tilted_path(ranks, rng)) for _ in range(count * pool_factor)]
    pool = list(dict.fromkeys(pool))
    if len(pool) < count:
        raise HwnasError(f"space {space.name} holds fewer than {count} distinct archs",
                         "pass a smaller --samples")
    # positions are independent, so an arch's MACs are a constant plus its choices' MACs: the
    # order comes without building a network per pool arch
    pool.sort(key=lambda a: (sum(m[i] for m, i in zip(macs, space.indices(a))), str(a)))
    picks = np.linspace(0, len(pool) - 1, count).round().astype(int)
    return [pool[i] for i in picks]


def _corr(a: list[float], b: list[float]) -> tuple[float | None, float | None]:
    import warnings

    from scipy.stats import kendalltau, spearmanr

    def clean(value: float) -> float | None:  # a constant column has no rank order: NaN -> None
        return None if value is None or math.isnan(value) else float(value)

    with warnings.catch_warnings():  # scipy warns on a constant column; its NaN becomes None here
        warnings.simplefilter("ignore")
        return clean(kendalltau(a, b).statistic), clean(spearmanr(a, b).statistic)


def _top_k_overlap(a: list[float], b: list[float], k: int) -> float:
    top = lambda v: set(np.argsort(-np.asarray(v), kind="stable")[:k].tolist())  # noqa: E731
    return len(top(a) & top(b)) / k


def agreement(a: list[float], b: list[float], k: int) -> dict:
    tau, rho = _corr(a, b)
    return {"kendall_tau": tau, "spearman_rho": rho, "top_k_overlap": _top_k_overlap(a, b, k)}


def scratch_val_accuracy(space: SearchSpace, arch: Arch, data, epochs: int, seed: int,
                         batch_size: int, lr: float) -> float:
    """What the scratch evaluator does for one arch (full training split), validation only."""
    from hwnas.nn import build_model
    from hwnas.train import TrainConfig, seeded, train_model

    model = seeded(seed, lambda: build_model(space, arch))
    result = train_model(model, data, TrainConfig(epochs, batch_size, lr, seed=seed), progress=False)
    return result.val_acc


def calibration_batches(data, count: int, batch_size: int, seed: int | None) -> list:
    """``count`` training batches for BatchNorm recalibration, from a seeded shuffle.

    ``seed=None`` draws what the one-shot evaluator draws (:func:`hwnas.nn.input_batches` with its
    default seed). Never the first batches in file order: an ImageFolder tree lists its images
    class by class, so those batches would hold a single class.
    """
    from hwnas.nn import input_batches

    if seed is None:
        return input_batches(data, count, batch_size)
    return input_batches(data, count, batch_size, seed=seed)


def inherited_val_accuracy(net, space: SearchSpace, arch: Arch, data, batches: list) -> float:
    """Validation accuracy of ``arch`` with the supernet's weights, BatchNorm recalibrated on
    ``batches`` (the one-shot evaluator's scoring, with the calibration batches passed in)."""
    import torch

    from hwnas.nn import recalibrate_bn

    gates = list(space.indices(arch))
    with torch.no_grad():
        recalibrate_bn(net, batches, forward=lambda x: net(x, gates))
        correct = n = 0
        for x, y in data.loader("val", 256):
            correct += (net(x, gates).argmax(1) == y).sum().item()
            n += len(y)
    return correct / max(n, 1)


def measure_fidelity(supernet: Supernet, cfg: RankConfig, say=lambda _msg: None) -> dict:
    """Score ``cfg.samples`` archs both ways; the fidelity record stored in ``supernet.json``."""
    from torch.utils.data import Subset

    from hwnas.data import load_for_space
    from hwnas.evaluation.oneshot import OneShotConfig, OneShotEvaluator

    cfg.check()
    space, data_spec = supernet.space, supernet.meta["config"]["data"]
    archs = spread_archs(space, cfg.samples, np.random.default_rng(cfg.seed))
    scorer = OneShotEvaluator(space, None, OneShotConfig(data=data_spec, seed=cfg.seed))
    scorer.supernet = supernet.net  # reuse its scoring (BN recalibration, val split) on these weights
    data = load_for_space(data_spec, space)
    data = replace(data, test=Subset(data.test, []))  # the ranking never sees the test split
    seeds = (cfg.seed + 1, cfg.seed + 2)
    rows = []
    for i, arch in enumerate(archs):
        inherited = scorer.accuracy(arch)
        alone = [scratch_val_accuracy(space, arch, data, cfg.epochs, s, cfg.batch_size, cfg.lr)
                 for s in seeds]
        params, macs = arch_costs(space, arch)
        rows.append({"arch": str(arch), "macs": macs, "params": params, "inherited_val_acc": inherited,
                     "standalone_val_acc": alone, "standalone_mean_val_acc": float(np.mean(alone))})
        say(f"[{i + 1}/{len(archs)}] {arch}: inherited {inherited:.3f}, stand-alone "
            f"{alone[0]:.3f} / {alone[1]:.3f}")
    inherited = [r["inherited_val_acc"] for r in rows]
    mean = [r["standalone_mean_val_acc"] for r in rows]
    first, second = ([r["standalone_val_acc"][j] for r in rows] for j in (0, 1))
    return {"config": asdict(cfg), "k": cfg.k, "split": "val", "standalone_seeds": list(seeds),
            "supernet_vs_standalone": agreement(inherited, mean, cfg.k),
            "seed_to_seed_ceiling": agreement(first, second, cfg.k),
            "archs": rows}


def store_fidelity(supernet: Supernet, fidelity: dict) -> Path:
    """Write the fidelity into the artifact's metadata (atomically) and plot it; the PNG path."""
    write_json(supernet.path / META, {**supernet.meta, "fidelity": fidelity})
    return plot_fidelity(fidelity, supernet.path / PLOT)


def plot_fidelity(fidelity: dict, path: Path) -> Path:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hwnas.io import write_bytes

    rows = fidelity["archs"]
    x = [r["inherited_val_acc"] for r in rows]
    y = [r["standalone_mean_val_acc"] for r in rows]
    lo = [r["standalone_mean_val_acc"] - min(r["standalone_val_acc"]) for r in rows]
    hi = [max(r["standalone_val_acc"]) - r["standalone_mean_val_acc"] for r in rows]
    ours, ceiling = fidelity["supernet_vs_standalone"], fidelity["seed_to_seed_ceiling"]
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.errorbar(x, y, yerr=[lo, hi], fmt="o", capsize=3)
    ax.set_xlabel("inherited val accuracy (supernet, BN recalibrated)")
    ax.set_ylabel("stand-alone val accuracy (2 seeds: mean, range)")
    ax.set_title(f"supernet tau {fmt(ours['kendall_tau'])}, rho {fmt(ours['spearman_rho'])}; "
                 f"seed-to-seed tau {fmt(ceiling['kendall_tau'])}", fontsize=9)
    ax.grid(alpha=0.3)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_bytes(path, buffer.getvalue())
    return path
