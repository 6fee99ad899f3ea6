"""Fit a table's correction on measured whole archs and choose the model by held-out error.

Two kinds of model compete (:func:`select_calibration`):

- ``linear``: ``a * raw + b * n_ops + c`` (:func:`~hwnas.latency.calibration.fit_linear`), one
  slope for every op;
- ``per_kind``: ``sum_g m_g * S_g + b * n_ops + c``, where ``S_g`` is the arch's raw p50 sum over
  the ops of group ``g`` (kind and kernel size, :func:`~hwnas.latency.calibration.op_group`) and
  ``m_g >= 0``. The table's in-isolation timing misses by different amounts per kernel (a 5x5
  depthwise conv streaming 224x224 activations loses more to the cache than a 3x3 one), which
  one slope cannot follow. It is fitted with ``scipy.optimize.lsq_linear`` on relative errors
  (rows divided by the measured latency: a 10 % miss costs the same on a fast and a slow arch),
  ridge-regularised toward the raw table (``alpha * scale_g * (m_g - 1)^2``): a group that few
  archs exercise stays near 1 instead of absorbing noise.

Each candidate is scored by k-fold cross-validation over the measured archs (mean absolute
percentage error of out-of-fold predictions); the best one is refitted on all archs and carries a
:class:`~hwnas.latency.calibration.CalibrationRecord` with its out-of-fold agreement beside the
device's repeat.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from hwnas.errors import TableError
from hwnas.latency.agreement import agreement
from hwnas.latency.calibration import Calibration, CalibrationRecord, fit_linear, fit_ratio, op_group
from hwnas.latency.table import LatencyTable
from hwnas.space.arch import Arch
from hwnas.space.base import SearchSpace

#: ridge strengths of the per_kind candidates (relative to each group's scale)
ALPHAS = (0.03, 0.3, 3.0)
MIN_ARCHS = 4  # fewer cannot be cross-validated: the ratio fit is all they support


@dataclass(frozen=True)
class Design:
    """What a calibration sees of each arch: per-group raw sums, op counts, the raw total."""

    groups: tuple[str, ...]
    group_sums_ms: np.ndarray  # (archs, groups)
    n_ops: np.ndarray          # (archs,)

    @property
    def raw_ms(self) -> np.ndarray:
        return self.group_sums_ms.sum(axis=1)

    def rows(self, index: np.ndarray) -> Design:
        return Design(self.groups, self.group_sums_ms[index], self.n_ops[index])


def design(p50_ms: dict[str, float], space: SearchSpace, archs: Sequence[Arch]) -> Design:
    """The per-group raw sums of ``archs`` under a table's p50s (every op must be in it)."""
    per_arch = []
    for arch in archs:
        sums: dict[str, float] = {}
        ops = space.ops(arch)
        for op in ops:
            sums[op_group(op)] = sums.get(op_group(op), 0.0) + p50_ms[op.key]
        per_arch.append((sums, len(ops)))
    groups = tuple(sorted({g for sums, _ in per_arch for g in sums}))
    matrix = np.array([[sums.get(g, 0.0) for g in groups] for sums, _ in per_arch], dtype=float)
    return Design(groups, matrix.reshape(len(archs), len(groups)),
                  np.array([n for _, n in per_arch], dtype=float))


def predict(cal: Calibration | None, d: Design) -> np.ndarray:
    """The calibrated price of each arch of ``d`` (the formula :mod:`hwnas.latency.cost` folds in)."""
    if cal is None:
        return d.raw_ms
    factors = dict(cal.multipliers)
    m = np.array([factors.get(g, 1.0) for g in d.groups])
    return cal.coef_sum * (d.group_sums_ms @ m) + cal.coef_ops * d.n_ops + cal.intercept_ms


def fit_per_kind(d: Design, measured_ms: np.ndarray, alpha: float) -> Calibration:
    """Non-negative per-group multipliers, a per-op term and an intercept (see the module doc)."""
    from scipy.optimize import lsq_linear

    y = np.asarray(measured_ms, dtype=float)
    weight = 1.0 / y
    use_ops = np.ptp(d.n_ops) > 0  # a fixed depth: the count is the intercept again
    columns = [d.group_sums_ms] + ([d.n_ops[:, None]] if use_ops else []) + [np.ones((len(y), 1))]
    X = np.hstack(columns) * weight[:, None]
    g = len(d.groups)
    scale = np.mean(X[:, :g] ** 2, axis=0) + 1e-12
    penalty = np.zeros((g, X.shape[1]))
    penalty[np.arange(g), np.arange(g)] = np.sqrt(alpha * scale)
    A = np.vstack([X, penalty])
    b = np.concatenate([y * weight, np.sqrt(alpha * scale)])  # the ridge pulls m_g toward 1
    lower = np.r_[np.zeros(g), np.full(X.shape[1] - g, -np.inf)]
    sol = lsq_linear(A, b, bounds=(lower, np.inf), method="bvls").x
    coef_ops = float(sol[g]) if use_ops else 0.0
    return Calibration.per_kind(dict(zip(d.groups, sol[:g].tolist())), coef_ops, float(sol[-1]),
                                int(len(y)), f"lsq_linear ridge alpha={alpha:g}")


