"""Predictor-guided search (SMBO) with a scikit-learn surrogate over one-hot arch encodings.

After ``initial`` random candidates, a random forest per objective is fitted (every
``refit_every`` tells) on the one-hot encoding of every evaluated arch. Each ask scores a pool of
fresh candidates - random samples plus one- and two-choice mutations of the current front - and
proposes the best:

* with a latency budget: the highest optimistic accuracy (mean + ``kappa`` * spread of the
  trees) among candidates predicted within budget;
* without: the largest hypervolume improvement of the optimistic predicted point over the
  current front, where already-proposed but not yet told candidates count as their predicted
  points (so parallel asks do not all pick the same spot).

Latency comes from ``problem.latency_fn`` (the table) when given, else from its own surrogate.
The surrogate is refitted from the history on resume, with the same seed, so it is identical.
"""

from __future__ import annotations

import numpy as np

from hwnas.pareto import default_reference, hypervolume, pareto_front, to_minimization
from hwnas.search.base import Problem, SearchError, Strategy
from hwnas.space.arch import Arch


def one_hot(space, archs: list[Arch]) -> np.ndarray:
    sizes = [len(c) for c in space.choices()]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    x = np.zeros((len(archs), int(sum(sizes))), dtype=np.float32)
    for row, arch in enumerate(archs):
        x[row, offsets + np.array(space.indices(arch))] = 1.0
    return x


class PredictorSearch(Strategy):
    name = "predictor"

    def __init__(self, problem: Problem, seed: int = 0, initial: int = 10, pool: int = 300,
                 refit_every: int = 5, trees: int = 30, kappa: float = 0.5):
        super().__init__(problem, seed)
        if initial < 2:
            raise SearchError(f"predictor needs at least 2 initial samples, got {initial}",
                              "raise --initial")
        self.initial, self.pool, self.refit_every = initial, pool, refit_every
        self.trees, self.kappa = trees, kappa
        self.fit_count = 0  # how many history entries the current surrogate was fitted on
        self._models: dict[str, object] | None = None
        self.pool_archs: list[Arch] = []
        self._pool_pred = np.zeros((0, len(problem.objectives)))
        self._pool_index: dict[str, int] = {}

    @property
    def min_evals(self) -> int:
        return self.initial

    # --- surrogate -----------------------------------------------------------------------------
    def _fit(self) -> None:
        from sklearn.ensemble import RandomForestRegressor

        data = self.history[: self.fit_count]
        x = one_hot(self.space, [o.arch for o in data])
        self._models = {}
        for k, name in enumerate(self._modelled()):
            model = RandomForestRegressor(n_estimators=self.trees, min_samples_leaf=1,
                                          random_state=self.seed * 1000 + k, n_jobs=1)
            model.fit(x, np.array([o.value(name) for o in data]))
            self._models[name] = model

    def _modelled(self) -> list[str]:
        return [n for n in self.problem.objectives
                if not (n == "latency_ms" and self.problem.latency_fn is not None)]

    def _predict(self, archs: list[Arch]) -> np.ndarray:
        """Optimistic predicted objective matrix (n, m) in the problem's objective order."""
        x = one_hot(self.space, archs)
        cols = []
        for name, sense in zip(self.problem.objectives, self.problem.senses):
            if name == "latency_ms" and self.problem.latency_fn is not None:
                cols.append(np.array([self.problem.latency_fn(a) for a in archs]))
                continue
            model = self._models[name]
            per_tree = np.stack([t.predict(x) for t in model.estimators_])
            mean, spread = per_tree.mean(0), per_tree.std(0)
            cols.append(mean + self.kappa * spread if sense == "max" else mean - self.kappa * spread)
        return np.stack(cols, axis=1)

    # --- proposals -------------------------------------------------------------------------------
    def _candidates(self) -> list[Arch]:
        obs = self.history
        front_idx = pareto_front(self.problem.points(obs), self.problem.senses)
        parents = [obs[int(i)].arch for i in front_idx]
        if self.problem.budget_ms is not None:
            feas = [o for o in obs if self.problem.violation(o) == 0]
            parents = [o.arch for o in sorted(feas, key=lambda o: -o.accuracy)[:10]] or parents
        out: dict[str, Arch] = {}
        n_mut = self.pool * 2 // 3
        for k in range(n_mut):
            parent = parents[k % len(parents)]
            arch = self.space.mutate(parent, self.rng, num_changes=1 + int(self.rng.integers(2)))
            out.setdefault(str(arch), arch)
        for _ in range(self.pool - n_mut):
            arch = self.space.sample(self.rng)
            out.setdefault(str(arch), arch)
        fresh = [a for s, a in out.items() if s not in self._seen]
        return fresh or list(out.values())

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
        return pool[int(np.argmax(self._hv_improvement(pred)))]

    def _set_pool(self, archs: list[Arch]) -> None:
        self.pool_archs = archs
        self._pool_pred = self._predict(archs)
        self._pool_index = {str(a): k for k, a in enumerate(archs)}

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
