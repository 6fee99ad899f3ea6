"""Predictor-guided search (SMBO): a surrogate of accuracy, a search on the predictions.

After ``initial`` random candidates, a surrogate per modelled objective is fitted (every
``refit_every`` tells) on one-hot encodings of the evaluated archs (``hwnas.search.surrogate``:
Bayesian ridge, on accuracy or a saturating transform of it, by default). Latency comes from
``problem.cost`` (the table's cost model: per-choice costs, calibration folded in) when given -
exact and cheap - else from its own surrogate. A lookup price (a benchmark CSV's measured
latencies) is exact but not additive, and unknown (inf) for archs the CSV lacks: such
candidates are never proposed from the pool.

The pool of candidates is the predicted front: solved exactly (a multiple-choice knapsack over
per-choice optimistic weights) when the ridge surrogate and the latency are both additive, else
the final population of an inner NSGA-II on the optimistic predictions (mean + ``kappa`` *
spread), seeded with the evaluated front and the previous pool. Each ask proposes from the pool:

* with a latency budget: the highest optimistic accuracy among candidates predicted within
  budget;
* without: the largest hypervolume improvement of the optimistic predicted point over the
  current front, where already-proposed but not yet told candidates count as their predicted
  points (so parallel asks do not all pick the same spot); ties go to the most accurate.

The surrogate is refitted from the history on resume, with the same seed, so it is identical.
"""

from __future__ import annotations

import numpy as np

from hwnas.latency.cost import CostModel
from hwnas.pareto import default_reference, hypervolume, pareto_front, to_minimization
from hwnas.search.base import OBJECTIVE_SENSES, Problem, SearchError, Strategy
from hwnas.search.surrogate import SURROGATES, Surrogate, additive_front, encode, inner_search
from hwnas.space.arch import Arch


