"""Every strategy passes the shipped conformance suite; plus strategy-specific checks."""

import json

import numpy as np
import pytest

from hwnas.pareto import crowding_distance
from hwnas.search import Observation, Problem, SearchError, make_strategy, strategy_names
from hwnas.search.encodings import all_rows
from hwnas.search.rl import SOFT_W
from hwnas.testing.strategy_conformance import StrategyConformance, ToyEvaluator, drive, toy_space


class TestRandom(StrategyConformance):
    strategy = "random"
    toy_evals = 300


class TestEvolution(StrategyConformance):
    strategy = "evolution"
    options = {"population": 10, "sample_size": 3}


class TestNSGA2(StrategyConformance):
    strategy = "nsga2"
    options = {"population": 10}


@pytest.mark.integration
class TestRL(StrategyConformance):
    strategy = "rl"
    options = {"batch_size": 5, "reward": "hard"}
    toy_evals = 200


class TestPredictor(StrategyConformance):
    strategy = "predictor"
    options = {"initial": 10}


@pytest.mark.integration
class TestPredictorInnerSearch(StrategyConformance):
    """The non-additive path: a forest surrogate searched by the inner NSGA-II."""

    strategy = "predictor"
    options = {"initial": 10, "surrogate": "forest", "population": 24, "generations": 8}


class TestLocal(StrategyConformance):
    strategy = "local"
    options = {"initial": 10}


class TestStructured(StrategyConformance):
    strategy = "structured"
    options = {"initial": 10}


class TestAuto(StrategyConformance):
    strategy = "auto"
    options = {"max_evals": 60, "quiet": True}


def test_registry_lists_all_and_rejects_unknown():
    assert set(strategy_names()) == {"random", "evolution", "nsga2", "rl", "predictor", "local",
                                     "structured", "auto"}
    with pytest.raises(SearchError, match="unknown strategy 'bogus'"):
        make_strategy("bogus", Problem(toy_space()))


def test_nsga2_front_approaches_true_front():
    from hwnas.pareto import hypervolume, pareto_front

    ev = ToyEvaluator(toy_space())
    problem = Problem(ev.space, ("accuracy", "latency_ms"), None, ev.cost_model())
    _, pts = ev.all_points()
    senses = ["max", "min"]
    true = pts[pareto_front(pts, senses)]
    ref = [pts[:, 0].min(), pts[:, 1].max()]
    ratios = {}
    for name in ("random", "nsga2"):
        s = make_strategy(name, problem, 0, **({"population": 16} if name == "nsga2" else {}))
        drive(s, ev, 160)
        found = problem.points(s.history)
        ratios[name] = hypervolume(found, senses, ref) / hypervolume(true, senses, ref)
    assert ratios["nsga2"] >= 0.97
    assert ratios["nsga2"] > ratios["random"] - 0.01


def test_crowding_distance_boundaries_infinite():
    d = crowding_distance(np.array([[0.0, 3.0], [1.0, 2.0], [2.0, 0.0]]))
    assert np.isinf(d[0]) and np.isinf(d[2]) and d[1] == pytest.approx(2.0)


def test_rl_reward_soft_and_hard():
    space = toy_space()
    arch = space.sample(np.random.default_rng(0))
    soft = make_strategy("rl", Problem(space, budget_ms=2.0), reward="soft")
    hard = make_strategy("rl", Problem(space, budget_ms=2.0), reward="hard")
    over, under = Observation(arch, 0.8, 4.0), Observation(arch, 0.8, 1.0)
    assert soft.reward(over) == pytest.approx(0.8 * 2.0 ** SOFT_W)
    assert soft.reward(under) == pytest.approx(0.8 * 0.5 ** SOFT_W)
    assert hard.reward(under) == pytest.approx(0.8)
    assert hard.reward(over) == pytest.approx(0.8 / 2.0)


