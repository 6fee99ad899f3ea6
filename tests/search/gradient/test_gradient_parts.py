"""Pieces of the gradient search: knapsack derivation, expected latency, relaxations' gates."""

import itertools
from dataclasses import replace

import numpy as np
import pytest
import torch

from hwnas.latency.calibration import Calibration
from hwnas.nn.supernet import BinaryGate, MixedOp, Supernet, build_supernet
from hwnas.search.gradient.derive import brute_force, solve_budget
from hwnas.search.gradient.finish import derive_arch
from hwnas.search.gradient.objective import (
    LossConfig,
    check_loss,
    dual_ascent,
    expected_latency,
    search_loss,
)
from hwnas.search.gradient.relax import ArchParams, ArchStep, temperature, weight_gates
from hwnas.testing import synthetic_table, tiny_space


@pytest.mark.parametrize("seed", range(12))
def test_knapsack_matches_brute_force_and_respects_budget(seed):
    rng = np.random.default_rng(seed)
    layers = int(rng.integers(2, 6))
    costs = [rng.uniform(0.1, 2.0, size=int(rng.integers(2, 5))) for _ in range(layers)]
    if seed % 3 == 0:
        costs[0][-1] = 0.0  # a zero op
    scores = [np.log(rng.dirichlet(np.ones(len(c)))) for c in costs]
    fixed = 0.3
    lo = fixed + sum(c.min() for c in costs)
    hi = fixed + sum(c.max() for c in costs)
    budget = lo + rng.uniform(0.05, 0.95) * (hi - lo)
    # the upper-bound problem is solved exactly
    got = solve_budget(costs, scores, fixed, budget)
    want = brute_force(costs, scores, fixed, budget)
    assert got.cost <= budget
    assert got.score == pytest.approx(want.score, abs=1e-12)
    # with the 0.9 T floor: feasible, and optimal whenever the band holds an arch
    banded = solve_budget(costs, scores, fixed, budget, 0.9 * budget)
    exact_cost = fixed + sum(costs[p][j] for p, j in enumerate(banded.indices))
    assert exact_cost <= budget and exact_cost == pytest.approx(banded.cost)
    ref = brute_force(costs, scores, fixed, budget, 0.9 * budget)
    if ref is None:
        assert not banded.in_band
    else:
        assert banded.in_band and exact_cost >= 0.9 * budget
        assert banded.score == pytest.approx(ref.score, abs=1e-9)


def test_knapsack_refuses_budget_below_cheapest():
    with pytest.raises(ValueError):
        solve_budget([np.array([1.0, 2.0])], [np.zeros(2)], 0.5, 1.4)


def test_expected_latency_gradient_matches_finite_difference():
    space = tiny_space()
    cost = synthetic_table(space).cost_model(space)
    arch = ArchParams([len(c) for c in space.choices()])
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        for a in arch.alphas:
            a.copy_(torch.randn(a.shape, generator=g, dtype=a.dtype))
    value = expected_latency(cost, arch.probs())
    value.backward()
    assert value.item() == pytest.approx(
        cost.fixed + sum(float((p.detach() * torch.tensor(c)).sum()) for p, c in
                         zip(arch.probs(), cost.costs)))
    eps = 1e-6
    for pos, j in [(0, 0), (2, 1), (5, len(arch.alphas[5]) - 1)]:
        grad = arch.alphas[pos].grad[j].item()
        assert grad != 0.0
        with torch.no_grad():
            arch.alphas[pos][j] += eps
            up = expected_latency(cost, arch.probs()).item()
            arch.alphas[pos][j] -= 2 * eps
            down = expected_latency(cost, arch.probs()).item()
            arch.alphas[pos][j] += eps
        assert grad == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-12)


def _count_calls(supernet: Supernet):
    calls = {}
    for p, mixed in enumerate(supernet.mixed):
        for j, cand in enumerate(mixed.candidates):
            calls[(p, j)] = 0

            def hook(_m, _i, _o, key=(p, j)):
                calls[key] += 1
            cand.register_forward_hook(hook)
    return calls


def test_binary_weight_step_runs_one_candidate_per_layer_and_arch_step_two():
    space = tiny_space()
    supernet = build_supernet(space)
    arch = ArchParams([len(c) for c in space.choices()])
    calls = _count_calls(supernet)
    gen = torch.Generator().manual_seed(0)
    gates = weight_gates("binary", arch, gen, 1.0)
    assert all(isinstance(g, int) for g in gates)
    supernet(torch.randn(2, 3, 16, 16), gates)
    for p in range(space.num_positions):
        assert sum(calls[(p, j)] for j in range(len(space.choices()[p]))) == 1
    for key in calls:
        calls[key] = 0
    step = ArchStep("binary", arch, gen, 1.0)
    supernet(torch.randn(2, 3, 16, 16), step.gates)
    for p in range(space.num_positions):
        assert sum(calls[(p, j)] for j in range(len(space.choices()[p]))) == 2


