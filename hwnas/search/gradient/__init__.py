"""ProxylessNAS-style gradient search: expected latency from a table and a hard latency budget.

``run_gradient_search(GradientSearchConfig(...))`` (the registered search ``proxyless``) trains a
weight-sharing supernet with one of three relaxations (``binary`` ProxylessNAS gates, ``softmax``
DARTS, ``gumbel`` GDAS), penalises the differentiable expected latency ``E[LAT]`` from the table,
and derives the arch. With the default ``budget`` loss the derivation is a multiple-choice
knapsack over the layers: the most probable arch whose table latency is at most the budget (and,
where possible, at least 90 % of it).
"""

from hwnas.search.gradient.config import GradientSearchConfig
from hwnas.search.gradient.run import run_gradient_search

__all__ = ["GradientSearchConfig", "run_gradient_search"]
