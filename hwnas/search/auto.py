"""``--strategy auto``: the strategy that did best on the real NB201 pairs at this many evaluations.

The rule table comes from ``benchmarks/strategies.py`` on the 12 accuracy x device pairs of the
NB201 dev table (README, "Benchmarks"): for each evaluation budget, the strategy with the best
worst-pair median hypervolume ratio. ``auto`` builds that strategy with its benchmarked options
and delegates every ask and tell to it; it says which it picked on stderr, in its state and (via
``picked``) in the run folder's config.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from hwnas.search.base import Observation, Problem, SearchError, Strategy
from hwnas.space.arch import Arch

# (largest max_evals the rule covers, strategy, options), first match wins. Measured at 100 and
# 300 evaluations (10 seeds, 6 real pairs covering the 6 devices and both accuracies; README,
# Benchmarks): the strategy with the best worst-pair median. structured, with 6 latency-stratified
# starts, the cell summary (with a residual's depth) and edge-pair features, asks cycled through
# 12 latency strata, and trees from its trust-region phase on, at both: at 100 its worst pair is
# 0.971 (evolution 0.899, predictor 0.879); at 300 0.988 (local 0.965, evolution 0.956, predictor
# 0.955). At 100, local_share 0.5 (every 2nd ask from that trust region) raised 5 of the 6 pairs
# but lowered the worst, imagenet16/samsung_a50 (measured before the pair features and strata),
# so by this rule it is not taken.
RULES: tuple[tuple[float, str, dict], ...] = (
    (float("inf"), "structured", {"initial": 6}),
)


def pick(max_evals: int) -> tuple[str, dict]:
    """The strategy name and options ``auto`` uses for ``max_evals`` evaluations."""
    for upto, name, options in RULES:
        if max_evals <= upto:
            return name, dict(options)
    raise SearchError(f"no auto rule covers {max_evals} evaluations", "pick a --strategy")


class AutoStrategy(Strategy):
    name = "auto"

    def __init__(self, problem: Problem, seed: int = 0, max_evals: int = 100, quiet: bool = False,
                 inner_options: dict | None = None,
                 factory: Callable[..., Strategy] | None = None):
        """``factory`` is ``make_strategy`` (the registry passes it in: no import cycle);
        ``inner_options`` go to the picked strategy over the rule's (the registry passes a resumed
        run's recorded defaults; not an ``--option``)."""
        super().__init__(problem, seed)
        if isinstance(max_evals, bool) or not isinstance(max_evals, int) or max_evals < 1:
            raise SearchError(f"auto needs the evaluation budget, got max_evals={max_evals}",
                              "pass --max-evals 1 or more")
        if factory is None:
            raise SearchError("auto was built without the strategy registry",
                              "build it with hwnas.search.make_strategy('auto', ...)")
        self.max_evals = max_evals
        self.picked, options = pick(max_evals)
        # the population must fit the budget, or the picked strategy never leaves random sampling
        if "population" in options:
            options["population"] = max(2, min(options["population"], max_evals // 2))
            options["sample_size"] = max(1, min(options.get("sample_size", 1),
                                                options["population"] // 2))
        if inner_options is not None and not isinstance(inner_options, dict):  # not a CLI option
            raise SearchError(f"auto's inner_options must be a dict, got {inner_options!r}",
                              "pass the picked strategy's options as a dict")
        self.picked_options = options
        self.inner = factory(self.picked, problem, seed, **{**options, **(inner_options or {})})
        if not quiet:
            print(f"auto: picked {self.picked} {options} for {max_evals} evaluations "
                  "(README, Benchmarks: strategies)", file=sys.stderr)

    @property
    def min_evals(self) -> int:
        return self.inner.min_evals

    def _propose(self) -> Arch:
        return self.inner.ask()

    def _learn(self, obs: Observation) -> None:
        self.inner.tell(obs)

    def _extra_state(self) -> dict:
        return {"picked": self.picked, "inner": self.inner.state_dict()}

    def _load_extra(self, extra: dict) -> None:
        if extra["picked"] != self.picked:
            raise ValueError(f"picked {extra['picked']} there, {self.picked} now")
        self.inner.load_state_dict(extra["inner"])