def test_binary_gate_gradient_and_rescale_keep_other_probabilities():
    torch.manual_seed(0)
    mixed = MixedOp([torch.nn.Conv2d(2, 2, 1), torch.nn.Conv2d(2, 2, 3, padding=1), torch.nn.Identity()])
    x = torch.randn(1, 2, 4, 4)
    g = torch.tensor([1.0, 0.0], requires_grad=True)
    out = mixed(x, BinaryGate(active=0, inactive=2, weights=g, slot=0))
    (out * 3).sum().backward()
    # dL/dg_j = <dL/dout, o_j(x)>: the inactive path's output counts although it had no graph
    assert g.grad[1].item() == pytest.approx(3 * x.sum().item(), rel=1e-5)
    assert g.grad[0].item() == pytest.approx(3 * mixed.candidates[0](x).sum().item(), rel=1e-5)

    arch = ArchParams([4])
    with torch.no_grad():
        arch.alphas[0].copy_(torch.tensor([0.3, -0.2, 0.5, 0.1], dtype=torch.float64))
    before = torch.softmax(arch.alphas[0].detach(), 0).clone()
    step = ArchStep("binary", arch, torch.Generator().manual_seed(1), 1.0)
    pair, gate = step.binary[0]
    gate.grad = torch.tensor([0.7, -0.4])
    step.after_backward()
    p = torch.softmax(arch.alphas[0].detach()[pair], 0)
    want = [sum(gate.grad[j].item() * p[j].item() * ((i == j) - p[i].item()) for j in range(2))
            for i in range(2)]
    assert arch.alphas[0].grad[pair].tolist() == pytest.approx(want)
    opt = torch.optim.Adam(arch.parameters(), lr=0.1, betas=(0.0, 0.999))
    opt.step()
    step.after_step()
    after = torch.softmax(arch.alphas[0].detach(), 0)
    others = [i for i in range(4) if i not in pair]
    assert after[others].tolist() == pytest.approx(before[others].tolist(), rel=1e-9)
    assert not torch.allclose(after[pair], before[pair])


@pytest.mark.parametrize("relaxation", ["softmax", "gumbel"])
def test_relaxed_arch_step_gives_alpha_gradients(relaxation):
    space = tiny_space()
    supernet = build_supernet(space)
    # A fresh supernet starts every candidate of a layer as the same function (so arch gradients
    # are exactly zero); after warm-up they differ. Perturb the weights to stand for that.
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in supernet.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    arch = ArchParams([len(c) for c in space.choices()])
    step = ArchStep(relaxation, arch, torch.Generator().manual_seed(0), 2.0)
    logits = supernet(torch.randn(4, 3, 16, 16), step.gates)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3])).backward()
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in arch.alphas)
    if relaxation == "gumbel":
        assert all(len(idx) == 1 and w.item() == pytest.approx(1.0) for idx, w in step.gates)


def test_losses_and_dual_ascent():
    ce = torch.tensor(2.0, dtype=torch.float64)
    e = torch.tensor(40.0, dtype=torch.float64)
    mul = search_loss(ce, e, LossConfig("mul-log", 80.0), 0.0)
    assert mul.item() == pytest.approx(2.0 * 0.2 * (np.log(40) / np.log(80)) ** 0.3)
    add = search_loss(ce, e, LossConfig("add-linear", 80.0), 0.0)
    assert add.item() == pytest.approx(2.0 + 0.1 * (40 - 80) / 80)
    assert dual_ascent(0.0, 90.0, 80.0, 1.0) == pytest.approx(0.125)
    assert dual_ascent(0.1, 40.0, 80.0, 1.0) == 0.0
    with pytest.raises(Exception, match="mul-log"):
        check_loss(LossConfig("mul-log", 0.5))


def test_temperature_anneals_geometrically():
    taus = [temperature(e, 5, 5.0, 0.5) for e in range(5)]
    assert taus[0] == pytest.approx(5.0) and taus[-1] == pytest.approx(0.5)
    assert all(a > b for a, b in itertools.pairwise(taus))


@pytest.mark.parametrize("calibration", [
    Calibration.overhead(0.02),
    Calibration.linear(0.9, 0.004, 0.05),
])
def test_expected_latency_folds_calibration_exactly(calibration):
    space = tiny_space()
    table = replace(synthetic_table(space), calibration=calibration)
    cost = table.cost_model(space)
    rng = np.random.default_rng(0)
    for _ in range(20):
        arch = space.sample(rng)
        # the calibration's formula on the raw sum, written out (not from hwnas code)
        raw, n_ops = table.raw_sum(space, arch), len(space.ops(arch))
        want = calibration.coef_sum * raw + calibration.coef_ops * n_ops + calibration.intercept_ms
        one_hot = [torch.nn.functional.one_hot(torch.tensor(j), len(c)).double()
                   for j, c in zip(space.indices(arch), space.choices())]
        assert expected_latency(cost, one_hot).item() == pytest.approx(want, rel=1e-12)


def _calibrated_trap(space, table):
    """(arch, its price) where the calibration's formula on the raw sum rounds above the folded
    per-choice sum: with the budget at that price, the old derivation's table check refused the
    knapsack's pick and needed its retry loop."""
    cost = table.cost_model(space)
    cal = table.calibration
    rng = np.random.default_rng(0)
    for _ in range(5000):
        arch = space.sample(rng)
        ops = space.ops(arch)
        formula = cal.coef_sum * sum(table.entries[o.key].p50 for o in ops) + cal.coef_ops * len(ops) \
            + cal.intercept_ms
        if formula > cost.price(arch):
            return arch, cost.price(arch)
    raise AssertionError("no arch where the formula rounds above the folded sum")


def test_derivation_meets_the_budget_by_the_tables_own_prediction():
    space = tiny_space()
    table = replace(synthetic_table(space), calibration=Calibration.linear(1.1373, 0.00731, 0.0217))
    arch, budget = _calibrated_trap(space, table)
    cost = table.cost_model(space)
    # the search's probabilities favour exactly that arch; the budget is exactly its price
    probs = [[0.9 if j == k else 0.1 / (len(c) - 1) for j in range(len(c))]
             for k, c in zip(space.indices(arch), space.choices())]
    derived = derive_arch(cost, probs, budget, 0.9, hard=True)
    assert derived["arch"] == str(arch) and derived["method"] == "knapsack"
    assert derived["predicted"] == table.predict(space, arch) <= budget
    assert derived["in_band"]
