"""Strategy names -> classes: the black-box strategies behind the one ask/tell interface."""

from __future__ import annotations

import inspect
import math
import numbers

from hwnas.search.base import Problem, SearchError, Strategy


def _classes() -> dict[str, type[Strategy]]:
    from hwnas.search.auto import AutoStrategy
    from hwnas.search.evolution import RegularizedEvolution
    from hwnas.search.local_search import LocalSearch
    from hwnas.search.nsga2 import NSGA2
    from hwnas.search.predictor import PredictorSearch
    from hwnas.search.random_search import RandomSearch
    from hwnas.search.rl import ReinforceSearch
    from hwnas.search.structured import StructuredPredictor

    return {c.name: c for c in (RandomSearch, RegularizedEvolution, NSGA2, ReinforceSearch,
                                PredictorSearch, LocalSearch, StructuredPredictor, AutoStrategy)}


def strategy_names() -> list[str]:
    return list(_classes())


def strategy_option_defaults(cls: type[Strategy]) -> dict[str, object]:
    """The keyword options a strategy class takes (``--option`` names), with their defaults."""
    params = inspect.signature(cls.__init__).parameters
    return {p: par.default for p, par in params.items()
            if p not in ("self", "problem", "seed", "factory", "inner_options")
            and par.kind in (par.POSITIONAL_OR_KEYWORD, par.KEYWORD_ONLY)}


def defaults_in_force(strategy: Strategy, given: dict) -> dict[str, object]:
    """The defaults a built strategy uses for the options not ``given`` (for ``auto``: those of
    the strategy it picked, beside its rule's options), plain JSON values only.

    Recorded in a run's config: a run resumed after an upgrade that changed a default carries on
    with the value it began with (``resumed_defaults``), not today's."""
    target, given = _delegate(strategy, given)
    return {k: v for k, v in strategy_option_defaults(type(target)).items()
            if k not in given and _plain(v)}


def resumed_defaults(strategy: Strategy, today: dict, began: dict) -> dict[str, object]:
    """What a resumed run's strategy must be given (``make_strategy(..., kept_defaults=)``) to
    use the defaults it began with (``began``, as ``defaults_in_force`` recorded them) where
    they differ from ``today``'s (``defaults_in_force`` of the strategy built now).

    Raises SearchError when the run began with an option this hwnas no longer has."""
    known = strategy_option_defaults(type(_delegate(strategy, {})[0]))
    gone = sorted(k for k in began if k not in known)
    if gone:
        raise SearchError(f"this run began with strategy {strategy.name} option(s) "
                          f"{', '.join(gone)}, which this hwnas no longer has, so it cannot "
                          "continue as it began",
                          "start a new run with another --out (reports still read this one)")
    return {k: v for k, v in began.items() if k in today and today[k] != v}


def _delegate(strategy: Strategy, given: dict) -> tuple[Strategy, dict]:
    """The strategy whose options decide, and the options it was given: for ``auto``, the
    strategy it picked and its rule's options."""
    inner = getattr(strategy, "inner", None)
    return (inner, strategy.picked_options) if inner is not None else (strategy, given)


def _plain(value: object) -> bool:
    return value is None or isinstance(value, (bool, int, str)) \
        or (isinstance(value, float) and math.isfinite(value))


def _check_options(name: str, cls: type[Strategy], options: dict) -> None:
    """Unknown keys, and numbers of the wrong kind: the default's type says what an option takes
    (a count given 2.5 would pass the strategy's range check and fail asks later, mid-run)."""
    defaults = strategy_option_defaults(cls)
    known = list(defaults)
    for key, value in options.items():
        if key not in known:
            raise SearchError(f"strategy {name} has no option {key!r}",
                              f"its options: {', '.join(known) or 'none'}")
        default = defaults[key]
        whole = isinstance(default, int) and not isinstance(default, bool)
        if value is None or isinstance(value, bool) or not (whole or isinstance(default, float)):
            continue
        if not isinstance(value, numbers.Real) or (whole and not isinstance(value, numbers.Integral)) \
                or not math.isfinite(value):
            kind = "a whole number" if whole else "a finite number"
            raise SearchError(f"strategy {name} option {key} takes {kind}, got {value!r}",
                              f"pass e.g. {key}={default}")


def make_strategy(name: str, problem: Problem, seed: int = 0, *, kept_defaults: dict | None = None,
                  **options) -> Strategy:
    """A strategy by name; ``options`` are its constructor's keyword arguments; ``kept_defaults``
    (from ``resumed_defaults``) go over the defaults - for ``auto``, its pick's.

    Example:
        >>> from hwnas.testing import tiny_space
        >>> make_strategy("evolution", Problem(tiny_space()), seed=1, population=8).min_evals
        8
    """
    classes = _classes()
    if name not in classes:
        raise SearchError(f"unknown strategy {name!r}",
                          f"choose one of {', '.join([*classes, 'proxyless'])}")
    _check_options(name, classes[name], options)
    if name == "auto":  # auto builds the strategy it picks through this registry
        options = {**options, "factory": make_strategy}
        if kept_defaults:
            options["inner_options"] = kept_defaults
    elif kept_defaults:
        _check_options(name, classes[name], kept_defaults)
        options = {**kept_defaults, **options}
    try:
        return classes[name](problem, seed, **options)
    except TypeError as exc:
        raise SearchError(f"strategy {name}: {exc}", "check the strategy options") from None
