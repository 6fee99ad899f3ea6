"""``hwnas search`` end to end on a tabular problem: run folder, resume, one-line errors."""

import itertools
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hwnas.cli import app
from hwnas.io import read_jsonl
from hwnas.space import get_space

pytestmark = pytest.mark.integration  # searches end to end through the CLI

runner = CliRunner()


@pytest.fixture(scope="module")
def nb201_csv(tmp_path_factory):
    """A full synthetic NB201 table (15,625 rows): accuracy in percent, latency in ms."""
    space = get_space("nb201")
    rng = np.random.default_rng(0)
    gain, cost = rng.uniform(0, 3, (6, 5)), rng.uniform(0.1, 1.0, (6, 5))
    lines = ["arch,acc,latency_ms"]
    for idx in itertools.product(range(5), repeat=6):
        arch = space.arch_from_indices(idx)
        acc = 50 + sum(gain[p, j] for p, j in enumerate(idx))
        lat = 1 + sum(cost[p, j] for p, j in enumerate(idx))
        lines.append(f"{arch},{acc:.3f},{lat:.4f}")
    path = tmp_path_factory.mktemp("tab") / "nb201.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def search(args):
    return runner.invoke(app, ["search", *args])


def base_args(csv, out, strategy="evolution", evals=30):
    return ["--strategy", strategy, "--evaluator", f"table:{csv}", "--space", "nb201",
            "--arch-column", "arch", "--accuracy-column", "acc", "--latency-column", "latency_ms",
            "--max-evals", str(evals), "--population", "10", "--out", str(out), "--json"]


@pytest.mark.parametrize("strategy", ["evolution", *[pytest.param(s, marks=pytest.mark.slow) for s in
                                                   ("nsga2", "random", "predictor", "rl")]])
