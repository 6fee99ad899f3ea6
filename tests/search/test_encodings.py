"""Path encoding of cell spaces and one-edit neighbourhoods (what the structured predictor and
local search see)."""

import numpy as np
import pytest

from hwnas.search.encodings import cell_paths, neighbours, path_encoding, structure_encoding
from hwnas.space import get_space
from hwnas.space.nb201 import NB201_EDGES, NB201_OPS
from hwnas.testing import tiny_space

NONE, SKIP, C1, C3, POOL = range(5)
NB201 = get_space("nb201")


def paths_of(row):
    return path_encoding(np.array([row]), NB201_EDGES, len(NB201_OPS), NONE)[0]


def test_nb201_has_four_input_output_paths():
    # edges in string order: 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2
    assert cell_paths(NB201_EDGES) == [(3,), (0, 4), (1, 5), (0, 2, 5)]


def test_all_none_cell_has_no_path():
    assert paths_of([NONE] * 6).sum() == 0


def test_a_none_edge_silences_the_paths_through_it():
    full = paths_of([C3] * 6)
    assert full.sum() == 4  # every path alive, one feature each
    cut = paths_of([NONE, C3, C3, C3, C3, C3])  # 1<-0 cut: paths 0-1-3 and 0-1-2-3 die
    assert cut.sum() == 2
    # one-hot features differ only in position 0; the path features see two paths vanish
    assert (full - cut).sum() == 2


def test_path_features_name_the_ops_in_order():
    a = paths_of([C1, NONE, C3, NONE, NONE, NONE])  # no path reaches node 3
    assert a.sum() == 0
    b = paths_of([C1, NONE, C3, NONE, NONE, SKIP])  # the 3-edge path c1 -> c3 -> skip
    c = paths_of([C3, NONE, C1, NONE, NONE, SKIP])  # the same path, ops swapped
    assert b.sum() == c.sum() == 1
    assert not np.array_equal(b, c)


def test_structure_encoding_shapes():
    rows = np.zeros((3, 6), dtype=int)
    assert structure_encoding(NB201, rows).shape == (3, 30 + 4 + 16 + 16 + 64)
    tiny = tiny_space()
    sizes = [len(c) for c in tiny.choices()]
    pairs = sum(a * b for a, b in zip(sizes, sizes[1:]))
    assert structure_encoding(tiny, np.zeros((2, len(sizes)), dtype=int)).shape == (2, sum(sizes) + pairs)


@pytest.mark.parametrize("row", [(0,) * 6, (4, 3, 2, 1, 0, 1)])
def test_neighbours_are_every_one_edit(row):
    near = neighbours(NB201, row)
    assert len(near) == len(set(near)) == 6 * 4
    assert all(sum(a != b for a, b in zip(n, row)) == 1 for n in near)


def summary_of(row):
    from hwnas.search.encodings import cell_summary

    return cell_summary(np.array([row]), NB201_EDGES, NB201_OPS, NONE)[0]


# cell_summary columns: live paths, any live path, (live, dead) count per non-none op in op order
# (skip, conv1x1, conv3x3, pool), deepest live conv count, deepest live 3x3 count, ...
LIVE_C3, DEAD_C3, DEEPEST_CONV, DEEPEST_C3, RESIDUAL = 6, 7, 10, 11, 16


def test_summary_counts_live_paths_and_deep_convolutions():
    s = summary_of([C3] * 6)
    assert (s[0], s[1]) == (4, 1)
    assert (s[LIVE_C3], s[DEAD_C3]) == (6, 0)
    assert (s[DEEPEST_CONV], s[DEEPEST_C3]) == (3, 3)  # the path 0 -> 1 -> 2 -> 3
    mixed = summary_of([C1, NONE, C3, NONE, NONE, C3])  # one path: c1 -> c3 -> c3
    assert (mixed[0], mixed[DEEPEST_CONV], mixed[DEEPEST_C3]) == (1, 3, 2)


def test_summary_sees_a_residual_an_identity_path_beside_a_deep_conv_path():
    resnet = [C3, C3, C3, SKIP, C3, C3]  # skip 3<-0 beside the conv chain 0 -> 1 -> 2 -> 3
    assert summary_of(resnet)[RESIDUAL] == 3
    assert summary_of([C3, C3, C3, C3, C3, C3])[RESIDUAL] == 0  # no identity path
    assert summary_of([NONE, NONE, NONE, SKIP, NONE, NONE])[RESIDUAL] == 0  # nothing beside it
    # an identity path of two skips (0 -> 1 -> 3) beside the convs 0 -> 2 -> 3
    assert summary_of([SKIP, C1, NONE, NONE, SKIP, C3])[RESIDUAL] == 2


