"""Search names -> the library call that runs them (strategy classes: ``strategies.py``).

Every search (the black-box strategies and the gradient ``proxyless`` search) is run the same
way: ``run(SearchRequest(...))`` builds that search's frozen config from the request, writes the
run folder and returns a :class:`hwnas.runs.RunResult`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from hwnas.runs import RunResult
from hwnas.search.base import SearchError, check_budget
from hwnas.search.strategies import strategy_names


@dataclass(frozen=True)
class SearchRequest:
    """What ``hwnas search`` was asked for; each search takes the fields it uses.

    ``epochs`` None is the search's own default (10 for ``proxyless``; the evaluator's for
    ``oneshot`` (6 supernet epochs) and ``scratch`` (5 epochs)).
    """

    strategy: str
    space: str
    out: str
    evaluator: str = "oneshot"
    lut: str | None = None
    budget_ms: float | None = None
    max_evals: int = 100
    executor: str = "local"
    ray_address: str | None = None
    workers: int = 1
    resume: bool = False
    seed: int = 0
    objectives: str = "accuracy,latency_ms"
    population: int = 20
    sample_size: int = 5
    reward: str = "soft"
    surrogate: str = "ridge"
    arch_column: str = "arch"
    accuracy_column: str = "accuracy"
    latency_column: str | None = "latency_ms"
    energy_column: str | None = None
    loss: str = "budget"
    relaxation: str = "binary"
    data: str = "digits"
    epochs: int | None = None
    train_derived: bool = True
    force: bool = False             # start over a run already in ``out``
    threads: int = 0                # torch threads the caller set (recorded in the run config)
    device: str = "cpu"             # where networks train and are scored (cpu | cuda | cuda:N | auto)
    precision: str = "fp32"         # proxyless: fp32 | bf16 | fp16
    nproc: int = 1                  # proxyless: local ranks (torch.distributed)
    accuracy_of: str = "fp32"       # fp32 | int8 (black-box oneshot / scratch evaluators only)
    options: tuple[tuple[str, object], ...] = ()  # --option KEY=VALUE: a black-box strategy's own


def strategy_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` from ``--option``: VALUE as JSON when it parses (``1``, ``0.5``, ``null``,
    ``true``), else as text (``path+summary+pairs``)."""
    import json

    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise SearchError(f"--option {text!r} is not KEY=VALUE",
                          "pass e.g. --option kappa=1 (one option per --option)")
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    if isinstance(parsed, (list, dict)):  # every option is a scalar: pass the text, and let the
        # strategy's check name the option
        parsed = value
    return key.strip(), parsed


def _blackbox(request: SearchRequest, progress: bool) -> RunResult:
    from hwnas.search.blackbox import BlackboxConfig, run_blackbox

    config = BlackboxConfig.from_request(request)
    return run_blackbox(replace(config, force=request.force, threads=request.threads), progress)


def _gradient(request: SearchRequest, progress: bool) -> RunResult:
    from hwnas.search.gradient import GradientSearchConfig, run_gradient_search

    if request.accuracy_of not in ("fp32", "float32"):  # its int8 accuracy: export --quantize int8
        raise SearchError(f"--accuracy-of {request.accuracy_of} scores candidates of a black-box search; "
                          "proxyless trains one derived arch", "drop --accuracy-of, and get the derived "
                          "arch's int8 accuracy with `hwnas export RUN --quantize int8`")
    if request.options:
        raise SearchError("--option sets a black-box strategy's options; proxyless has none",
                          "drop --option (proxyless takes --loss, --relaxation and the training flags)")
    config = GradientSearchConfig.from_request(request)
    return run_gradient_search(replace(config, force=request.force, threads=request.threads), progress,
                               nproc=request.nproc)


def _searches() -> dict[str, Callable[[SearchRequest, bool], RunResult]]:
    return {**{name: _blackbox for name in strategy_names()}, "proxyless": _gradient}


def search_names() -> list[str]:
    return list(_searches())


def run(request: SearchRequest, progress: bool = True) -> RunResult:
    """Run the search ``request.strategy`` names; the run folder is ``request.out``."""
    searches = _searches()
    if request.strategy not in searches:
        raise SearchError(f"unknown strategy {request.strategy!r}",
                          f"choose one of {', '.join(searches)}")
    check_budget(request.budget_ms)  # before any search opens its run folder
    return searches[request.strategy](request, progress)