@pytest.mark.integration
def test_rl_controller_learns_toward_reward():
    ev = ToyEvaluator(toy_space())
    s = make_strategy("rl", Problem(ev.space, budget_ms=2.0), 0, reward="hard", lr=0.1)
    drive(s, ev, 150)
    early = np.mean([s.reward(o) for o in s.history[:30]])
    late = np.mean([s.reward(o) for o in s.history[-30:]])
    assert late > early


def test_rl_with_a_collapsed_policy_still_asks_new_archs():
    # every head certain of choice 0: all 20 samples of an ask are the one arch already asked;
    # the ask must move to an unasked neighbour, not re-ask it (a re-ask evaluates nothing)
    import torch

    ev = ToyEvaluator(toy_space())
    s = make_strategy("rl", Problem(ev.space, budget_ms=100.0), 0, lr=1e-9)
    with torch.no_grad():
        for head in s.controller.heads:
            head.weight.zero_()
            head.bias.copy_(torch.tensor([50.0] + [0.0] * (head.bias.numel() - 1)))
    asked = drive(s, ev, 12)
    assert len(set(asked)) == 12
    first = s.space.parse(asked[0])
    assert all(sum(a != b for a, b in zip(s.space.parse(x).choices, first.choices)) == 1
               for x in asked[1:])  # one edit from what the policy prefers


def test_evolution_rejects_bad_sample_size():
    with pytest.raises(SearchError, match="sample size"):
        make_strategy("evolution", Problem(toy_space()), population=5, sample_size=9)


def test_evolution_removes_oldest_not_worst():
    ev = ToyEvaluator(toy_space())
    s = make_strategy("evolution", Problem(ev.space), 0, population=5, sample_size=2)
    drive(s, ev, 12)
    assert [o.arch for o in s.population] == [o.arch for o in s.history[-5:]]


def test_unreachable_budget_does_not_loop_forever():
    ev = ToyEvaluator(toy_space())
    s = make_strategy("evolution", Problem(ev.space, budget_ms=0.01, cost=ev.cost_model()), 0,
                      population=4, sample_size=2)
    asked = drive(s, ev, 40)  # every proposal is over budget; bounded re-sampling returns anyway
    assert len(set(asked)) == 40  # the fallback prefers an arch not asked before ...
    lats = [ev.values(s.space.parse(a))[1] for a in asked]
    _, pts = ev.all_points()
    assert max(lats) < pts[:, 1].mean()  # ... and the predicted-fastest of its tries
    assert json.loads(json.dumps(s.state_dict(), allow_nan=False))["asked"] == 40


def test_predictor_proposes_better_than_random_under_budget():
    ev = ToyEvaluator(toy_space(), seed=3)
    problem = Problem(ev.space, budget_ms=2.0, cost=ev.cost_model())
    _, best = ev.optimum(2.0)
    found = {}
    for name in ("random", "predictor"):
        s = make_strategy(name, problem, 1)
        drive(s, ev, 40)
        found[name] = max(o.accuracy for o in s.history if o.latency_ms <= 2.0)
    assert found["predictor"] >= found["random"]
    assert found["predictor"] >= best - 0.02


def test_rl_without_budget_spreads_targets_over_observed_latency():
    space = toy_space()
    ev = ToyEvaluator(space)
    s = make_strategy("rl", Problem(space, cost=ev.cost_model()), 0, targets=4)
    assert s.levels == 4 and s.reward_kind == "hard"
    drive(s, ev, 20)
    lats = [o.latency_ms for o in s.history]
    assert s._target_ms(0) == pytest.approx(min(lats))
    assert s._target_ms(3) == pytest.approx(max(lats))
    assert min(lats) < s._target_ms(1) < s._target_ms(2) < max(lats)
    arch = s.history[0].arch
    slow = Observation(arch, 0.5, s._target_ms(0) * 2)
    assert s.reward(slow, 0) == pytest.approx(0.25)  # hard: w = -1 over the level's target


