"""How close each strategy's front gets to the true front on tabular problems; prints JSON.

Problems, each with its exact true Pareto front:

* real pairs ``<accuracy>/<device>`` of the NB201 dev table (``--data``, default
  ``shared/data/nb201-dev/nb201_dev.csv`` beside the checkout; see its PROVENANCE.md): real
  CIFAR-100 / ImageNet16-120 test accuracy against real latency on one of six devices, all
  15,625 archs listed, so the front is exact. Strategies get the per-arch latency as the table
  evaluator gives it (``LookupPrice``), as ``hwnas search --evaluator table:...`` does.
  ``real-subset`` (default) is 6 pairs covering every device and both accuracies,
  ``all-real`` the 12.
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

Beside every registered hwnas strategy the script runs two references written here, independent
of hwnas's code: a plain regularized (aging) evolution and uniform random search.

Usage: ``python benchmarks/strategies.py [--seeds 10] [--evals 100 300] [--strategies ...]
[--problems real-subset synthetic-nb201 ...] [--data CSV] [--out JSON] [--quick]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from collections import deque
from pathlib import Path

# one BLAS thread: small matrices (a 130-feature ridge) are ~100x slower when threads fight over
# the cores of a shared machine, and quality does not depend on it
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from hwnas.pareto import default_reference, hypervolume, pareto_front  # noqa: E402
from hwnas.search import Observation, Problem, make_strategy  # noqa: E402
from hwnas.space import get_space  # noqa: E402

SENSES = ("max", "min")
DEV_TABLE = "data/nb201-dev/nb201_dev.csv"
# every device and both accuracies in 6 of the 12 pairs (the full 12 take twice as long)
REAL_SUBSET = ("cifar100/raspi4", "cifar100/eyeriss", "cifar100/gold_6226",
               "imagenet16/titan_rtx_1", "imagenet16/pixel2", "imagenet16/samsung_a50")
OPTIONS = {"evolution": {"population": 50, "sample_size": 25}, "nsga2": {"population": 20},
           "rl": {"reward": "soft"}, "predictor": {"initial": 10}, "random": {},
           "local": {"initial": 10}, "structured": {"initial": 6}}
# auto is told the budget it runs at (each checkpoint), as ``hwnas search --max-evals`` does


class Tabular:
    """Additive-per-position objectives: acc(arch) = f(sum a_p), lat = fixed + sum l_p."""

    def __init__(self, name, space, acc_terms, lat_terms, fixed_ms, acc_map, pair=None):
        self.name, self.space = name, space
        self.acc_terms, self.lat_terms, self.fixed_ms = acc_terms, lat_terms, fixed_ms
        self.acc_map, self.pair = acc_map, pair

    def price(self):
        from hwnas.latency.cost import CostModel

        return CostModel(self.space, tuple(self.lat_terms), self.fixed_ms)

    def values_indices(self, key) -> tuple[float, float]:
        return self.values(self.space.arch_from_indices(key))

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
    fail("no Pixel 3 table: ship latency_tables/... or put shared/ beside the checkout")


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


# --- references, written here on purpose: independent of hwnas's strategies --------------------
def reference_aging_evolution(sizes, evaluate, rng, n, population=20, sample=5):
    """Real et al. 2019, multi-objective in the plainest way: the parent is a random member of
    the tournament sample's non-dominated set; one random position mutates; the oldest dies."""
    seen, pop = {}, deque()

    def visit(key):
        if key not in seen:
            seen[key] = evaluate(key)
        pop.append(key)
        if len(pop) > population:
            pop.popleft()

    for _ in range(50 * n):
        if len(seen) >= n:
            break
        if len(pop) < population:
            visit(tuple(int(rng.integers(s)) for s in sizes))
            continue
        picks = [pop[int(i)] for i in rng.choice(len(pop), sample, replace=False)]
        pts = np.array([seen[k] for k in picks])
        best = [i for i in range(len(picks)) if not any(
            pts[j, 0] >= pts[i, 0] and pts[j, 1] <= pts[i, 1] and tuple(pts[j]) != tuple(pts[i])
            for j in range(len(picks)))]
        child = list(picks[best[int(rng.integers(len(best)))]])
        p = int(rng.integers(len(sizes)))
        child[p] = int((child[p] + 1 + rng.integers(sizes[p] - 1)) % sizes[p])
        visit(tuple(child))
    return np.array(list(seen.values()))


def reference_random(sizes, evaluate, rng, n):
    """Uniform samples without repeats."""
    seen = {}
    for _ in range(50 * n):
        if len(seen) >= n:
            break
        key = tuple(int(rng.integers(s)) for s in sizes)
        if key not in seen:
            seen[key] = evaluate(key)
    return np.array(list(seen.values()))


REFERENCES = {"ref-aging-evolution": reference_aging_evolution, "ref-random": reference_random}


_PRICES: dict = {}


def _price(prob):
    """One price per problem (a lookup over 15,625 archs is worth building once)."""
    if prob.name not in _PRICES:
        _PRICES[prob.name] = prob.price()
    return _PRICES[prob.name]


_RUNS: dict = {}


