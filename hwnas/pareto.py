"""Pure Pareto functions over (points, senses): dominance, fronts, hypervolume, knee.

``points`` is an ``(n, m)`` array, one row per candidate and one column per objective; ``senses``
says per column whether bigger (``"max"``) or smaller (``"min"``) is better. Internally every
column is turned into a minimized one (``max`` columns are negated), so all the geometry below is
written for minimization.

Example:
    >>> import numpy as np
    >>> pts = np.array([[0.9, 5.0], [0.8, 3.0], [0.7, 4.0]])   # accuracy, latency_ms
    >>> pareto_front(pts, ["max", "min"]).tolist()
    [0, 1]
    >>> round(hypervolume(pts, ["max", "min"], reference=[0.0, 6.0]), 6)
    2.5

Duplicates: identical rows do not dominate each other, so every copy of a front point is on the
front (``pareto_front`` keeps all copies, in input order).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np

from hwnas.errors import HwnasError

SENSES = ("max", "min")
REFERENCE_MARGIN = 0.1


class ParetoError(HwnasError):
    """Points, senses or a reference point that do not fit together."""


# --- input handling ------------------------------------------------------------------------
def _signs(senses: Sequence[str], m: int) -> np.ndarray:
    senses = list(senses)
    if len(senses) != m:
        raise ParetoError(f"{len(senses)} sense(s) for {m} objective column(s)",
                          "give one of 'max'/'min' per objective")
    bad = [s for s in senses if s not in SENSES]
    if bad:
        raise ParetoError(f"unknown sense(s) {bad}", "use 'max' or 'min'")
    return np.array([-1.0 if s == "max" else 1.0 for s in senses])


def _as_points(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    arr = np.asarray(points, dtype=float)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 0)
    if arr.ndim != 2:
        raise ParetoError(f"points must be a 2-D (n, m) array, got shape {arr.shape}",
                          "pass one row per candidate, one column per objective")
    if not np.all(np.isfinite(arr)):
        raise ParetoError("points contain NaN or infinite values",
                          "drop candidates without a value for every objective first")
    return arr


def to_minimization(points: np.ndarray, senses: Sequence[str]) -> np.ndarray:
    """The same points with every ``max`` column negated (so smaller is better everywhere)."""
    arr = _as_points(points)
    return arr * _signs(senses, arr.shape[1])


# --- dominance and fronts ------------------------------------------------------------------
def dominates(a: Sequence[float], b: Sequence[float], senses: Sequence[str]) -> bool:
    """True if ``a`` is no worse than ``b`` in every objective and strictly better in one."""
    a_arr = np.asarray(a, dtype=float)
    b_arr = np.asarray(b, dtype=float)
    if a_arr.shape != b_arr.shape or a_arr.ndim != 1:
        raise ParetoError(f"cannot compare points of shapes {a_arr.shape} and {b_arr.shape}",
                          "pass two 1-D points with one value per objective")
    sign = _signs(senses, a_arr.size)
    sa, sb = a_arr * sign, b_arr * sign
    return bool(np.all(sa <= sb) and np.any(sa < sb))


def _front_min(pts: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of a minimization matrix, in input order.

    A dominator is lexicographically smaller than what it dominates, so after a lexicographic
    sort each point only needs checking against the front found so far (domination is
    transitive: a dominated dominator implies a front dominator).
    """
    n = pts.shape[0]
    if n == 0:
        return np.zeros(0, dtype=int)
    order = np.lexsort(pts.T[::-1])
    front: list[int] = []
    front_pts = np.empty((0, pts.shape[1]))
    for i in order:
        p = pts[i]
        if front_pts.shape[0]:
            dominated = np.any(np.all(front_pts <= p, axis=1) & np.any(front_pts < p, axis=1))
            if dominated:
                continue
        front.append(int(i))
        front_pts = np.vstack([front_pts, p])
    return np.sort(np.array(front, dtype=int))


def pareto_front(points: np.ndarray, senses: Sequence[str]) -> np.ndarray:
    """Indices (into ``points``, ascending) of the non-dominated points; duplicates all kept."""
    return _front_min(to_minimization(points, senses))


def non_dominated_sort(points: np.ndarray, senses: Sequence[str]) -> list[np.ndarray]:
    """Fronts of indices: front 0 is the Pareto front, front 1 the front once 0 is removed, ..."""
    pts = to_minimization(points, senses)
    if pts.ndim == 2 and pts.shape[1] == 2:
        return _layers_2d(pts)
    remaining = np.arange(pts.shape[0])
    fronts: list[np.ndarray] = []
    while remaining.size:
        local = _front_min(pts[remaining])
        fronts.append(remaining[local])
        remaining = np.delete(remaining, local)
    return fronts