def test_evolution_without_budget_spreads_along_the_front():
    space = toy_space()
    ev = ToyEvaluator(space, seed=4)
    problem = Problem(space, cost=ev.cost_model())
    evo = make_strategy("evolution", problem, 0, population=20, sample_size=10)
    drive(evo, ev, 100)
    lats = np.array([o.latency_ms for o in evo.history])
    _, pts = ev.all_points()
    # the fastest and the slowest ends of the space are both reached
    assert lats.min() <= np.quantile(pts[:, 1], 0.02) and lats.max() >= np.quantile(pts[:, 1], 0.9)


def test_single_rl_level_means_no_latency_pressure():
    ev = ToyEvaluator(toy_space())
    s = make_strategy("rl", Problem(ev.space, cost=ev.cost_model()), 0, targets=1)
    drive(s, ev, 10)
    assert s._target_ms(0) == pytest.approx(max(o.latency_ms for o in s.history))


def test_state_from_another_version_is_a_clear_error():
    ev = ToyEvaluator(toy_space())
    s = make_strategy("rl", Problem(ev.space), 0)
    drive(s, ev, 6)
    state = s.state_dict()
    del state["extra"]["ask_targets_ms"]
    with pytest.raises(SearchError, match="another hwnas version"):
        make_strategy("rl", Problem(ev.space), 0).load_state_dict(state)


def test_out_of_range_level_options_are_refused():
    with pytest.raises(SearchError, match="level share"):
        make_strategy("evolution", Problem(toy_space()), level_share=1.5)
    with pytest.raises(SearchError, match="at least 1 latency target"):
        make_strategy("rl", Problem(toy_space()), targets=0)


def test_local_search_asks_neighbours_of_the_pareto_archive():
    from hwnas.pareto import pareto_front

    ev = ToyEvaluator(toy_space())
    problem = Problem(ev.space, ("accuracy", "latency_ms"), None, ev.cost_model())
    s = make_strategy("local", problem, 0, initial=8)
    drive(s, ev, 8)
    for _ in range(20):
        archive = [s.history[int(i)].arch for i in pareto_front(problem.points(s.history),
                                                                problem.senses)]
        arch = s.ask()
        if s.queue or s.centre is not None:
            centre = s.space.parse(s.centre)
            assert centre in archive  # the centre is on the current front ...
            diff = sum(a != b for a, b in zip(arch.choices, centre.choices))
            assert diff == 1  # ... and the ask is one edit away from it
        s.tell(Observation(arch, *ev.values(arch)))


def test_structured_uses_the_known_latency_and_beats_random_on_a_front():
    from hwnas.pareto import hypervolume, pareto_front

    ev = ToyEvaluator(toy_space(), seed=5)
    problem = Problem(ev.space, ("accuracy", "latency_ms"), None, ev.cost_model())
    _, pts = ev.all_points()
    ref = [pts[:, 0].min(), pts[:, 1].max()]
    true = hypervolume(pts[pareto_front(pts, ["max", "min"])], ["max", "min"], ref)
    ratio = {}
    for name in ("random", "structured"):  # median of 5 seeds: one seed can be unlucky
        runs = []
        for seed in range(5):
            s = make_strategy(name, problem, seed)
            drive(s, ev, 50)
            runs.append(hypervolume(problem.points(s.history), ["max", "min"], ref) / true)
        ratio[name] = float(np.median(runs))
    assert ratio["structured"] >= 0.98
    assert ratio["structured"] > ratio["random"]


def test_structured_switches_to_its_late_model_at_local_after():
    ev = ToyEvaluator(toy_space(), seed=5)
    problem = Problem(ev.space, ("accuracy", "latency_ms"), None, ev.cost_model())
    runs = {}
    for late in (None, "extra-trees"):
        s = make_strategy("structured", problem, 1, local_after=15, late_model=late, trees=20)
        runs[late] = drive(s, ev, 30)
        assert s._model_now() == (late or "ridge")
    # the same asks while the ridge decides, different ones once the trees do
    assert runs[None][:15] == runs["extra-trees"][:15]
    assert runs[None][15:] != runs["extra-trees"][15:]