def test_search_writes_run_folder(nb201_csv, tmp_path, strategy):
    out = tmp_path / "run"
    res = search([*base_args(nb201_csv, out, strategy), "--budget-ms", "4.0"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    cands = read_jsonl(out / "candidates.jsonl")
    assert len(cands) == 30 == data["evaluations"]
    fields = {"index", "arch", "accuracy", "latency_ms", "params", "macs", "wall_s", "strategy"}
    assert fields <= set(cands[0])
    result = json.loads((out / "result.json").read_text())
    assert result["best"]["latency_ms"] <= 4.0
    assert result["best"]["accuracy"] == max(c["accuracy"] for c in cands if c["latency_ms"] <= 4.0)
    assert result["pareto"] and all(0 <= c["accuracy"] <= 1 for c in result["pareto"])
    assert json.loads((out / "config.json").read_text())["strategy"] == strategy


def test_resume_gives_the_uninterrupted_result(nb201_csv, tmp_path):
    from hwnas.runs import RunFolder
    from hwnas.search import Problem, make_strategy
    from hwnas.search.runner import run_search

    full = search(base_args(nb201_csv, tmp_path / "full", "nsga2", 30))
    assert full.exit_code == 0, full.output
    # interrupt a run after 17 candidates, tear its state back one batch, then resume by CLI
    from hwnas.search.blackbox import make_evaluator

    space = get_space("nb201")
    ev = make_evaluator(f"table:{nb201_csv}", space, None, "digits", 1, 0, "arch", "acc",
                        "latency_ms", None)
    ev.prepare()
    strat = make_strategy("nsga2", Problem(space, cost=ev.cost_model()), 0, population=10)
    run = RunFolder(tmp_path / "part")
    config = json.loads((tmp_path / "full" / "config.json").read_text())
    run.create(config, resume=False)
    run_search(strat, ev, 30, run=run, stop_after=17)
    assert len(run.candidates()) == 17
    resumed = search([*base_args(nb201_csv, tmp_path / "part", "nsga2", 30), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    a = [c["arch"] for c in read_jsonl(tmp_path / "full" / "candidates.jsonl")]
    b = [c["arch"] for c in read_jsonl(tmp_path / "part" / "candidates.jsonl")]
    assert a == b
    assert [p["arch"] for p in json.loads(resumed.stdout)["pareto"]] == \
        [p["arch"] for p in json.loads(full.stdout)["pareto"]]


def test_existing_run_needs_resume(nb201_csv, tmp_path):
    assert search(base_args(nb201_csv, tmp_path / "r", "random", 10)).exit_code == 0
    res = search(base_args(nb201_csv, tmp_path / "r", "random", 10))
    assert res.exit_code == 2 and "--resume" in res.stderr


def one_line_error(res, *patterns):
    assert res.exit_code == 2, res.output
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert all(p in res.stderr for p in patterns), res.stderr


def test_error_missing_column(nb201_csv, tmp_path):
    args = base_args(nb201_csv, tmp_path / "r")
    args[args.index("acc")] = "top1"
    one_line_error(search(args), "no column 'top1'")
    assert not (tmp_path / "r").exists()


def test_error_arch_not_in_space_with_line(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("arch,acc,latency_ms\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,50,1\n"
                   "|conv_7x7~0|+|none~0|none~1|+|none~0|none~1|none~2|,60,2\n")
    one_line_error(search(base_args(csv, tmp_path / "r")), "line 3")


def test_error_max_evals_below_population(nb201_csv, tmp_path):
    one_line_error(search(base_args(nb201_csv, tmp_path / "r", "evolution", 5)),
                   "below the evolution population")


def test_error_unknown_strategy_and_evaluator(nb201_csv, tmp_path):
    one_line_error(search(base_args(nb201_csv, tmp_path / "r", "annealing")), "unknown strategy")
    args = base_args(nb201_csv, tmp_path / "r")
    args[args.index(f"table:{nb201_csv}")] = "bogus"
    one_line_error(search(args), "unknown evaluator 'bogus'")


def test_error_ray_address_not_answering(nb201_csv, tmp_path):
    res = search([*base_args(nb201_csv, tmp_path / "r"), "--executor", "ray",
                  "--ray-address", "127.0.0.1:9"])
    one_line_error(res, "no Ray cluster answers at 127.0.0.1:9")
    assert not (tmp_path / "r").exists()


def test_error_unknown_surrogate_before_anything_is_written(nb201_csv, tmp_path):
    res = search([*base_args(nb201_csv, tmp_path / "r", "predictor"), "--surrogate", "gp"])
    one_line_error(res, "unknown surrogate 'gp'")
    assert not (tmp_path / "r").exists()


def test_structured_takes_its_surrogate_from_the_cli_and_refuses_one_it_lacks(nb201_csv, tmp_path):
    out = tmp_path / "trees"
    res = search([*base_args(nb201_csv, out, "structured", 12), "--surrogate", "extra-trees"])
    assert res.exit_code == 0, res.output
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["model"] == "extra-trees"
    bad = search([*base_args(nb201_csv, tmp_path / "bad", "structured", 12),
                  "--surrogate", "ridge-pairs"])
    assert bad.exit_code == 2
    assert "model='ridge-pairs'" in bad.output and "--surrogate" in bad.output
    assert "Traceback" not in bad.output and not (tmp_path / "bad" / "candidates.jsonl").exists()


def test_option_sets_a_strategys_own_options_and_is_recorded(nb201_csv, tmp_path):
    out = tmp_path / "opt"
    args = [*base_args(nb201_csv, out, "structured", 12), "--option", "kappa=1",
            "--option", "balance=0", "--option", "late_model=null"]
    res = search(args)
    assert res.exit_code == 0, res.output
    options = json.loads((out / "config.json").read_text())["options"]
    assert options == {"kappa": 1, "balance": 0, "late_model": None}
    # the options reach the strategy: another kappa asks otherwise
    other = tmp_path / "other"
    assert search([*base_args(nb201_csv, other, "structured", 12), "--option", "kappa=0",
                   "--option", "balance=0"]).exit_code == 0
    archs = [[c["arch"] for c in read_jsonl(d / "candidates.jsonl")] for d in (out, other)]
    assert archs[0][:6] == archs[1][:6] and archs[0] != archs[1]  # same starts, then the model
    # a resume must pass the same options
    changed = search([*args[:-2], "--resume"])
    assert changed.exit_code == 2 and "Traceback" not in changed.output
    assert "differs in options" in changed.stderr
    same = search([*args, "--resume"])  # the recorded options round-trip
    assert same.exit_code == 0, same.output


@pytest.mark.parametrize("option, needles", [
    ("kapa=1", ("strategy structured has no option 'kapa'", "its options: initial")),
    ("kappa", ("--option 'kappa' is not KEY=VALUE",)),
    ("encoding=dense", ("encoding='dense'", "out of range")),
    ("balance=2.5", ("option balance takes a whole number, got 2.5", "balance=12")),
    ("kappa=Infinity", ("option kappa takes a finite number",)),
])
def test_a_bad_option_is_one_line_before_anything_is_written(nb201_csv, tmp_path, option, needles):
    res = search([*base_args(nb201_csv, tmp_path / "r", "structured", 12), "--option", option])
    one_line_error(res, *needles)
    assert not (tmp_path / "r").exists()


def test_an_option_given_twice_or_to_proxyless_is_refused(nb201_csv, tmp_path):
    twice = search([*base_args(nb201_csv, tmp_path / "r", "structured", 12),
                    "--option", "kappa=1", "--option", "kappa=2"])
    one_line_error(twice, "--option kappa given more than once")
    proxyless = search(["--strategy", "proxyless", "--space", "mbconv-small", "--lut",
                        "cpu-1t/onnxruntime-mbconv-small", "--budget-ms", "1", "--option", "kappa=1",
                        "--out", str(tmp_path / "p")])
    one_line_error(proxyless, "--option sets a black-box strategy's options")
    assert not (tmp_path / "r").exists() and not (tmp_path / "p").exists()


def test_a_resumed_run_keeps_the_defaults_it_began_with(nb201_csv, tmp_path):
    """An upgrade that changes a strategy default must not change a run half way: the run's
    config records the defaults in force, and a resume passes on those that differ today."""
    from hwnas.runs import RunFolder
    from hwnas.search import Problem, make_strategy
    from hwnas.search.blackbox import make_evaluator
    from hwnas.search.runner import run_search

    began_with = search([*base_args(nb201_csv, tmp_path / "k0", "structured", 14),
                         "--option", "kappa=0"])
    assert began_with.exit_code == 0, began_with.output
    today = search(base_args(nb201_csv, tmp_path / "today", "structured", 14))
    assert today.exit_code == 0, today.output
    config = json.loads((tmp_path / "today" / "config.json").read_text())
    assert config["strategy_defaults"]["kappa"] == 0.5 and config["strategy_defaults"]["balance"] == 12
    assert "kappa" not in json.loads((tmp_path / "k0" / "config.json").read_text())["strategy_defaults"]

    def interrupted(name: str, began: dict | None, strategy: str = "structured"):
        """A run whose config says it began under ``began``, stopped after 8 evaluations."""
        space = get_space("nb201")
        ev = make_evaluator(f"table:{nb201_csv}", space, None, "digits", 1, 0, "arch", "acc",
                            "latency_ms", None)
        ev.prepare()
        saved = {k: v for k, v in config.items() if k != "strategy_defaults"}
        if began is not None:
            saved["strategy_defaults"] = began
        kappa = 0.0 if began and began.get("kappa") == 0.0 else 0.5
        problem = Problem(space, cost=ev.cost_model())
        if strategy == "auto":
            strat = make_strategy("auto", problem, 0, max_evals=14, quiet=True,
                                  kept_defaults={"kappa": kappa})
            saved.update(strategy="auto", options={"max_evals": 14, "picked": strat.picked,
                                                   "picked_options": strat.picked_options})
        else:
            strat = make_strategy("structured", problem, 0, kappa=kappa)
        run = RunFolder(tmp_path / name)
        run.create(saved, resume=False)
        run_search(strat, ev, 14, run=run, stop_after=8)
        return [*base_args(nb201_csv, tmp_path / name, strategy, 14), "--resume"]

    def archs(name: str) -> list[str]:
        return [c["arch"] for c in read_jsonl(tmp_path / name / "candidates.jsonl")]

    resumed = search(interrupted("old", {**config["strategy_defaults"], "kappa": 0.0}))
    assert resumed.exit_code == 0, resumed.output
    assert "resuming with the defaults this run began with: kappa=0.0 (today 0.5)" in resumed.stderr
    assert archs("old") == archs("k0") != archs("today")
    # a run written before defaults were recorded resumes under today's, and says so
    unrecorded = search(interrupted("unrecorded", None))
    assert unrecorded.exit_code == 0 and "did not record its strategy's defaults" in unrecorded.stderr
    assert archs("unrecorded") == archs("today")
    # a default that no longer exists cannot be kept: one line, nothing lost
    gone = search(interrupted("gone", {**config["strategy_defaults"], "old_knob": 3}))
    one_line_error(gone, "option(s) old_knob, which this hwnas no longer has")
    assert len(archs("gone")) == 8
    # a resume refused for another reason says only that reason (no note before it)
    other = search([*base_args(nb201_csv, tmp_path / "unrecorded", "nsga2", 14), "--resume"])
    one_line_error(other, "the config differs in", "strategy")
    assert "note:" not in other.stderr and "no longer has" not in other.stderr
    # auto keeps the defaults of the strategy it picked (structured with 6 starts)
    auto = interrupted("auto", {**config["strategy_defaults"], "kappa": 0.0}, "auto")
    resumed = search(auto)
    assert resumed.exit_code == 0, resumed.output
    assert "kappa=0.0 (today 0.5)" in resumed.stderr and archs("auto") == archs("k0")


def test_auto_refuses_a_bad_budget_option_in_one_line(nb201_csv, tmp_path):
    res = search([*base_args(nb201_csv, tmp_path / "r", "auto", 12), "--option", "max_evals=abc"])
    one_line_error(res, "option max_evals takes a whole number")
    assert not (tmp_path / "r").exists()
