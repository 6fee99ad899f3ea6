"""A black-box problem refuses budgets no arch can meet, as the gradient search does."""

import math

import pytest

from hwnas.latency.cost import LookupPrice
from hwnas.search import Problem
from hwnas.search.base import SearchError, fastest_price
from hwnas.testing import synthetic_table, tiny_space


@pytest.mark.parametrize("budget", [0, -1.0, math.inf, math.nan])
def test_budget_must_be_positive_and_finite(budget):
    with pytest.raises(SearchError, match="--budget-ms must be a positive number"):
        Problem(tiny_space(), budget_ms=budget)


def test_budget_below_the_fastest_priced_arch_is_refused():
    space = tiny_space()
    cost = synthetic_table(space).cost_model(space)
    fastest = cost.price(cost.fastest_arch())
    assert fastest_price(cost) == pytest.approx(fastest)
    with pytest.raises(SearchError, match=f"below the fastest arch of space {space.name} "
                                          rf"\({fastest:.4g} ms\).*at least {fastest:.4g}"):
        Problem(space, budget_ms=fastest * 0.99, cost=cost).check_reachable()
    Problem(space, budget_ms=fastest, cost=cost).check_reachable()  # exactly reachable
    Problem(space, budget_ms=fastest * 0.5).check_reachable()  # no price: cannot tell


def test_lookup_price_fastest_is_the_fastest_listed_arch():
    space = tiny_space()
    archs = [space.arch_from_indices((0,) * space.num_positions),
             space.arch_from_indices((1,) * space.num_positions)]
    price = LookupPrice(space, {archs[0]: 4.0, archs[1]: 2.5})
    assert fastest_price(price) == 2.5
    with pytest.raises(SearchError, match=r"\(2.5 ms\)"):
        Problem(space, budget_ms=2.4, cost=price).check_reachable()