def test_structured_fits_pair_features_for_the_ridge_and_not_for_its_trees(monkeypatch):
    import hwnas.search.structured as structured
    from hwnas.space import get_space

    widths = []

    class Recording(structured.Surrogate):
        def fit(self, x, y):
            widths.append((self.kind, x.shape[1]))
            return super().fit(x, y)

    monkeypatch.setattr(structured, "Surrogate", Recording)
    ev = ToyEvaluator(get_space("nb201"), seed=5)
    problem = Problem(ev.space, ("accuracy", "latency_ms"), None, ev.cost_model())
    s = make_strategy("structured", problem, 1, local_after=8, encoding="path+summary+pairs", trees=5)
    drive(s, ev, 12)  # fits at 6 (the ridge) and 11 (the trees)
    base = 130 + 25  # one-hot, paths, summary
    assert ("ridge", base + 15 * 25) in widths and ("extra-trees", base) in widths
    assert {w for k, w in widths if k == "extra-trees"} == {base}


def test_structured_asks_within_one_edit_of_the_front_after_local_after():
    from hwnas.pareto import pareto_front
    from hwnas.search.encodings import neighbours

    ev = ToyEvaluator(toy_space(), seed=5)
    problem = Problem(ev.space, ("accuracy", "latency_ms"), None, ev.cost_model())
    s = make_strategy("structured", problem, 1, local_after=12)
    drive(s, ev, 12)
    inside = 0
    for _ in range(25):
        front = [s.space.indices(s.history[int(i)].arch)
                 for i in pareto_front(problem.points(s.history), problem.senses)]
        region = {n for row in front for n in neighbours(s.space, row)} | set(front)
        arch = s.ask()
        open_region = {r for r in region if str(s.space.arch_from_indices(r)) not in s.proposed[:-1]}
        if open_region:  # the trust region still has unasked archs: the ask is one of them
            assert s.space.indices(arch) in open_region
            inside += 1
        s.tell(Observation(arch, *ev.values(arch)))
    assert inside >= 10  # the check above ran, not only the fallback


def test_structured_takes_every_second_ask_from_the_trust_region_with_local_share():
    from hwnas.pareto import pareto_front
    from hwnas.search.encodings import neighbours
    from hwnas.space import get_space

    # NB201's 15,625 archs: a whole-space ask falls in the front's one-edit region less often
    # than on the 400-arch toy space, where it nearly always does
    ev = ToyEvaluator(get_space("nb201"), seed=5)
    problem = Problem(ev.space, ("accuracy", "latency_ms"), None, ev.cost_model())
    s = make_strategy("structured", problem, 1, local_after=None, local_share=0.5)
    drive(s, ev, 6)
    inside = {True: 0, False: 0}
    for _ in range(20):
        front = [s.space.indices(s.history[int(i)].arch)
                 for i in pareto_front(problem.points(s.history), problem.senses)]
        region = {n for row in front for n in neighbours(s.space, row)} | set(front)
        turn = len(s.proposed) % 2 == 1  # 0-based asks 7, 9, 11, ...
        arch = s.ask()
        inside[turn] += s.space.indices(arch) in region
        s.tell(Observation(arch, *ev.values(arch)))
    # the region is far from all asked, so every turn asks inside it (without the share, 6 of
    # those 10 asks happen to)
    assert inside[True] == 10


def test_structured_refuses_bad_options():
    with pytest.raises(SearchError, match="local_after=-1"):
        make_strategy("structured", Problem(toy_space()), local_after=-1)
    with pytest.raises(SearchError, match="radius=0"):
        make_strategy("structured", Problem(toy_space()), radius=0)
    with pytest.raises(SearchError, match="local_share=1.5"):
        make_strategy("structured", Problem(toy_space()), local_share=1.5)
    with pytest.raises(SearchError, match="encoding='onehot'"):
        make_strategy("structured", Problem(toy_space()), encoding="onehot")
    with pytest.raises(SearchError, match="balance=-1"):
        make_strategy("structured", Problem(toy_space()), balance=-1)
    with pytest.raises(SearchError, match="model='svm'"):
        make_strategy("structured", Problem(toy_space()), model="svm")
    with pytest.raises(SearchError, match="trees=0"):
        make_strategy("structured", Problem(toy_space()), trees=0)
    with pytest.raises(SearchError, match="late_model='svm'"):
        make_strategy("structured", Problem(toy_space()), late_model="svm")


