"""How well the structured strategy's surrogate ranks archs where the front is decided; prints JSON.

For every real pair of the NB201 dev table (``--data``, as ``benchmarks/strategies.py`` finds
it): fit the surrogate (``hwnas.search.surrogate.Surrogate``, Bayesian ridge) on ``--train``
uniformly drawn archs (seeded), predict all 15,625, cut the archs into ``--bins`` latency
quantiles, and in each bin take the model's top ``--top`` archs. The miss of a bin is the
bin's best true accuracy minus the best true accuracy among those picks (accuracy points): what
a search that trusts the model at that latency loses. Reported per encoding
(``hwnas.search.encodings.ENCODINGS``) and surrogate (``--models``, the structured strategy's
``model`` option; key ``ENCODING/MODEL``): the mean miss over bins and seeds, and Spearman rho
over all archs and within the top 10 % by accuracy.

It also prints each pair's noise ceiling: the seed noise of the accuracies, measured as the
spread between cells that compute the same function (ops on edges off every input-output path
set to ``none``), and the hypervolume ratio at 100 and 300 evaluations of a search that knew
every arch's expected accuracy (the table's value) and asked the best non-dominated layers by
it, scored in worlds where each evaluation adds that noise (10 seeded worlds, median). Near 1,
it says a miss is the model's, not the noise's.

Usage: ``python benchmarks/surrogate_quality.py [--seeds 4] [--train 100] [--data CSV]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from strategies import default_data, fail  # noqa: E402

from hwnas.errors import HwnasError  # noqa: E402
from hwnas.pareto import default_reference, hypervolume, non_dominated_sort, pareto_front  # noqa: E402
from hwnas.search.encodings import ENCODINGS, all_rows, live_edges, structure_encoding  # noqa: E402
from hwnas.search.structured import MODELS, TREE_FEATURES, TREES, quantile_strata  # noqa: E402
from hwnas.search.surrogate import Surrogate  # noqa: E402
from hwnas.space.nb201 import NB201_EDGES, NB201_OPS  # noqa: E402
from hwnas.testing.tabular import SENSES, read_pairs  # noqa: E402


def seed_noise(rows: np.ndarray, accuracy: np.ndarray) -> float:
    """Spread of accuracy between cells computing the same function (unbiased, pooled)."""
    cut = NB201_OPS.index("none")
    _, live = live_edges(rows, NB201_EDGES, cut)
    canon = np.where(live, rows, cut)
    alive = live.any(axis=1)  # dead cells all compute zero: chance accuracy, not seed noise
    _, group = np.unique(canon[alive], axis=0, return_inverse=True)
    acc = accuracy[alive]
    sums, counts = np.bincount(group, acc), np.bincount(group)
    resid = acc - (sums / counts)[group]
    dof = (counts - 1).sum()
    return float(np.sqrt((resid ** 2).sum() / dof))


def oracle_ratio(accuracy: np.ndarray, latency_ms: np.ndarray, sigma: float, evals: int,
                 worlds: int = 10) -> float:
    """Median hypervolume ratio of asking the best ``evals`` archs by expected accuracy."""
    return oracle_ratios(accuracy, latency_ms, sigma, [evals], worlds)[evals]


def oracle_ratios(accuracy: np.ndarray, latency_ms: np.ndarray, sigma: float, evals: list[int],
                  worlds: int = 10) -> dict[int, float]:
    """``oracle_ratio`` for several budgets, sorting the archs into layers once (the slow part)."""
    order = np.concatenate(non_dominated_sort(np.c_[accuracy, latency_ms], SENSES))
    ratios: dict[int, list[float]] = {n: [] for n in evals}
    for world in range(worlds):
        noisy = np.c_[accuracy + np.random.default_rng(world).normal(0, sigma, len(accuracy)),
                      latency_ms]
        true = noisy[pareto_front(noisy, SENSES)]
        ref = default_reference(true, SENSES)
        for n in evals:
            ratios[n].append(hypervolume(noisy[order[:n]], SENSES, ref) / hypervolume(true, SENSES, ref))
    return {n: float(np.median(r)) for n, r in ratios.items()}


def bin_misses(predicted: np.ndarray, accuracy: np.ndarray, latency_ms: np.ndarray, bins: int,
               top: int) -> list[float]:
    """Per latency quantile bin: best accuracy in it minus the best among the model's top picks."""
    which = quantile_strata(latency_ms, bins)
    misses = []
    for b in range(bins):
        idx = np.flatnonzero(which == b)
        if len(idx):
            picks = idx[np.argsort(-predicted[idx], kind="stable")[:top]]
            misses.append(float(accuracy[idx].max() - accuracy[picks].max()))
    return misses