def run_hwnas(prob, name: str, seed: int, n: int, options: dict | None = None) -> np.ndarray:
    """The first ``n`` distinct evaluations of hwnas strategy ``name`` (re-asks are re-told).

    ``auto`` delegates every ask and tell to the strategy it picks for budget ``n`` (a test checks
    the asks are identical), and a strategy does not know the budget, so auto's run is the picked
    strategy's, with auto's options, cut at ``n``: computed once per (problem, strategy, options,
    seed) and shared with that strategy's own row when the options match.
    """
    if name == "auto":
        from hwnas.search.auto import pick

        name, options = pick(n)
    options = OPTIONS.get(name, {}) if options is None else options
    run_key = (prob.name, name, json.dumps(options, sort_keys=True), seed)
    if run_key in _RUNS and len(_RUNS[run_key]) >= n:
        return _RUNS[run_key][:n]
    problem = Problem(prob.space, ("accuracy", "latency_ms"), None, _price(prob))
    s = make_strategy(name, problem, seed, **options)
    seen: dict[str, tuple[float, float]] = {}
    for _ in range(3 * n):
        if len(seen) >= n:
            break
        arch = s.ask()
        key = str(arch)
        if key not in seen:
            seen[key] = prob.values(arch)
        s.tell(Observation(arch, *seen[key]))
    _RUNS[run_key] = np.array(list(seen.values()))
    return _RUNS[run_key]


def run_any(prob, name: str, seed: int, n: int) -> np.ndarray:
    if name in REFERENCES:
        sizes = [len(c) for c in prob.space.choices()]
        return REFERENCES[name](sizes, prob.values_indices, np.random.default_rng(seed), n)
    return run_hwnas(prob, name, seed, n)


def load_problems(names: list[str], data: Path | None) -> dict:
    from hwnas.errors import HwnasError
    from hwnas.testing.tabular import read_pairs

    problems = {}
    real = [n for n in names if "/" in n]
    if real:
        path = data or default_data()
        try:
            pairs = read_pairs(path)
        except HwnasError as exc:
            fail(str(exc))
        unknown = [n for n in real if n not in pairs]
        if unknown:
            fail(f"unknown pair(s) {', '.join(unknown)}; choose from {', '.join(pairs)}")
        problems.update({n: (pairs[n], pairs[n].true_front(), str(path)) for n in real})
    if "synthetic-nb201" in names:
        problems["synthetic-nb201"] = (*synthetic_nb201(), "synthetic")
    if "fbnet-cifar100-pixel3" in names:
        problems["fbnet-cifar100-pixel3"] = fbnet_pixel3()
    return problems


def fail(message: str) -> None:
    """One line on stderr and exit code 2, as the CLI does for a bad input."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def default_data() -> Path:
    here = Path(__file__).resolve().parent.parent
    for root in (here / "shared", here.parent / "shared", here.parent.parent / "shared"):
        if (root / DEV_TABLE).is_file():
            return root / DEV_TABLE
    return here.parent / "shared" / DEV_TABLE


def main() -> None:
    from hwnas.search import strategy_names
    from hwnas.testing.tabular import ACCURACIES, DEVICES

    pairs = [f"{a}/{d}" for a in ACCURACIES for d in DEVICES]
    aliases = {"all-real": pairs, "real-subset": list(REAL_SUBSET)}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--evals", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--strategies", nargs="+", default=[*strategy_names(), *REFERENCES])
    parser.add_argument("--problems", nargs="+",
                        default=["real-subset", "synthetic-nb201", "fbnet-cifar100-pixel3"],
                        help="pairs ACC/DEVICE, synthetic-nb201, fbnet-cifar100-pixel3, "
                             "real-subset (default: 6 pairs, every device and both accuracies) "
                             "or all-real (the 12 pairs)")
    parser.add_argument("--data", type=Path, default=None,
                        help=f"the NB201 dev table (default: shared/{DEV_TABLE} beside the checkout)")
    parser.add_argument("--out", type=Path, default=None,
                        help="also write the JSON here after every problem (a long run keeps what it did)")
    parser.add_argument("--quick", action="store_true",
                        help="a check: 2 seeds, 100 evaluations, 2 real pairs")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.evals = 2, [100]
        args.problems = ["cifar100/raspi4", "imagenet16/pixel2"]
    args.problems = [p for name in args.problems for p in aliases.get(name, [name])]
    if args.data is not None and not args.data.is_file():
        fail(f"no NB201 dev table at {args.data}; pass --data PATH/nb201_dev.csv")
    problems = load_problems(args.problems, args.data)
    report = {"metric": "hypervolume(found front) / hypervolume(true front), accuracy max / "
                        "latency_ms min, reference = true front's worst values - 10% of range",
              "seeds": args.seeds, "evals": sorted(args.evals), "problems": {}}
    checkpoints = sorted(args.evals)
    for pname, (prob, true, source) in problems.items():
        ref = default_reference(true, SENSES)
        hv_true = hypervolume(true, SENSES, ref)
        entry = {"space": prob.space.name, "space_size": prob.space.size(),
                 "source": source, "true_front_size": int(len(true)),
                 "reference": [float(r) for r in ref], "strategies": {}}
        for name in args.strategies:
            ratios = {c: [] for c in checkpoints}
            for seed in range(args.seeds):
                # auto picks by its budget: one run per checkpoint, told that budget; the
                # largest first, so a smaller one can reuse its prefix (see run_hwnas)
                runs = ({c: run_any(prob, name, seed, c) for c in checkpoints[::-1]}
                        if name == "auto"
                        else dict.fromkeys(checkpoints, run_any(prob, name, seed, checkpoints[-1])))
                for c in checkpoints:
                    ratios[c].append(hypervolume(runs[c][:c], SENSES, ref) / hv_true)
            entry["strategies"][name] = {
                f"hv_ratio@{c}": {"median": round(float(np.median(v)), 4),
                                  "min": round(float(np.min(v)), 4), "max": round(float(np.max(v)), 4)}
                for c, v in ratios.items()}
            print(f"{pname} {name}: " + " ".join(
                f"@{c} {entry['strategies'][name][f'hv_ratio@{c}']['median']:.4f}"
                for c in checkpoints), file=sys.stderr, flush=True)
        report["problems"][pname] = entry
        if args.out is not None:
            args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
