"""How close each strategy's front gets to the true front on tabular problems; prints JSON.

Two problems, both with the exact true Pareto front known:

* ``synthetic-nb201``: every one of NB201's 15,625 archs gets a synthetic (accuracy, latency)
  from seeded per-edge effects plus pairwise interactions; the front is found by enumeration.
* ``fbnet-cifar100-pixel3``: latency is the Pixel 3 sum of HW-NAS-Bench per-op values (the
  shipped table when present, else ``shared/data/hwnasbench-fbnet/fbnet_lut.json``). Accuracy is a
  documented proxy: per layer ``s_p(j) = w_p * log2(1 + MACs_pj / MACs_p,min) (+0.1 w_p for 5x5
  kernels)`` where ``w_p`` grows with depth (1 + stage / 3); ``S = sum_p s_p``;
  ``accuracy = 0.30 + 0.45 * (1 - exp(-S / S0))``, ``S0`` the mean S of uniform archs. It saturates
  in capacity and is monotone in the additive S, so the exact front of (accuracy, latency) is the
  front of the two additive sums, found by merging per-layer fronts (a multiple-choice knapsack).

Metric: hypervolume of the front found after 100 and 300 distinct evaluations divided by the
true front's, reference point = the true front's worst accuracy and worst latency padded by 10 %
of their ranges (``hwnas.pareto.default_reference``). Median and range over seeds.

Usage: ``python benchmarks/strategies.py [--seeds 10] [--evals 100 300] [--strategies ...]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

from hwnas.pareto import default_reference, hypervolume, pareto_front
from hwnas.search import Observation, Problem, make_strategy
from hwnas.space import get_space

SENSES = ("max", "min")
OPTIONS = {"evolution": {"population": 50, "sample_size": 25}, "nsga2": {"population": 20},
           "rl": {"reward": "soft"}, "predictor": {"initial": 10}, "random": {}}


class Tabular:
    """Additive-per-position objectives: acc(arch) = f(sum a_p), lat = fixed + sum l_p."""

    def __init__(self, name, space, acc_terms, lat_terms, fixed_ms, acc_map, pair=None):
        self.name, self.space = name, space
        self.acc_terms, self.lat_terms, self.fixed_ms = acc_terms, lat_terms, fixed_ms
        self.acc_map, self.pair = acc_map, pair

    def values(self, arch) -> tuple[float, float]:
        idx = self.space.indices(arch)
        s = sum(t[j] for t, j in zip(self.acc_terms, idx))
        if self.pair is not None:
            s += sum(self.pair[p][idx[p], idx[p + 1]] for p in range(len(idx) - 1))
        lat = self.fixed_ms + sum(t[j] for t, j in zip(self.lat_terms, idx))
        return float(self.acc_map(s)), float(lat)


def synthetic_nb201() -> tuple[Tabular, np.ndarray]:
    space = get_space("nb201")
    rng = np.random.default_rng(2024)
    cost = np.array([0.0, 0.05, 0.4, 1.0, 0.3])  # none, skip, conv1x1, conv3x3, pool
    lat = [cost * rng.uniform(0.8, 1.2) + rng.uniform(0, 0.05, 5) for _ in range(6)]
    gain = np.array([0.0, 0.15, 0.5, 0.8, 0.25])
    acc = [gain * rng.uniform(0.6, 1.4) + rng.normal(0, 0.05, 5) for _ in range(6)]
    pair = [rng.normal(0, 0.05, (5, 5)) for _ in range(5)]
    prob = Tabular("synthetic-nb201", space, acc, lat, 1.0, lambda s: 0.5 + 0.1 * s, pair)
    pts = np.array([prob.values(space.arch_from_indices(i))
                    for i in itertools.product(range(5), repeat=6)])
    return prob, pts[pareto_front(pts, SENSES)]


def _pixel3_costs(space):
    shipped = Path(__file__).resolve().parent.parent / "latency_tables"
    for path in sorted(shipped.glob("**/*pixel3*fbnet-cifar100*.json")):
        from hwnas.latency import LatencyTable

        cost = LatencyTable.load(path).cost_model(space)
        return list(cost.costs), cost.fixed, str(path)
    here = Path(__file__).resolve().parent.parent
    for root in (here / "shared", here.parent / "shared", Path("/work/shared")):
        lut = root / "data/hwnasbench-fbnet/fbnet_lut.json"
        if lut.exists():
            values = json.loads(lut.read_text())["pixel3_latency"]
            costs = [np.array([sum(values[o.key] for o in ops) for ops in space.candidate_ops(p)])
                     for p in range(space.num_positions)]
            fixed = sum(values[o.key] for o in (*space.prefix_ops(), *space.suffix_ops()))
            return costs, fixed, str(lut)
    sys.exit("no Pixel 3 table: ship latency_tables/... or put shared/ beside the checkout")


def fbnet_pixel3() -> tuple[Tabular, np.ndarray, str]:
    import torch

    from hwnas.nn import build_op, count_macs

    space = get_space("fbnet-cifar100")
    lat_terms, fixed, source = _pixel3_costs(space)
    acc_terms = []
    for p in range(space.num_positions):
        stage = int(space.position_label(p).split("stage ")[1].split(",")[0])
        w = 1.0 + stage / 3.0
        macs = []
        for ops in space.candidate_ops(p):
            with torch.random.fork_rng(devices=[]):
                macs.append(sum(count_macs(build_op(o, "relu"), o.in_shape) for o in ops))
        macs = np.array(macs, dtype=float)
        base = max(macs[macs > 0].min(), 1.0)
        k5 = np.array([1.0 if "k5" in t else 0.0 for t in space.choices()[p]])
        acc_terms.append(w * (np.log2(1.0 + macs / base) + 0.1 * k5))
    rng = np.random.default_rng(0)
    s0 = float(np.mean([sum(t[rng.integers(len(t))] for t in acc_terms) for _ in range(2000)]))
    prob = Tabular("fbnet-cifar100-pixel3", space, acc_terms, lat_terms, fixed,
                   lambda s: 0.30 + 0.45 * (1.0 - np.exp(-s / s0)))
    # exact front of (sum a, sum l): merge layer by layer, pruning dominated partial sums
    front = np.array([[0.0, fixed]])
    for a, lat in zip(acc_terms, lat_terms):
        cand = (front[:, None, :] + np.stack([a, lat], 1)[None, :, :]).reshape(-1, 2)
        cand = cand[np.lexsort((-cand[:, 0], cand[:, 1]))]  # latency up, then acc down
        keep = cand[:, 0] > np.maximum.accumulate(np.concatenate([[-np.inf], cand[:-1, 0]]))
        front = cand[keep]
    true = np.stack([prob.acc_map(front[:, 0]), front[:, 1]], 1)
    return prob, true, source


def run_one(prob: Tabular, name: str, seed: int, checkpoints: list[int]) -> dict[int, np.ndarray]:
    from hwnas.latency.cost import CostModel

    problem = Problem(prob.space, ("accuracy", "latency_ms"), None,
                      CostModel(prob.space, tuple(prob.lat_terms), prob.fixed_ms))
    s = make_strategy(name, problem, seed, **OPTIONS[name])
    seen: dict[str, tuple[float, float]] = {}
    out, asks = {}, 0
    while len(seen) < checkpoints[-1] and asks < 3 * checkpoints[-1]:
        arch = s.ask()
        asks += 1
        key = str(arch)
        if key not in seen:
            seen[key] = prob.values(arch)
            if len(seen) in checkpoints:
                out[len(seen)] = np.array(list(seen.values()))
        s.tell(Observation(arch, *seen[key]))
    for c in checkpoints:
        out.setdefault(c, np.array(list(seen.values())))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--evals", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--strategies", nargs="+", default=list(OPTIONS))
    parser.add_argument("--problems", nargs="+", default=["synthetic-nb201", "fbnet-cifar100-pixel3"])
    args = parser.parse_args()
    problems = {}
    if "synthetic-nb201" in args.problems:
        problems["synthetic-nb201"] = (*synthetic_nb201(), "synthetic")
    if "fbnet-cifar100-pixel3" in args.problems:
        problems["fbnet-cifar100-pixel3"] = fbnet_pixel3()
    report = {"metric": "hypervolume(found front) / hypervolume(true front), accuracy max / "
                        "latency_ms min, reference = true front's worst values - 10% of range",
              "seeds": args.seeds, "problems": {}}
    for pname, (prob, true, source) in problems.items():
        ref = default_reference(true, SENSES)
        hv_true = hypervolume(true, SENSES, ref)
        entry = {"space": prob.space.name, "space_size": prob.space.size(),
                 "latency_source": source, "true_front_size": int(len(true)),
                 "reference": [float(r) for r in ref], "strategies": {}}
        for name in args.strategies:
            start = time.perf_counter()
            ratios = {c: [] for c in args.evals}
            for seed in range(args.seeds):
                for c, pts in run_one(prob, name, seed, sorted(args.evals)).items():
                    ratios[c].append(hypervolume(pts, SENSES, ref) / hv_true)
            entry["strategies"][name] = {
                f"hv_ratio@{c}": {"median": round(float(np.median(v)), 4),
                                  "min": round(float(np.min(v)), 4), "max": round(float(np.max(v)), 4)}
                for c, v in ratios.items()}
            entry["strategies"][name]["wall_s"] = round(time.perf_counter() - start, 1)
            print(f"{pname} {name}: {entry['strategies'][name]}", file=sys.stderr)
        report["problems"][pname] = entry
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