def _fit_all(rows: np.ndarray, feats: dict, acc: np.ndarray, seeds: int, train_archs: int,
             models: list[str]) -> dict:
    """Per encoding, model and seed, the model's predictions of every arch, their rank
    correlations, and the accuracies' seed noise: all that depends on the accuracy alone."""
    best = acc >= np.quantile(acc, 0.9)
    predictions, spearman = {}, {}
    for (encoding, x), model in itertools.product(feats.items(), models):
        kind = f"{encoding}/{model}"
        means = []
        for seed in range(seeds):
            train = np.random.default_rng(seed).choice(len(acc), train_archs, replace=False)
            # the structured strategy's settings (StructuredPredictor._refit)
            fitted = Surrogate(model, seed, trees=TREES, max_features=TREE_FEATURES)
            means.append(fitted.fit(x[train], acc[train]).predict(x)[0])
        predictions[kind] = means
        spearman[kind] = {
            "spearman_all": round(float(np.mean([spearmanr(m, acc)[0] for m in means])), 3),
            "spearman_top10pct": round(float(np.mean([spearmanr(m[best], acc[best])[0]
                                                      for m in means])), 3)}
    return {"predictions": predictions, "spearman": spearman, "sigma": seed_noise(rows, acc)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--train", type=int, default=100, help="archs the surrogate is fitted on")
    parser.add_argument("--bins", type=int, default=20)
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--models", nargs="+", default=["ridge", "extra-trees"], choices=MODELS)
    args = parser.parse_args()
    try:
        pairs = read_pairs(args.data or default_data())
    except HwnasError as exc:
        fail(str(exc))
    space = next(iter(pairs.values())).space
    rows = all_rows(space)
    feats = {kind: structure_encoding(space, rows, kind) for kind in ENCODINGS}
    report = {"train_archs": args.train, "seeds": args.seeds, "bins": args.bins, "top": args.top,
              "pairs": {}, "mean_miss": {}}
    fitted: dict[str, dict] = {}  # per accuracy: the models' predictions do not depend on the device
    for name, pair in pairs.items():
        acc = np.array([pair.accuracy[tuple(r)] for r in rows])
        lat = np.array([pair.latency_ms[tuple(r)] for r in rows])
        accuracy_name = name.split("/")[0]
        if accuracy_name not in fitted:
            fitted[accuracy_name] = _fit_all(rows, feats, acc, args.seeds, args.train, args.models)
        predictions, sigma = fitted[accuracy_name]["predictions"], fitted[accuracy_name]["sigma"]
        entry = {}
        for kind, means in predictions.items():
            misses = [m for mean in means for m in bin_misses(mean, acc, lat, args.bins, args.top)]
            entry[kind] = {"mean_miss_points": round(float(np.mean(misses)), 3),
                           **fitted[accuracy_name]["spearman"][kind]}
        entry["noise_ceiling"] = {"seed_noise_points": round(sigma, 3), **{
            f"oracle_hv_ratio@{n}": round(r, 4)
            for n, r in oracle_ratios(acc, lat, sigma, [100, 300]).items()}}
        report["pairs"][name] = entry
        print(name, " ".join(f"{k} {entry[k]['mean_miss_points']:.2f}" for k in predictions),
              entry["noise_ceiling"],
              file=sys.stderr, flush=True)
    for kind in next(iter(fitted.values()))["predictions"]:
        report["mean_miss"][kind] = round(float(np.mean(
            [e[kind]["mean_miss_points"] for e in report["pairs"].values()])), 3)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