def test_structured_first_asks_cover_every_latency_stratum():
    ev = ToyEvaluator(toy_space(), seed=5)
    cost = ev.cost_model()
    problem = Problem(ev.space, ("accuracy", "latency_ms"), None, cost)
    prices = np.sort(cost.price_rows(all_rows(ev.space)))
    s = make_strategy("structured", problem, 4, initial=8)
    first = [cost.price(s.ask()) for _ in range(8)]
    for k, price in enumerate(first):  # ask k lies in price octile k (fastest first)
        lo, hi = len(prices) * k // 8, len(prices) * (k + 1) // 8
        assert prices[lo] <= price <= prices[hi - 1]
    uniform = make_strategy("structured", problem, 4, initial=8, design="random")
    assert [cost.price(uniform.ask()) for _ in range(8)] != first


def test_structured_resumed_inside_its_stratified_starts_asks_the_same():
    ev = ToyEvaluator(toy_space(), seed=5)
    problem = Problem(ev.space, ("accuracy", "latency_ms"), None, ev.cost_model())
    full = drive(make_strategy("structured", problem, 2), ev, 20)
    first = make_strategy("structured", problem, 2)
    head = drive(first, ev, 3)  # 3 of the 6 strata asked
    second = make_strategy("structured", problem, 9)
    second.load_state_dict(json.loads(json.dumps(first.state_dict())))
    assert head + drive(second, ev, 17) == full


def test_structured_design_stays_within_the_budget():
    ev = ToyEvaluator(toy_space(), seed=5)
    cost = ev.cost_model()
    budget = float(np.quantile(cost.price_rows(all_rows(ev.space)), 0.3))
    s = make_strategy("structured", Problem(ev.space, ("accuracy", "latency_ms"), budget, cost), 0)
    assert all(cost.price(s.ask()) <= budget for _ in range(10))


def test_structured_refuses_an_unknown_design():
    with pytest.raises(SearchError, match="design='grid'"):
        make_strategy("structured", Problem(toy_space()), design="grid")


def test_auto_asks_exactly_what_its_pick_asks():
    """The strategies benchmark reuses the picked strategy's run as auto's: this is why it may."""
    from hwnas.search.auto import pick

    ev = ToyEvaluator(toy_space(), seed=5)
    problem = Problem(ev.space, ("accuracy", "latency_ms"), None, ev.cost_model())
    name, options = pick(40)
    auto = make_strategy("auto", problem, 3, max_evals=40, quiet=True)
    picked = make_strategy(name, problem, 3, **options)
    drive(auto, ev, 40)
    drive(picked, ev, 40)
    assert auto.proposed == picked.proposed


def test_auto_picks_by_budget_and_says_so(capsys):
    from hwnas.search.auto import RULES, pick

    problem = Problem(toy_space())
    finite = [int(u) for u, _, _ in RULES if u != float("inf")]
    for upto, name, _ in RULES:  # each rule's own largest budget; past the last finite one
        budget = int(upto) if upto != float("inf") else max(finite, default=30) + 100
        s = make_strategy("auto", problem, 0, max_evals=budget)
        assert s.picked == name == pick(budget)[0]
        assert f"auto: picked {name}" in capsys.readouterr().err
        assert s.state_dict()["extra"]["picked"] == name
    with pytest.raises(SearchError, match="auto needs the evaluation budget"):
        make_strategy("auto", problem, 0, max_evals=0)


