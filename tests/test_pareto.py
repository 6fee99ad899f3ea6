"""hwnas.pareto against brute force: fronts, sorting, exact hypervolume, reference, knee."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwnas.pareto import (
    ParetoError,
    default_reference,
    dominates,
    hypervolume,
    knee_point,
    non_dominated_sort,
    pareto_front,
)


# --- brute-force oracles -------------------------------------------------------------------
def brute_front(pts, senses):
    n = len(pts)
    return [i for i in range(n) if not any(dominates(pts[j], pts[i], senses) for j in range(n) if j != i)]


def brute_hv(pts, senses, ref):
    """Inclusion-exclusion over subsets: volume of the union of the boxes [p, ref]."""
    sign = np.array([-1.0 if s == "max" else 1.0 for s in senses])
    boxes = [np.asarray(p) * sign for p in pts]
    r = np.asarray(ref) * sign
    boxes = [b for b in boxes if np.all(b < r)]
    total = 0.0
    for k in range(1, len(boxes) + 1):
        for subset in itertools.combinations(boxes, k):
            corner = np.max(subset, axis=0)  # intersection of boxes [p, r] is [max p, r]
            total += (-1) ** (k + 1) * float(np.prod(r - corner))
    return total


def grid_points(n_max, m, values=6):
    """Small integer grids: many ties and duplicates, the hard cases for front code."""
    row = st.lists(st.integers(0, values - 1), min_size=m, max_size=m)
    return st.lists(row, min_size=0, max_size=n_max).map(lambda r: np.array(r, dtype=float).reshape(-1, m))


senses_st = lambda m: st.lists(st.sampled_from(["max", "min"]), min_size=m, max_size=m)


# --- dominance and fronts ------------------------------------------------------------------
def test_dominates_mixed_senses():
    assert dominates([0.9, 3.0], [0.8, 4.0], ["max", "min"])
    assert not dominates([0.9, 5.0], [0.8, 4.0], ["max", "min"])
    assert not dominates([0.9, 3.0], [0.9, 3.0], ["max", "min"])  # equal: no strict improvement
    assert dominates([0.9, 3.0], [0.9, 4.0], ["max", "min"])      # equal in one, better in other
    assert dominates([1.0, 1.0], [2.0, 2.0], ["min", "min"])
    assert not dominates([1.0, 1.0], [2.0, 2.0], ["max", "max"])


def test_front_known_set():
    # accuracy (max), latency_ms (min)
    pts = np.array([[0.70, 2.0], [0.80, 3.0], [0.75, 3.5], [0.90, 6.0], [0.90, 7.0],
                    [0.60, 1.0], [0.80, 3.0], [0.50, 1.5]])
    senses = ["max", "min"]
    assert pareto_front(pts, senses).tolist() == [0, 1, 3, 5, 6]  # both copies of (0.8, 3) kept
    fronts = non_dominated_sort(pts, senses)
    assert [f.tolist() for f in fronts] == [[0, 1, 3, 5, 6], [2, 4, 7]]


def test_front_of_empty_and_single():
    assert pareto_front(np.zeros((0, 2)), ["max", "min"]).tolist() == []
    assert non_dominated_sort(np.zeros((0, 3)), ["min"] * 3) == []
    assert pareto_front(np.array([[1.0, 2.0]]), ["max", "min"]).tolist() == [0]


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 4).flatmap(lambda m: st.tuples(grid_points(25, m), senses_st(m))))
def test_front_matches_brute_force(case):
    pts, senses = case
    assert pareto_front(pts, senses).tolist() == brute_front(pts, senses)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 3).flatmap(lambda m: st.tuples(grid_points(20, m), senses_st(m))))
def test_non_dominated_sort_is_a_layering(case):
    pts, senses = case
    fronts = non_dominated_sort(pts, senses)
    seen = np.concatenate(fronts) if fronts else np.zeros(0, dtype=int)
    assert sorted(seen.tolist()) == list(range(len(pts)))  # a partition of all indices
    for k, front in enumerate(fronts):
        rest = np.sort(np.concatenate(fronts[k:]))
        assert front.tolist() == rest[brute_front(pts[rest], senses)].tolist()
        if k:  # every point of front k is dominated by some point of front k-1
            prev = fronts[k - 1]
            assert all(any(dominates(pts[j], pts[i], senses) for j in prev) for i in front)


# --- hypervolume ---------------------------------------------------------------------------
def test_hypervolume_known_values():
    pts = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    assert hypervolume(pts, ["min", "min"], [4.0, 4.0]) == pytest.approx(6.0)
    acc_lat = np.array([[0.9, 5.0], [0.8, 3.0], [0.7, 4.0]])
    assert hypervolume(acc_lat, ["max", "min"], [0.0, 6.0]) == pytest.approx(0.9 * 1 + 0.8 * 2)
    cube = np.array([[0.0, 0.0, 0.0]])
    assert hypervolume(cube, ["min"] * 3, [2.0, 3.0, 4.0]) == pytest.approx(24.0)
    # points on or beyond the reference add nothing
    assert hypervolume(np.array([[4.0, 1.0], [5.0, 5.0]]), ["min", "min"], [4.0, 4.0]) == 0.0
    assert hypervolume(np.zeros((0, 2)), ["min", "min"], [1.0, 1.0]) == 0.0


@settings(max_examples=120, deadline=None)
@given(st.integers(1, 4).flatmap(lambda m: st.tuples(grid_points(8, m), senses_st(m))))
def test_hypervolume_matches_inclusion_exclusion(case):
    pts, senses = case
    m = len(senses)
    ref = np.array([6.5 if s == "min" else -0.5 for s in senses])[:m]
    assert hypervolume(pts, senses, ref) == pytest.approx(brute_hv(pts, senses, ref), abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_hypervolume_3d_continuous_vs_inclusion_exclusion(seed):
    rng = np.random.default_rng(seed)
    pts = rng.random((9, 3))
    ref = np.array([1.1, 1.1, 1.1])
    assert hypervolume(pts, ["min"] * 3, ref) == pytest.approx(brute_hv(pts, ["min"] * 3, ref))


def test_hypervolume_matches_pymoo_on_larger_sets():
    pymoo_hv = pytest.importorskip("pymoo.indicators.hv")
    rng = np.random.default_rng(0)
    for m, n in [(2, 300), (3, 60), (4, 25)]:
        pts = rng.random((n, m))
        ref = np.full(m, 1.2)
        ours = hypervolume(pts, ["min"] * m, ref)
        theirs = pymoo_hv.HV(ref_point=ref)(pts)
        assert ours == pytest.approx(theirs, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(grid_points(12, 2), st.integers(0, 2**32 - 1))
def test_hypervolume_monte_carlo_2d(pts, seed):
    ref = np.array([6.0, 6.0])
    rng = np.random.default_rng(seed)
    samples = rng.random((4000, 2)) * 7.0 - 1.0  # box [-1, 6]^2 holds the dominated region
    covered = np.zeros(len(samples), dtype=bool)
    for p in pts:
        covered |= np.all((samples >= p) & (samples <= ref), axis=1)
    estimate = covered.mean() * 49.0
    exact = hypervolume(pts, ["min", "min"], ref)
    assert abs(estimate - exact) <= 4 * np.sqrt(49.0 * 49.0 / 4 / 4000) + 1e-9  # 4 sigma bound


def test_hypervolume_only_depends_on_front():
    rng = np.random.default_rng(1)
    pts = rng.random((50, 3))
    ref = [1.5, 1.5, 1.5]
    front = pareto_front(pts, ["min"] * 3)
    assert hypervolume(pts, ["min"] * 3, ref) == pytest.approx(hypervolume(pts[front], ["min"] * 3, ref))


# --- reference and knee --------------------------------------------------------------------
def test_default_reference_rule():
    pts = np.array([[0.5, 2.0], [0.9, 12.0]])
    ref = default_reference(pts, ["max", "min"])
    assert ref == pytest.approx([0.5 - 0.04, 12.0 + 1.0])  # worst - / + 10 % of the range
    # every point then adds volume, the extremes included
    assert hypervolume(pts[:1], ["max", "min"], ref) > 0
    assert hypervolume(pts[1:], ["max", "min"], ref) > 0
    flat = default_reference(np.array([[3.0, 0.0]]), ["min", "min"])
    assert flat == pytest.approx([3.3, 0.1])


def test_knee_point_on_a_known_front():
    # convex front with an obvious knee at (1, 1)
    pts = np.array([[0.0, 10.0], [1.0, 1.0], [10.0, 0.0], [5.0, 5.0], [3.0, 2.0]])
    assert knee_point(pts, ["min", "min"]) == 1
    # the same front as accuracy (max) / latency (min): negate the first column
    acc = np.column_stack([1.0 - pts[:, 0] / 10.0, pts[:, 1]])
    assert knee_point(acc, ["max", "min"]) == 1


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 4).flatmap(lambda m: st.tuples(grid_points(20, m), senses_st(m))))
def test_knee_is_on_the_front(case):
    pts, senses = case
    if len(pts) == 0:
        return
    assert knee_point(pts, senses) in pareto_front(pts, senses).tolist()


def test_bad_input_is_a_typed_error():
    with pytest.raises(ParetoError, match="sense"):
        pareto_front(np.zeros((2, 2)), ["max"])
    with pytest.raises(ParetoError, match="unknown sense"):
        pareto_front(np.zeros((2, 2)), ["max", "up"])
    with pytest.raises(ParetoError, match="NaN"):
        pareto_front(np.array([[np.nan, 1.0]]), ["max", "min"])
    with pytest.raises(ParetoError, match="reference"):
        hypervolume(np.zeros((2, 2)), ["min", "min"], [1.0])
    with pytest.raises(ParetoError, match="no points"):
        knee_point(np.zeros((0, 2)), ["min", "min"])


def test_knee_does_not_depend_on_the_order_of_the_points():
    rng = np.random.default_rng(5)
    senses = ["max", "min"]
    two = np.array([[0.142, 12.25], [0.983, 19.78]])  # a two-point front: both ends tie
    rev = two[::-1]
    assert two[knee_point(two, senses)].tolist() == rev[knee_point(rev, senses)].tolist()
    assert two[knee_point(two, senses)].tolist() == [0.983, 19.78]  # best first objective wins
    for _ in range(50):
        pts = np.round(rng.random((12, 2)), 1)  # coarse values: many ties and duplicates
        keys = [f"arch{i}" for i in range(12)]
        perm = rng.permutation(12)
        a = knee_point(pts, senses, keys)
        b = knee_point(pts[perm], senses, [keys[i] for i in perm])
        assert keys[a] == keys[perm[b]]