def candidates() -> dict[str, Callable[[Design, np.ndarray], Calibration]]:
    """The competing models by name: the one-slope linear fit and per_kind at each ridge strength."""
    out: dict[str, Callable[[Design, np.ndarray], Calibration]] = {
        "linear": lambda d, y: fit_linear(d.raw_ms, d.n_ops, y)}
    for alpha in ALPHAS:
        out[f"per_kind(alpha={alpha:g})"] = lambda d, y, a=alpha: fit_per_kind(d, y, a)
    return out


def _mape(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - y) / y) * 100)


def select_calibration(d: Design, measured_ms: np.ndarray, repeat_ms: np.ndarray | None,
                       rng: np.random.Generator, accept: Callable[[Calibration], bool] = lambda c: True,
                       source: str = "", folds: int = 5) -> Calibration:
    """The candidate with the lowest cross-validated error, refitted on every arch of ``d``.

    ``accept`` refuses a fit (e.g. one pricing the space's fastest arch below zero); the next
    best candidate is taken then, and the median-ratio fit when none is left. The returned
    calibration carries a :class:`CalibrationRecord` (out-of-fold agreement of the chosen model,
    and pass B against pass A when ``repeat_ms`` is given).
    """
    y = np.asarray(measured_ms, dtype=float)
    n = len(y)
    rep = None if repeat_ms is None else np.asarray(repeat_ms, dtype=float)
    if n < MIN_ARCHS:
        cal = fit_ratio(d.raw_ms, y)
        return replace(cal, record=_record(n, predict(cal, d), y, rep, (), source))
    k = min(folds, n)
    fold_of = rng.permutation(n) % k
    scored: list[tuple[float, str, np.ndarray]] = []
    for name, fit in candidates().items():
        oof = np.empty(n)
        for f in range(k):
            train, test = fold_of != f, fold_of == f
            oof[test] = predict(fit(d.rows(train), y[train]), d.rows(test))
        if np.all(np.isfinite(oof)):
            scored.append((_mape(oof, y), name, oof))
    scored.sort(key=lambda t: t[0])
    selection = tuple((name, round(err, 3)) for err, name, _ in scored)
    for _, name, oof in scored:
        cal = candidates()[name](d, y)
        if accept(cal):
            return replace(cal, record=_record(n, oof, y, rep, selection, source))
    cal = fit_ratio(d.raw_ms, y)
    return replace(cal, record=_record(n, predict(cal, d), y, rep, selection, source))


def _record(n: int, held_out: np.ndarray, y: np.ndarray, rep: np.ndarray | None,
            selection: tuple[tuple[str, float], ...], source: str) -> CalibrationRecord:
    fit = agreement(held_out, y)
    ceiling = agreement(rep, y) if rep is not None else None
    nan = float("nan")
    return CalibrationRecord(n, fit.within_10pct, _finite_or_nan(fit.kendall_tau),
                             ceiling.within_10pct if ceiling else nan,
                             _finite_or_nan(ceiling.kendall_tau) if ceiling else nan, selection, source)


def _finite_or_nan(value: float) -> float:
    return value if math.isfinite(value) else float("nan")


def fit_calibration(table: LatencyTable, space: SearchSpace, archs: list, measured_ms: np.ndarray,
                    repeat_ms: np.ndarray | None, rng: np.random.Generator, source: str) -> Calibration:
    """The correction chosen by cross-validation over ``archs`` (:func:`select_calibration`:
    linear or per_kind), never one that prices the fastest arch of ``space`` below zero (few,
    noisy archs; a table carrying it would be refused)."""

    def accept(cal: Calibration) -> bool:
        try:
            replace(table, calibration=cal).cost_model(space)
        except TableError:
            return False
        return True

    d = design({k: v.p50 for k, v in table.entries.items()}, space, archs)
    return select_calibration(d, measured_ms, repeat_ms, rng, accept, source)