@pytest.mark.integration  # a whole search over a 15,625-row table
def test_auto_records_its_pick_in_the_run_config(tmp_path, capsys):
    import itertools

    from hwnas.search.blackbox import BlackboxConfig, run_blackbox
    from hwnas.space import get_space

    space, rng = get_space("nb201"), np.random.default_rng(0)
    gain, cost = rng.uniform(0, 3, (6, 5)), rng.uniform(0.1, 1.0, (6, 5))
    lines = ["arch,accuracy,latency_ms", *(
        f"{space.arch_from_indices(i)},{50 + gain[range(6), i].sum():.3f},"
        f"{1 + cost[range(6), i].sum():.4f}" for i in itertools.product(range(5), repeat=6))]
    csv = tmp_path / "nb201.csv"
    csv.write_text("\n".join(lines) + "\n")
    res = run_blackbox(BlackboxConfig("auto", f"table:{csv}", "nb201", None, None, 30,
                                      str(tmp_path / "run")), progress=False)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["strategy"] == "auto"
    assert config["options"]["picked"] == "structured"
    assert config["options"]["picked_options"] == {"initial": 6}
    assert res.evaluations == 30
    assert "auto: picked structured" in capsys.readouterr().err


def test_cli_strategy_help_comes_from_the_registry():
    from hwnas.cli.search_cmd import STRATEGIES

    assert set(strategy_names()) | {"proxyless"} == set(STRATEGIES)


@pytest.mark.parametrize("balance", [0, 4])
def test_structured_with_balance_cycles_its_asks_through_the_latency_strata(balance):
    from hwnas.space import get_space

    ev = ToyEvaluator(get_space("nb201"), seed=5)
    problem = Problem(ev.space, ("accuracy", "latency_ms"), None, ev.cost_model())
    price = problem.cost.price_rows(all_rows(ev.space))
    edges = np.quantile(price, np.linspace(0, 1, 5))
    s = make_strategy("structured", problem, 1, local_after=None, balance=balance)
    drive(s, ev, 6)
    on_turn = 0
    for _ in range(16):
        turn = len(s.proposed) % 4
        arch = s.ask()
        stratum = min(int(np.searchsorted(edges, problem.cost.price(arch), side="right")) - 1, 3)
        on_turn += stratum == turn
        s.tell(Observation(arch, *ev.values(arch)))
    if balance:  # every ask from its turn's quarter of the latency range (a gain is always there)
        assert on_turn == 16
    else:  # the largest gain alone goes where it is, whatever the turn
        assert on_turn < 12


def test_recorded_defaults_are_those_not_given_and_auto_records_its_picks():
    from hwnas.search.auto import pick
    from hwnas.search.strategies import defaults_in_force, resumed_defaults

    problem = Problem(toy_space())
    structured = make_strategy("structured", problem, 0, kappa=1.0)
    began = defaults_in_force(structured, {"kappa": 1.0})
    assert "kappa" not in began and began["balance"] == 12 and began["late_model"] == "extra-trees"
    picked, rule = pick(100)
    auto = make_strategy("auto", problem, 0, max_evals=100, quiet=True)
    assert set(defaults_in_force(auto, {"max_evals": 100})) == \
        set(defaults_in_force(make_strategy(picked, problem, 0), {})) - set(rule)
    assert resumed_defaults(structured, began, began) == {}
    assert resumed_defaults(structured, began, {**began, "balance": 3}) == {"balance": 3}
    with pytest.raises(SearchError, match="no longer has"):
        resumed_defaults(structured, began, {"knob": 1})
    # auto hands a resumed run's defaults to the strategy it picks, and records only its rule's
    kept = make_strategy("auto", problem, 0, max_evals=100, quiet=True, kept_defaults={"balance": 3})
    assert kept.inner.balance == 3 and kept.picked_options == rule
    assert make_strategy("structured", problem, 0, kept_defaults={"balance": 3}).balance == 3
    # not a user option: --option inner_options is an unknown key
    with pytest.raises(SearchError, match="has no option 'inner_options'"):
        make_strategy("auto", problem, 0, quiet=True, inner_options={"balance": 3})
