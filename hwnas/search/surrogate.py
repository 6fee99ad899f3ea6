"""The predictor strategy's parts: arch encodings, surrogate models, and the inner search.

Evaluating a candidate (training it) is the expensive step; predicting its accuracy with a
fitted surrogate and its latency with the table's cost model is cheap. So the predictor searches the
predictions - exactly (``additive_front``) when both are sums over positions, else with an
inner NSGA-II (``inner_search``) - and only evaluates the candidates that promise the most.

Surrogates, on one-hot encodings (``encode``):

* ``ridge``: Bayesian ridge regression in closed form (numpy: the leave-one-out model selection
  needs the hat matrix) on accuracy or a saturating transform of it; see ``Surrogate``.
* ``ridge-pairs``: the same plus one-hot features of adjacent-position pairs (interactions
  between neighbouring layers).
* ``forest``: scikit-learn's random forest (no additivity assumed; needs more samples); the
  spread of its trees is the uncertainty. ``extra-trees`` (the structured strategy's ``model``
  option): randomized trees, split thresholds drawn at random, the same spread.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hwnas.search.nsga2 import dominance_ranks, survivors
from hwnas.space.base import SearchSpace

SURROGATES = ("ridge", "ridge-pairs", "forest")
KINDS = ("ridge", "forest", "extra-trees")  # what a Surrogate fits


def encode(space: SearchSpace, index_rows: np.ndarray, pairs: bool = False) -> np.ndarray:
    """One-hot encoding of rows of choice indices (n, positions); optionally adjacent pairs."""
    sizes = np.array([len(c) for c in space.choices()])
    rows = np.asarray(index_rows, dtype=int).reshape(-1, sizes.size)
    blocks = [np.eye(s, dtype=np.float32)[rows[:, p]] for p, s in enumerate(sizes)]
    if pairs:
        for p in range(sizes.size - 1):
            blocks.append(np.eye(sizes[p] * sizes[p + 1], dtype=np.float32)[
                rows[:, p] * sizes[p + 1] + rows[:, p + 1]])
    return np.concatenate(blocks, axis=1)


CEILING_GAPS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)  # candidate ceilings, in ranges of y
ALPHAS = (0.01, 0.1, 1.0)


class Surrogate:
    """A fitted model of one objective: ``predict`` gives (mean, spread) per row.

    ``ridge``: Bayesian ridge regression in closed form, on the target itself or on a
    saturating transform of it. Accuracy has diminishing returns in capacity, so
    ``y = c - exp(-x.w)`` (a ceiling ``c``) often fits far better than a line; the ceiling (or
    none) and the ridge strength are picked by exact leave-one-out error in the target's own
    units. The transform is monotone, so the model stays additive where it matters: ranking by
    ``x.w``. The posterior covariance ``s2 * (Xc'Xc + alpha I)^-1`` gives every choice an
    uncertainty that shrinks as it is sampled, so a choice never tried stays uncertain.
    """

    def __init__(self, kind: str, seed: int, saturating: bool = True, trees: int = 30,
                 max_features: float = 1.0):
        if kind not in KINDS:
            raise ValueError(f"unknown surrogate {kind!r}")
        self.kind, self.seed, self.saturating = kind, seed, saturating
        self.trees, self.max_features = trees, max_features
        self._forest = None
        self.ceiling: float | None = None

    def fit(self, x: np.ndarray, y: np.ndarray) -> Surrogate:
        y = np.asarray(y, dtype=float)
        x = np.asarray(x, dtype=float)
        if self.kind in ("forest", "extra-trees"):
            from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

            model = RandomForestRegressor if self.kind == "forest" else ExtraTreesRegressor
            self._forest = model(n_estimators=self.trees, max_features=self.max_features,
                                 random_state=self.seed, n_jobs=1)
            self._forest.fit(x, y)
            return self
        self._x_mean = x.mean(0)
        xc = x - self._x_mean
        gram = xc.T @ xc
        span = float(np.ptp(y)) or 1.0
        ceilings = [None] + ([float(y.max()) + g * span for g in CEILING_GAPS]
                             if self.saturating else [])
        best = None
        for alpha in ALPHAS:
            inv = np.linalg.inv(gram + alpha * np.eye(x.shape[1]))
            hat = ((xc @ inv) * xc).sum(1) + 1.0 / len(y)  # leverage (with bias)
            for ceiling in ceilings:
                u = y if ceiling is None else -np.log(ceiling - y)
                weights = inv @ xc.T @ (u - u.mean())
                resid = u - u.mean() - xc @ weights
                u_loo = u - resid / np.clip(1.0 - hat, 1e-6, None)
                err = float(np.mean((y - self._untransform(u_loo, ceiling)) ** 2))
                if best is None or err < best[0]:
                    best = (err, alpha, ceiling, inv, weights, u, resid, hat)
        _, self.alpha, self.ceiling, inv, self.weights, u, resid, hat = best
        self.bias = float(u.mean() - self._x_mean @ self.weights)
        s2 = float(resid @ resid) / max(1.0, len(y) - float(hat.sum()))
        self._cov = max(s2, 1e-4 * float(np.var(u)) + 1e-12) * inv
        return self

    @staticmethod
    def _untransform(u: np.ndarray, ceiling: float | None) -> np.ndarray:
        return u if ceiling is None else ceiling - np.exp(-u)

    def weight_spread(self) -> np.ndarray:
        """Per-feature standard deviation of the ridge weights (for an additive optimism)."""
        return np.sqrt(np.clip(np.diag(self._cov), 0.0, None))

    def mean_weights(self) -> np.ndarray | None:
        """Per-feature weights of the (monotone-transformed) linear model, or None (forest)."""
        return None if self._forest is not None else self.weights

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=float)
        if self._forest is not None:
            per = np.stack([t.predict(x) for t in self._forest.estimators_])
            return per.mean(0), per.std(0)
        xc = x - self._x_mean
        u = x @ self.weights + self.bias
        # the intercept's own variance (s2 / n) is left out: equal for every row, it cannot
        # change which candidate looks best
        spread = np.sqrt(np.clip(((xc @ self._cov) * xc).sum(1), 0.0, None))
        if self.ceiling is None:
            return u, spread
        return self._untransform(u, self.ceiling), np.exp(-u) * spread  # delta method


def additive_front(gains: list[np.ndarray], costs: list[np.ndarray],
                   max_points: int = 4000) -> np.ndarray:
    """Rows of choice indices on the exact front of (max sum of gains, min sum of costs).

    When both objectives are sums over positions (a ridge surrogate on one-hot choices, a
    latency table), the front is a multiple-choice knapsack front: merge position by position,
    keeping only non-dominated partial sums. If a partial front grows past ``max_points`` it is
    thinned to evenly spaced ranks along it (endpoints kept), so the result is then near-exact.
    """
    gain_sum, cost_sum = np.zeros(1), np.zeros(1)
    rows = np.zeros((1, 0), dtype=int)
    for g, c in zip(gains, costs):
        k = len(g)
        cand_gain = (gain_sum[:, None] + np.asarray(g)[None, :]).ravel()
        cand_cost = (cost_sum[:, None] + np.asarray(c)[None, :]).ravel()
        order = np.lexsort((-cand_gain, cand_cost))  # cost up, then gain down
        best_before = np.maximum.accumulate(np.concatenate([[-np.inf], cand_gain[order][:-1]]))
        keep = order[cand_gain[order] > best_before]
        if keep.size > max_points:
            keep = keep[np.unique(np.linspace(0, keep.size - 1, max_points).round().astype(int))]
        parent, choice = keep // k, keep % k
        rows = np.hstack([rows[parent], choice[:, None]])
        gain_sum, cost_sum = cand_gain[keep], cand_cost[keep]
    return rows


def inner_search(space: SearchSpace, objective: Callable[[np.ndarray], np.ndarray],
                 start: np.ndarray, rng: np.random.Generator, population: int = 64,
                 generations: int = 30,
                 violation: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """NSGA-II over rows of choice indices on a cheap ``objective`` (rows -> minimization matrix).

    ``start`` seeds the population (the evaluated front, the last pool); the rest is random.
    Offspring: uniform crossover of binary-tournament parents, then per-position mutation
    (probability 1/L, at least one change). ``violation`` maps the objective's matrix to each
    row's constraint violation (Deb's rule), so predictions are made once per row. Returns the
    final population's distinct rows.
    """
    sizes = np.array([len(c) for c in space.choices()])
    length = sizes.size
    start = np.asarray(start, dtype=int).reshape(-1, length)
    _, first = np.unique(start, axis=0, return_index=True)
    pop = start[np.sort(first)][:population]  # distinct, in the given order: seeds come first
    fill = population - len(pop)
    if fill > 0:
        pop = np.vstack([pop, rng.integers(sizes, size=(fill, length))])

    def score(rows):
        points = objective(rows)
        return points, (violation(points) if violation is not None else None)

    points, viol = score(pop)
    for _ in range(generations):
        rank = dominance_ranks(points, viol)
        a, b = rng.integers(len(pop), size=(2, population)), rng.integers(len(pop), size=(2, population))
        pa = np.where(rank[a[0]] <= rank[a[1]], a[0], a[1])
        pb = np.where(rank[b[0]] <= rank[b[1]], b[0], b[1])
        child = np.where(rng.random((population, length)) < 0.5, pop[pa], pop[pb])
        flip = rng.random((population, length)) < 1.0 / length
        flip[np.arange(population), rng.integers(length, size=population)] = True
        flip &= sizes[None, :] > 1
        shift = 1 + (rng.random((population, length)) * (sizes - 1)).astype(int)
        child = np.where(flip, (child + shift) % sizes, child)
        merged = np.unique(np.vstack([pop, child]), axis=0)
        m_points, m_viol = score(merged)
        keep = survivors(m_points, ("min",) * m_points.shape[1], population, m_viol)
        pop, points = merged[keep], m_points[keep]
        viol = None if m_viol is None else m_viol[keep]
    return pop
