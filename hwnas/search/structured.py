"""Structured predictor search: a surrogate that sees cell structure, acquisition over the space.

The first ``initial`` archs are one random arch per latency stratum (``design="latency"``: the
priced archs sorted by price and cut into ``initial`` equal parts; with a budget, those within
it), since the price is known before evaluating; ``design="random"`` draws them uniformly. After
them, a Bayesian ridge surrogate (``hwnas.search.surrogate.Surrogate``:
saturating transform, leave-one-out model selection, posterior spread) is fitted every
``refit_every`` tells on :func:`hwnas.search.encodings.structure_encoding` - one-hot choices
plus, for a cell space, BANANAS path features, so a ``none`` edge that disconnects a conv is
modelled, unlike with one-hot features alone, and (``encoding="path+summary"``) a few counts of
what the cell computes (``cell_summary``: live paths, ops on live and on dead edges,
convolutions along the deepest live path, the depth of a residual - an all-skip input-output
path beside convolutions). With 100 evaluations the counts are what the ridge can learn from:
over the 12 real NB201 pairs they cut its mean miss per latency level from 2.5 to 0.94 accuracy
points (``benchmarks/surrogate_quality.py``; 1.5 before the residual's depth was counted). The
default, ``encoding="path+summary+pairs"``, adds the ops of every two edges (below). Latency comes from
``problem.cost`` when given (a table's cost model or a benchmark's per-arch lookup), else from
its own surrogate.

Candidates are the whole space when it is small (NB201's 15,625 archs), else the one- and
two-edit neighbours of the evaluated front (with a budget: of the best feasible archs) plus
``pool`` uniform samples. Each ask picks, among candidates not yet asked:

* with a latency budget: the highest optimistic accuracy (mean + ``kappa`` * spread) predicted
  within budget;
* without: the largest hypervolume improvement of the optimistic point over the evaluated front,
  where asked-but-untold archs count as their predicted means (parallel asks spread out); in
  more than two objectives, only the candidates on the predicted non-dominated front are scored.

With ``balance`` = k > 0 (default 12; 0 turns it off), ask number n is taken from latency stratum n mod
k (the scored candidates cut into k equal-count parts by latency) whenever an arch there
promises a gain: the largest gain alone crowds the asks where the model is surest of gains (on
imagenet16/pixel2 14-27 asks per 1-ms level at 14-20 ms, 4-7 at 7-12 ms, where the misses
were). Alone, k=12 raised the 100-evaluation median on all 6 pairs it was developed on but was
mixed on the 6 held-out pairs (README, strategies).

``encoding="path+summary+pairs"`` adds the ops of every two edges, one-hot (375 columns), for
the ridge only: interactions an additive model misses, such as a skip from input to output
being worth most when the other edges convolve. On cifar100/samsung_a50 one seed asked 5 archs
with that skip in 100, all poor for other reasons, and never found the best archs, which the
ridge then predicted 4-10 points too low. Alone it raised the 100-evaluation median over the
12 real NB201 pairs by 0.005 on average and left 300 unchanged. Together with ``balance=12``
(both the default since 2026-12-07; before: ``path+summary``, no balance), 10 seeds: the mean
median over the 12 pairs 0.968 -> 0.977 at 100 and 0.994 -> 0.994 at 300, the worst pair
0.922 -> 0.947 and 0.984 -> 0.985, 0.97 at 100 met on 9 pairs instead of 8, 0.99 at 300 on 9 as
before (imagenet16/samsung_a50 0.990 -> 0.992, cifar100/samsung_a50 0.991 -> 0.989). The ridge
phase costs 3-4x the time (7 s against 2 s per 100 evaluations on NB201 here).

``model`` (option; ``hwnas search --surrogate``) swaps the ridge for ``trees`` randomized trees
(``extra-trees``) or a random forest (``forest``), the spread over the trees as the uncertainty.
Trees rank the best archs better than the ridge when fitted on random archs (over the 12 real
pairs, mean miss per latency level 1.47 -> 0.88 points at 100 archs,
``benchmarks/surrogate_quality.py``), yet in the search extra-trees were worse on 3 of the 4
phone pairs (README, strategies): the asks the model steers are not random archs. So the ridge
is the default ``model``. From ``local_after`` evaluations on (the trust-region phase, below)
the surrogate is ``late_model`` (default ``extra-trees``; ``None`` keeps ``model``): by then the
evaluations crowd the front's neighbourhood, where trees interpolate between close archs. On 11
of the 12 real pairs it raised the 300-evaluation median (imagenet16/pixel2 0.980 -> 0.984,
imagenet16/samsung_a50 0.987 -> 0.990) and the worst seed, cost 0.0005 on cifar100/raspi4
and 0.002 on the nearly additive synthetic-nb201, where the ridge is the right model.

After ``local_after`` asks (default 100) every ask is restricted to a trust region (before it,
a ``local_share`` of the asks, for budgets where that switch comes late or never): archs within
``radius`` edits (default 1) of an evaluated front member (with a budget: of the best feasible
archs), the whole scored set again only when that region is all asked. Early, the model's
global view finds the right regions; late, its error (several accuracy points against front
points less than one point apart on the real NB201 pairs) makes whole-space picks a lottery,
while the front's one-edit neighbours are where local search finds the missing front points.
On the real pairs this took the 300-evaluation median from 0.952 to 0.977 (imagenet16/pixel2)
and 0.900 to 0.989 (cifar100/eyeriss), 3 seeds; ``local_after=None`` is the global-only search.

Predictions are recomputed from the history alone, so a resumed run is identical.
"""