def test_a_ridge_with_the_residual_column_learns_a_residual_bonus():
    from hwnas.search.encodings import cell_summary
    from hwnas.search.surrogate import Surrogate

    # the skip 3<-0 is worth more the deeper the convolutions beside it (in NB201 it costs on
    # its own and is in each of the 50 best CIFAR-100 cells)
    rng = np.random.default_rng(0)
    rows, test = rng.integers(0, 5, size=(150, 6)), rng.integers(0, 5, size=(2000, 6))
    deepest = lambda r: cell_summary(r, NB201_EDGES, NB201_OPS, NONE)[:, DEEPEST_CONV]  # noqa: E731
    bonus = lambda r: np.where(r[:, 3] == SKIP, deepest(r) - 1.5, 0.0)  # noqa: E731
    col = 130 + RESIDUAL
    err = {}
    for name, keep in (("with", slice(None)), ("without", np.r_[0:col, col + 1:155])):
        model = Surrogate("ridge", 0, saturating=False).fit(
            structure_encoding(NB201, rows, "path+summary")[:, keep], bonus(rows))
        mean, _ = model.predict(structure_encoding(NB201, test, "path+summary")[:, keep])
        err[name] = float(np.mean((mean - bonus(test)) ** 2))
    assert err["with"] < 0.5 * err["without"], err


def test_an_op_on_a_dead_edge_changes_only_the_dead_counts():
    # 3<-1 and 3<-2 are none, 1<-0 and 2<-0 lead nowhere: only 3<-0 is live
    a = summary_of([C3, C3, C3, SKIP, NONE, NONE])
    b = summary_of([C1, POOL, C3, SKIP, NONE, NONE])
    assert (a[0], a[LIVE_C3], a[DEAD_C3]) == (1, 0, 3)
    live_cols = [0, 1, 2, 4, 6, 8, 10, 11, 12, 13, 14, 15]  # everything but the dead counts
    assert np.array_equal(a[live_cols], b[live_cols])
    assert not np.array_equal(a, b)


def test_summary_encoding_does_not_depend_on_the_other_rows():
    rows = np.array([[C3] * 6, [NONE] * 6, [SKIP, C1, C3, POOL, NONE, C3]])
    together = structure_encoding(NB201, rows, "path+summary")
    assert together.shape == (3, 130 + 25)
    for i, row in enumerate(rows):
        assert np.array_equal(structure_encoding(NB201, row[None], "path+summary")[0], together[i])
    assert np.array_equal(together[:, :130], structure_encoding(NB201, rows))


def test_pair_features_one_hot_every_two_edges_after_the_summary():
    rows = np.array([[C3] * 6, [NONE, SKIP, C1, C3, POOL, C3]])
    base = structure_encoding(NB201, rows, "path+summary")
    full = structure_encoding(NB201, rows, "path+summary+pairs")
    assert full.shape == (2, base.shape[1] + 15 * 25)
    assert np.array_equal(full[:, :base.shape[1]], base)
    pairs = full[:, base.shape[1]:].reshape(2, 15, 25)
    assert np.all(pairs.sum(axis=2) == 1)  # one op pair per two edges
    assert pairs[0, 0].argmax() == C3 * 5 + C3
    assert pairs[1, 0].argmax() == NONE * 5 + SKIP  # edges 1<-0 and 2<-0


def test_a_ridge_on_pair_features_learns_an_interaction_the_summary_cannot():
    from hwnas.search.surrogate import Surrogate

    # accuracy up only when 1<-0 is a 1x1 conv AND 2<-0 is a pool: parallel edges, no path
    # or count holds both
    rng = np.random.default_rng(0)
    rows, test = rng.integers(0, 5, size=(400, 6)), rng.integers(0, 5, size=(1000, 6))
    both = lambda r: ((r[:, 0] == C1) & (r[:, 1] == POOL)).astype(float)  # noqa: E731
    err = {}
    for kind in ("path+summary", "path+summary+pairs"):
        model = Surrogate("ridge", 0, saturating=False).fit(
            structure_encoding(NB201, rows, kind), both(rows) + rng.normal(0, 0.01, 400))
        mean, _ = model.predict(structure_encoding(NB201, test, kind))
        err[kind] = float(np.mean((mean - both(test)) ** 2))
    assert err["path+summary+pairs"] < 0.2 * err["path+summary"]