def _layers_2d(pts: np.ndarray) -> list[np.ndarray]:
    """``non_dominated_sort`` of two minimized columns in O(n log n) (peeling fronts one by one is
    quadratic: 15,625 NB201 archs took minutes). In (x, y) order a point's dominators all come
    before it, so it joins the first layer whose last point (the layer's lowest y) does not
    dominate it; those last y's rise with the layer."""
    tails_y: list[float] = []
    tails_x: list[float] = []
    layer = np.empty(len(pts), dtype=int)
    for i in np.lexsort((pts[:, 1], pts[:, 0])):
        x, y = float(pts[i, 0]), float(pts[i, 1])
        k = bisect.bisect_left(tails_y, y)
        while k < len(tails_y) and tails_y[k] == y and tails_x[k] != x:  # an equal y, smaller x
            k += 1
        if k == len(tails_y):
            tails_y.append(y)
            tails_x.append(x)
        else:
            tails_y[k], tails_x[k] = y, x
        layer[i] = k
    return [np.flatnonzero(layer == k) for k in range(len(tails_y))]


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of each row of one front (boundary rows get infinity)."""
    n, m = points.shape
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(m):
        order = np.argsort(points[:, j], kind="stable")
        span = points[order[-1], j] - points[order[0], j]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span > 0:
            dist[order[1:-1]] += (points[order[2:], j] - points[order[:-2], j]) / span
    return dist


# --- hypervolume ---------------------------------------------------------------------------
def _hv_2d(pts: np.ndarray, ref: np.ndarray) -> float:
    order = np.lexsort((pts[:, 1], pts[:, 0]))
    volume, best_y = 0.0, ref[1]
    for x, y in pts[order]:
        if y < best_y:
            volume += (ref[0] - x) * (best_y - y)
            best_y = y
    return float(volume)


def _hv_min(pts: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume dominated by ``pts`` (all strictly below ``ref``), minimization.

    Slicing (HSO): sort by the last objective; between consecutive last-objective values the
    dominated region is a fixed (m-1)-D set times the slice depth.
    """
    if pts.shape[0] == 0:
        return 0.0
    m = pts.shape[1]
    if m == 1:
        return float(ref[0] - pts[:, 0].min())
    if m == 2:
        return _hv_2d(pts, ref)
    pts = pts[_front_min(pts)]
    pts = pts[np.argsort(pts[:, -1], kind="stable")]
    volume = 0.0
    n = pts.shape[0]
    for k in range(n):
        upper = pts[k + 1, -1] if k + 1 < n else ref[-1]
        depth = upper - pts[k, -1]
        if depth <= 0:
            continue
        volume += _hv_min(pts[: k + 1, :-1], ref[:-1]) * depth
    return float(volume)


def hypervolume(points: np.ndarray, senses: Sequence[str], reference: Sequence[float]) -> float:
    """Exact volume of objective space dominated by ``points`` and bounded by ``reference``.

    ``reference`` is given in the objectives' own units and senses (e.g. accuracy 0.0, latency
    20 ms). Points that are not strictly better than the reference in every objective add
    nothing. 2-D is an O(n log n) sweep; n-D slices recursively along the last objective (exact,
    fine for the front sizes of a search: hundreds of points in 3-4 objectives).
    """
    arr = _as_points(points)
    m = arr.shape[1] if arr.size else len(list(senses))
    sign = _signs(senses, m)
    ref = np.asarray(reference, dtype=float)
    if ref.shape != (m,) or not np.all(np.isfinite(ref)):
        raise ParetoError(f"reference {list(np.atleast_1d(ref))} does not fit {m} objective(s)",
                          "give one finite reference value per objective")
    if arr.size == 0:
        return 0.0
    pts, ref_min = arr * sign, ref * sign
    pts = pts[np.all(pts < ref_min, axis=1)]
    return _hv_min(pts, ref_min)


def default_reference(points: np.ndarray, senses: Sequence[str],
                      margin: float = REFERENCE_MARGIN) -> np.ndarray:
    """Reference point: per objective, the worst value plus ``margin`` (10 %) of its range.

    "Worst" is the minimum of a ``max`` objective and the maximum of a ``min`` one; the margin is
    moved away from the points, so every point (even the extremes) adds volume. A column with no
    spread uses ``margin * |worst|`` (or ``margin`` if that is 0). For a common reference across
    runs, pass all runs' points together. Objectives with a natural bound (accuracy >= 0) may do
    better with that bound; the report uses 0 for accuracy.
    """
    arr = _as_points(points)
    if arr.shape[0] == 0:
        raise ParetoError("no points to derive a reference from", "pass at least one point")
    sign = _signs(senses, arr.shape[1])
    pts = arr * sign
    worst = pts.max(axis=0)
    spread = pts.max(axis=0) - pts.min(axis=0)
    pad = np.where(spread > 0, spread * margin, np.where(worst != 0, np.abs(worst) * margin, margin))
    return (worst + pad) * sign


# --- knee ----------------------------------------------------------------------------------
def knee_point(points: np.ndarray, senses: Sequence[str],
               keys: Sequence[str] | None = None) -> int:
    """Index (into ``points``) of the knee of the Pareto front.

    Method: normalize the front's objectives to [0, 1] (0 = the front's best value, 1 = its worst;
    a column without spread is 0), then take the front point farthest below the hyperplane
    ``sum(x) = 1`` through the per-objective extremes. In 2-D that plane is exactly the line
    through the two end points of the front, so this is the classic "max distance to the chord".
    Maximizing that distance is minimizing ``sum(x)``.

    Ties (a two-point front, collinear points, duplicates) are broken by the points' values, not
    by their order, so the knee of a set never depends on how it was listed: the best value of
    the first objective wins, then of the next; then the smallest of ``keys`` (e.g. arch
    strings) for identical values; the lowest index only when nothing else tells them apart.
    """
    pts = to_minimization(points, senses)
    if pts.shape[0] == 0:
        raise ParetoError("no points to find a knee in", "pass at least one point")
    front = _front_min(pts)
    f = pts[front]
    lo, hi = f.min(axis=0), f.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    norm = (f - lo) / span
    sums = norm.sum(axis=1)
    tied = np.flatnonzero(sums <= sums.min() + 1e-12 * max(1.0, float(norm.shape[1])))

    def order(i: int) -> tuple:
        idx = int(front[i])
        return (*f[i].tolist(), "" if keys is None else str(keys[idx]), idx)

    return int(front[min(tied.tolist(), key=order)])


__all__ = [
    "REFERENCE_MARGIN", "SENSES", "ParetoError", "default_reference", "dominates", "hypervolume",
    "knee_point", "non_dominated_sort", "pareto_front", "to_minimization",
]