class PredictorSearch(Strategy):
    name = "predictor"

    def __init__(self, problem: Problem, seed: int = 0, initial: int = 10,
                 surrogate: str = "ridge", refit_every: int = 5, kappa: float = 2.0,
                 population: int = 64, generations: int = 30):
        super().__init__(problem, seed)
        if initial < 2:
            raise SearchError(f"predictor needs at least 2 initial samples, got {initial}",
                              "raise --initial")
        if surrogate not in SURROGATES:
            raise SearchError(f"unknown surrogate {surrogate!r}",
                              f"choose one of {', '.join(SURROGATES)}")
        if refit_every < 1 or population < 2 or generations < 0:
            raise SearchError(f"predictor options refit_every={refit_every}, population="
                              f"{population}, generations={generations} out of range",
                              "use refit_every >= 1, population >= 2, generations >= 0")
        self.initial, self.refit_every, self.kappa = initial, refit_every, kappa
        self.surrogate, self.inner_population, self.inner_generations = (
            surrogate, population, generations)
        self.fit_count = 0  # how many history entries the current surrogate was fitted on
        self._models: dict[str, Surrogate] | None = None
        self.pool_archs: list[Arch] = []
        self._pool_pred = np.zeros((0, len(problem.objectives)))
        self._pool_index: dict[str, int] = {}

    @property
    def min_evals(self) -> int:
        return self.initial

    # --- surrogate -----------------------------------------------------------------------------
    def _encode(self, rows: np.ndarray) -> np.ndarray:
        return encode(self.space, rows, pairs=self.surrogate == "ridge-pairs")

    def _fit(self) -> None:
        data = self.history[: self.fit_count]
        x = self._encode(np.array([self.space.indices(o.arch) for o in data]))
        kind = self.surrogate.removesuffix("-pairs")
        self._models = {  # only accuracy-like (maximized) objectives saturate
            name: Surrogate(kind, self.seed * 1000 + k, saturating=OBJECTIVE_SENSES[name] == "max")
            .fit(x, np.array([o.value(name) for o in data]))
            for k, name in enumerate(self._modelled())}

    def _modelled(self) -> list[str]:
        return [n for n in self.problem.objectives
                if not (n == "latency_ms" and self.problem.cost is not None)]

    def _predict_rows(self, rows: np.ndarray) -> np.ndarray:
        """Optimistic predicted objective matrix (n, m) in the problem's objective order."""
        rows = np.asarray(rows, dtype=int).reshape(-1, self.space.num_positions)
        x = self._encode(rows)
        cols = []
        for name, sense in zip(self.problem.objectives, self.problem.senses):
            if name == "latency_ms" and self.problem.cost is not None:
                cols.append(self.problem.cost.price_rows(rows))
                continue
            mean, spread = self._models[name].predict(x)
            cols.append(mean + self.kappa * spread if sense == "max" else mean - self.kappa * spread)
        return np.stack(cols, axis=1)

    def _predict(self, archs: list[Arch]) -> np.ndarray:
        return self._predict_rows(np.array([self.space.indices(a) for a in archs]))

    # --- proposals -------------------------------------------------------------------------------
    def _exact_front(self) -> np.ndarray | None:
        """The predicted (accuracy, latency) front, exactly, when both predictions are additive.

        A ridge surrogate on one-hot choices and the cost model's latency are sums over
        positions, so their front is a multiple-choice knapsack front (``additive_front``) over
        the cost model's per-choice costs, no search needed.
        """
        if (self.problem.objectives != ("accuracy", "latency_ms") or self._models is None
                or not isinstance(self.problem.cost, CostModel) or self.surrogate != "ridge"):
            return None  # a lookup price (a benchmark's measured latency) is not additive
        model = self._models["accuracy"]
        # optimism per choice, in the (monotone) transformed space, so the front stays additive
        weights = model.mean_weights() + self.kappa * model.weight_spread()
        bounds = np.cumsum([0, *(len(c) for c in self.space.choices())])
        split = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        return additive_front([weights[k] for k in split], list(self.problem.cost.costs))

    def _candidates(self) -> list[Arch]:
        """The predicted front (exact, or the inner search's population), minus archs asked."""
        obs = self.history
        if self.problem.budget_ms is not None:
            feas = [o for o in obs if self.problem.violation(o) == 0]
            seeds = [o.arch for o in sorted(feas, key=lambda o: -o.accuracy)[:10]]
        else:
            seeds = [obs[int(i)].arch for i in pareto_front(self.problem.points(obs),
                                                              self.problem.senses)]
        rows = self._exact_front()
        if rows is None:
            start = np.array([self.space.indices(a) for a in [*seeds, *self.pool_archs]], dtype=int)
            senses, budget = self.problem.senses, self.problem.budget_ms
            lat_col = (self.problem.objectives.index("latency_ms")
                       if "latency_ms" in self.problem.objectives else None)
            rows = inner_search(  # unknown (inf) latency ranks as the worst, not as an error
                self.space, lambda r: to_minimization(np.nan_to_num(
                    self._predict_rows(r), posinf=1e300, neginf=-1e300), senses), start,
                self.rng, self.inner_population, self.inner_generations,
                None if budget is None or lat_col is None  # latency is minimized: not negated
                else lambda pts: np.maximum(0.0, pts[:, lat_col] / budget - 1.0))
        archs = [self.space.arch_from_indices(r) for r in rows]
        fresh = [a for a in archs if str(a) not in self._seen and self.problem.predicted_ok(a)]
        if fresh:
            return fresh
        # everything predicted good was asked already: a neighbour of a seed (bounded re-samples)
        parents = seeds or [self.space.sample(self.rng)]
        return [self.draw(lambda: self.space.mutate(
            parents[int(self.rng.integers(len(parents)))], self.rng,
            num_changes=1 + int(self.rng.integers(3))))]

    def _propose(self) -> Arch:
        if len(self.history) < self.initial:
            return self.draw(lambda: self.space.sample(self.rng))
        if self.fit_count == 0 or len(self.history) - self.fit_count >= self.refit_every:
            self.fit_count = len(self.history)
            self._fit()
            self._set_pool(self._candidates())
        keep = [k for k, a in enumerate(self.pool_archs) if str(a) not in self._seen]
        if not keep:  # every pooled candidate was proposed: draw a new pool
            self._set_pool(self._candidates())
            keep = list(range(len(self.pool_archs)))
        if not keep:  # nothing with a known latency: fall back to a (bounded) random draw
            return self.draw(lambda: self.space.sample(self.rng))
        pool = [self.pool_archs[k] for k in keep]
        pred = self._pool_pred[keep]
        if self.problem.budget_ms is not None:
            names = self.problem.objectives
            acc = pred[:, names.index("accuracy")]
            lat = pred[:, names.index("latency_ms")] if "latency_ms" in names else None
            ok = lat <= self.problem.budget_ms if lat is not None else np.ones(len(pool), bool)
            score = np.where(ok, acc, -np.inf)
            if not np.isfinite(score).any():
                score = -lat
            return pool[int(np.argmax(score))]
        acc = pred[:, self.problem.objectives.index("accuracy")]
        return pool[int(np.lexsort((-acc, -self._hv_improvement(pred)))[0])]

    def _set_pool(self, archs: list[Arch]) -> None:
        pred = self._predict(archs) if archs else np.zeros((0, len(self.problem.objectives)))
        finite = np.all(np.isfinite(pred), axis=1)  # a lookup price is inf outside its table
        self.pool_archs = [a for a, ok in zip(archs, finite) if ok]
        self._pool_pred = pred[finite]
        self._pool_index = {str(a): k for k, a in enumerate(self.pool_archs)}

    def _hv_improvement(self, pred: np.ndarray) -> np.ndarray:
        senses = self.problem.senses
        known = self.problem.points(self.history)
        pending = self.proposed[len(self.history):]
        if pending:
            rows = [self._pool_pred[self._pool_index[s]] for s in pending if s in self._pool_index]
            missing = [self.space.parse(s) for s in pending if s not in self._pool_index]
            extra = [np.array(rows)] if rows else []
            if missing:
                extra.append(self._predict(missing))
            known = np.vstack([known, *extra])
        ref = default_reference(np.vstack([known, pred]), senses)
        front = known[pareto_front(known, senses)]
        if front.shape[1] == 2:
            return _hvi_2d(to_minimization(front, senses), to_minimization(pred, senses),
                           to_minimization(ref[None, :], senses)[0])
        base = hypervolume(front, senses, ref)
        return np.array([hypervolume(np.vstack([front, p]), senses, ref) - base for p in pred])

    # --- state -----------------------------------------------------------------------------------
    def _extra_state(self) -> dict:
        return {"fit_count": self.fit_count, "pool": [str(a) for a in self.pool_archs]}

    def _load_extra(self, extra: dict) -> None:
        self.fit_count = extra["fit_count"]
        self._models = None
        self.pool_archs = []
        if self.fit_count:
            self._fit()
            self._set_pool([self.space.parse(s) for s in extra["pool"]])


def _hvi_2d(front: np.ndarray, cand: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Hypervolume improvement of each candidate over a 2-D front (all minimized), vectorized.

    Over x, the front dominates y >= top(x), a step function: ``ref_y`` left of the first front
    point, then each front point's y until the next one's x. The gain of a candidate (cx, cy) is
    the integral over [cx, ref_x] of max(0, top(x) - cy).
    """
    f = front[np.all(front < ref, axis=1)]
    f = f[np.argsort(f[:, 0], kind="stable")]
    starts = np.concatenate([[-np.inf], f[:, 0]])
    ends = np.concatenate([f[:, 0], [ref[0]]])
    tops = np.concatenate([[ref[1]], np.minimum.accumulate(f[:, 1]) if len(f) else []])
    cx, cy = cand[:, :1], cand[:, 1:2]
    length = np.clip(np.minimum(ends[None, :], ref[0]) - np.maximum(starts[None, :], cx), 0, None)
    height = np.clip(tops[None, :] - cy, 0, None)
    return (length * height).sum(axis=1)