from __future__ import annotations

import numpy as np

from hwnas.pareto import default_reference, hypervolume, pareto_front, to_minimization
from hwnas.search.base import OBJECTIVE_SENSES, Problem, SearchError, Strategy
from hwnas.search.encodings import ENCODINGS, all_rows, neighbours, structure_encoding
from hwnas.search.predictor import _hvi_2d
from hwnas.search.surrogate import KINDS, Surrogate
from hwnas.space.arch import Arch

ENUMERATE_LIMIT = 20_000  # spaces up to this size are scored whole
DESIGNS = ("random", "latency")  # initial archs: uniform, or one per latency stratum
MODELS = KINDS  # the surrogate (hwnas.search.surrogate.Surrogate)
TREES = 100  # trees of a forest / extra-trees surrogate
TREE_FEATURES = 0.5  # share of the features each tree split considers (forest, extra-trees)


def quantile_strata(values: np.ndarray, count: int) -> np.ndarray:
    """Each value's stratum 0..count-1 when the values are cut at their ``count``-quantiles."""
    edges = np.quantile(values, np.linspace(0, 1, count + 1))
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, count - 1)


class StructuredPredictor(Strategy):
    name = "structured"

    def __init__(self, problem: Problem, seed: int = 0, initial: int = 6, refit_every: int = 5,
                 kappa: float = 0.5, pool: int = 200, local_after: int | None = 100,
                 radius: int = 1, design: str = "latency", local_share: float = 0.0,
                 encoding: str = "path+summary+pairs", balance: int = 12, model: str = "ridge",
                 trees: int = TREES, late_model: str | None = "extra-trees"):
        super().__init__(problem, seed)
        if initial < 2 or refit_every < 1 or pool < 1 or not np.isfinite(kappa) or kappa < 0 \
                or radius < 1 or (local_after is not None and local_after < 0) \
                or design not in DESIGNS or not 0.0 <= local_share <= 1.0 or encoding not in ENCODINGS \
                or balance < 0 or model not in MODELS or trees < 1 \
                or (late_model is not None and late_model not in MODELS):
            raise SearchError(f"structured options initial={initial}, refit_every={refit_every}, "
                              f"kappa={kappa}, pool={pool}, local_after={local_after}, "
                              f"radius={radius}, design={design!r}, local_share={local_share}, "
                              f"encoding={encoding!r}, balance={balance}, model={model!r}, "
                              f"trees={trees}, late_model={late_model!r} "
                              "out of range",
                              "use initial >= 2, refit_every >= 1, kappa >= 0, pool >= 1, "
                              "local_after >= 0 (or None), radius >= 1, 0 <= local_share <= 1, balance >= 0, "
                              "trees >= 1, model (--surrogate) and late_model " + " or ".join(MODELS) + ", "
                              "design " + " or ".join(DESIGNS)
                              + ", encoding " + " or ".join(ENCODINGS))
        self.initial, self.refit_every, self.kappa, self.pool = initial, refit_every, kappa, pool
        self.local_after, self.radius = local_after, radius
        self.design, self.local_share, self.encoding = design, local_share, encoding
        self.balance, self.model, self.trees, self.late_model = balance, model, trees, late_model
        self._stratum: np.ndarray | None = None  # each candidate's latency stratum (balance)
        self.fit_count = 0
        self._sizes = np.array([len(c) for c in self.space.choices()])
        self._radix = np.concatenate([np.cumprod(self._sizes[::-1])[::-1][1:], [1]]).astype(np.int64)
        self._rows: np.ndarray | None = None   # candidate rows of the current fit
        self._mean = self._opt = None          # predicted means / optimistic points (n, m)
        self._space_cache: tuple | None = None  # a small space's rows, encodings and prices
        self._memo: dict[str, int] = {}

    @property
    def min_evals(self) -> int:
        return self.initial

    def _codes(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(rows, dtype=np.int64).reshape(-1, self._sizes.size) @ self._radix

    def _code_of(self, text: str) -> int:
        """An asked arch's code (memoized: every ask checks all earlier asks)."""
        code = self._memo.get(text)
        if code is None:
            code = self._memo[text] = int(self._codes(np.array(
                self.space.indices(self.space.parse(text))))[0])
        return code

    # --- model ---------------------------------------------------------------------------------
    def _modelled(self) -> list[str]:
        return [n for n in self.problem.objectives
                if not (n == "latency_ms" and self.problem.cost is not None)]

    def _refit(self) -> None:
        data = self.history[: self.fit_count]
        x = structure_encoding(self.space, np.array([self.space.indices(o.arch) for o in data]),
                               self.encoding)
        rows, feats, price = self._candidates()
        kind = self._model_now()
        if kind != "ridge" and self.encoding.endswith("+pairs"):
            # pair features are interactions for the additive ridge; trees split on
            # interactions themselves, and 375 more columns would slow every split
            width = structure_encoding(self.space, rows[:1], self.encoding[:-len("+pairs")]).shape[1]
            x, feats = x[:, :width], feats[:, :width]
        models = {name: Surrogate(kind, self.seed * 1000 + k,
                                  saturating=OBJECTIVE_SENSES[name] == "max", trees=self.trees,
                                  max_features=TREE_FEATURES)
                  .fit(x, np.array([o.value(name) for o in data]))
                  for k, name in enumerate(self._modelled())}
        means, opts = [], []
        for name, sense in zip(self.problem.objectives, self.problem.senses):
            if name in models:
                mean, spread = models[name].predict(feats)
                sign = 1.0 if sense == "max" else -1.0
                means.append(mean)
                opts.append(mean + sign * self.kappa * spread)
            else:  # priced exactly; inf where a lookup lacks the arch
                means.append(price)
                opts.append(price)
        mean, opt = np.stack(means, 1), np.stack(opts, 1)
        finite = np.all(np.isfinite(opt), axis=1)
        self._rows, self._mean, self._opt = rows[finite], mean[finite], opt[finite]
        if self.problem.budget_ms is not None and "latency_ms" in self.problem.objectives:
            lat = self._mean[:, self.problem.objectives.index("latency_ms")]
            self._within = lat <= self.problem.budget_ms
        else:
            self._within = np.ones(len(self._rows), dtype=bool)
        self._stratum = None
        if self.balance and "latency_ms" in self.problem.objectives:
            self._stratum = quantile_strata(self._mean[:, self.problem.objectives.index("latency_ms")],
                                            self.balance)

    def _model_now(self) -> str:
        """``late_model`` from the fit at ``local_after`` evaluations on, else ``model``."""
        late = self.late_model is not None and self.local_after is not None \
            and self.fit_count >= self.local_after
        return self.late_model if late else self.model

    def _candidates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Candidate rows, their encodings and prices (a small space's are computed once)."""
        if self.space.size() <= ENUMERATE_LIMIT:
            if self._space_cache is None:
                self._space_cache = self._describe(all_rows(self.space))
            return self._space_cache
        return self._describe(self._candidate_rows())

    def _describe(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        price = self.problem.cost.price_rows(rows) if self.problem.cost is not None else None
        return rows, structure_encoding(self.space, rows, self.encoding), price

    def _candidate_rows(self) -> np.ndarray:
        """One- and two-edit neighbours of the evaluated front, plus ``pool`` uniform samples.

        Used when the space is too big to score whole (as BANANAS mutates its best archs); on
        NB201 scoring every arch did better than all one- and two-edit neighbours of the front
        (0.962 vs 0.952 median at 300 evaluations on imagenet16/pixel2, 2 seeds)."""
        # a generator of its own, seeded by the fit: a resumed run re-derives the same candidates
        rng = np.random.default_rng([self.seed, self.fit_count])
        near: set[tuple[int, ...]] = set()
        for arch in self._centres():
            for n1 in neighbours(self.space, self.space.indices(arch)):
                near.add(n1)  # and one random two-edit neighbour through it
                near.add(self.space.indices(self.space.mutate(self.space.arch_from_indices(n1), rng)))
        rand = rng.integers(self._sizes, size=(self.pool, self._sizes.size))
        rows = np.vstack([np.array(sorted(near), dtype=int).reshape(-1, self._sizes.size), rand])
        _, first = np.unique(self._codes(rows), return_index=True)
        return rows[np.sort(first)]

    def _centres(self) -> list[Arch]:
        """The evaluated front (with a budget: the 5 most accurate feasible archs, or the fastest)."""
        obs = self.history
        if self.problem.budget_ms is not None:
            feas = sorted((o for o in obs if self.problem.violation(o) == 0), key=lambda o: -o.accuracy)
            return [o.arch for o in feas[:5]] or [min(obs, key=lambda o: o.latency_ms).arch]
        return [obs[int(i)].arch for i in pareto_front(self.problem.points(obs), self.problem.senses)]

    def _stratified(self) -> Arch:
        """A random arch of latency stratum k of ``initial`` (k = asks so far).

        Prices are free, so the first fit sees the whole latency range (with a budget: the range
        within it) instead of where uniform samples crowd (NB201's mid-latency cells)."""
        if self.space.size() <= ENUMERATE_LIMIT:
            rows, _, price = self._candidates()
        else:
            rows = self.rng.integers(self._sizes, size=(50 * self.initial, self._sizes.size))
            price = self.problem.cost.price_rows(rows)
        keep = np.isfinite(price)
        if self.problem.budget_ms is not None and (price[keep] <= self.problem.budget_ms).any():
            keep &= price <= self.problem.budget_ms
        rows = rows[keep][np.argsort(price[keep], kind="stable")]
        k = len(self.proposed) % self.initial
        lo, hi = (len(rows) * k) // self.initial, (len(rows) * (k + 1)) // self.initial
        if hi <= lo:  # fewer priced archs than strata
            return self.draw(lambda: self.space.sample(self.rng))
        return self.draw(lambda: self.space.arch_from_indices(rows[int(self.rng.integers(lo, hi))]))

    def _in_trust_region(self, rows: np.ndarray) -> np.ndarray:
        """Which rows are within ``radius`` edits of a centre (the front's neighbourhood)."""
        centres = np.array([self.space.indices(a) for a in self._centres()])
        edits = (rows[:, None, :] != centres[None, :, :]).sum(2)
        return (edits <= self.radius).any(1)

    # --- proposals -----------------------------------------------------------------------------
    def _propose(self) -> Arch:
        if len(self.history) < self.initial:
            if self.design == "latency" and self.problem.cost is not None:
                return self._stratified()
            return self.draw(lambda: self.space.sample(self.rng))
        if self.fit_count == 0 or len(self.history) - self.fit_count >= self.refit_every \
                or self._rows is None:
            self.fit_count = len(self.history)
            self._refit()
        codes = self._codes(self._rows)
        asked = np.isin(codes, [self._code_of(s) for s in self.proposed])
        open_ = ~asked & self._within
        if not open_.any():
            open_ = ~asked
        if not open_.any():  # everything scored was asked: a bounded random draw
            return self.draw(lambda: self.space.sample(self.rng))
        idx = np.flatnonzero(open_)
        if self._local_turn(len(self.proposed)):
            near = idx[self._in_trust_region(self._rows[idx])]
            if near.size:  # an all-asked region falls back to the whole scored set
                idx = near
        acc = self._opt[idx, self.problem.objectives.index("accuracy")]
        if self.problem.budget_ms is not None:
            return self.space.arch_from_indices(self._rows[idx[int(np.argmax(acc))]])
        gain = self._hv_gain(idx, codes)
        if self._stratum is not None:  # ask k from latency stratum k mod balance, if it promises
            mine = self._stratum[idx] == len(self.proposed) % self.balance
            if mine.any() and gain[mine].max() > 0:
                idx, acc, gain = idx[mine], acc[mine], gain[mine]
        best = idx[int(np.lexsort((-acc, -gain))[0])]
        return self.space.arch_from_indices(self._rows[best])

    def _local_turn(self, asked: int) -> bool:
        """Whether ask number ``asked`` (0-based) is restricted to the trust region: all from
        ``local_after`` on, and before it every (1 / ``local_share``)-th model-driven ask."""
        if self.local_after is not None and asked >= self.local_after:
            return True
        return int((asked + 1) * self.local_share) > int(asked * self.local_share)

    def _hv_gain(self, idx: np.ndarray, codes: np.ndarray) -> np.ndarray:
        senses = self.problem.senses
        known = self.problem.points(self.history)
        pending = [self._code_of(s) for s in self.proposed[len(self.history):]]
        if pending:  # asked, not yet told: counted at their predicted means
            where = np.flatnonzero(np.isin(codes, pending))
            known = np.vstack([known, self._mean[where]])
        cand = self._opt[idx]
        ref = default_reference(np.vstack([known, cand]), senses)
        front = known[pareto_front(known, senses)]
        if front.shape[1] == 2:
            return _hvi_2d(to_minimization(front, senses), to_minimization(cand, senses),
                           to_minimization(ref[None, :], senses)[0])
        gain = np.zeros(len(idx))
        top = pareto_front(cand, senses)  # only the predicted front can matter most
        base = hypervolume(front, senses, ref)
        for k in top:
            gain[k] = hypervolume(np.vstack([front, cand[k]]), senses, ref) - base
        return gain

    # --- state ---------------------------------------------------------------------------------
    def _extra_state(self) -> dict:
        return {"fit_count": self.fit_count}

    def _load_extra(self, extra: dict) -> None:
        self.fit_count = int(extra["fit_count"])
        self._rows = None
        if self.fit_count:
            self._refit()
