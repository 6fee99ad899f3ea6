"""benchmarks/supernet_ranking.py --quick: the ranking JSON's fields, from two real seeds, resumable."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau

from hwnas.evaluation.base import arch_costs
from hwnas.evaluation.fidelity_rank import spread_archs
from hwnas.space import get_space

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import supernet_ranking
    finally:
        sys.path.pop(0)
    return supernet_ranking


@pytest.fixture
def run(capsys):
    threads = torch.get_num_threads()  # the script pins torch threads; give the suite its own back

    def call(*argv: str) -> tuple[int, str, str]:
        code = _bench().main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    yield call
    torch.set_num_threads(threads)


def _tau_ok(value) -> bool:
    return value is not None and -1.0 <= value <= 1.0


@pytest.mark.integration  # ~50 s at load 2: the quick run, two --partial reads, one retrained run
def test_quick_run_ranks_both_supernets_against_two_different_seeds(tmp_path, run):
    code, out, err = run("--quick", "--work", str(tmp_path))
    assert code == 0, err
    (result,) = json.loads(out)["results"]
    assert result["data"] == "digits" and result["split"] == "val" and result["train_images"] == 256
    rows = result["archs"]
    assert len(rows) == 3
    macs = [r["macs"] for r in rows]
    assert macs == sorted(macs) and macs[0] < macs[-1]
    # the ceiling comes from two different seeds that trained differently, and is their tau
    first, second = result["standalone_seeds"]
    assert first != second
    pairs = [r["standalone_val_acc"] for r in rows]
    assert any(a != b for a, b in pairs), "both seeds gave every arch the same accuracy"
    ceiling = result["seed_to_seed_ceiling"]
    assert _tau_ok(ceiling["kendall_tau"])
    assert ceiling["kendall_tau"] == pytest.approx(kendalltau(*zip(*pairs)).statistic)
    assert 0.0 <= ceiling["top_k_overlap"] <= 1.0
    # every supernet, each scored with both calibrations, on the same archs and stand-alone runs
    kinds = {(s["sampling"], s["calibration"]) for s in result["supernets"]}
    assert kinds == {(k, c) for k in ("uniform", "tilted", "sandwich", "spread")
                     for c in ("evaluator-4", "shuffled-16")}
    # spread trains archs near both ends of the MAC range; uniform's paths stay mid-range
    trained = {s["sampling"]: s["trained_macs_quantiles"] for s in result["supernets"]}
    spread, uniform, tilted = trained["spread"], trained["uniform"], trained["tilted"]
    assert spread["p5"] < uniform["p5"] < uniform["p95"] < spread["p95"]
    assert tilted["p5"] < uniform["p5"] < uniform["p95"] < tilted["p95"]
    assert trained["sandwich"]["min"] < trained["uniform"]["min"]  # the smallest path, every step
    mean = [(a + b) / 2 for a, b in pairs]
    assert result["macs_vs_standalone"]["kendall_tau"] == pytest.approx(kendalltau(macs, mean).statistic)
    for s in result["supernets"]:
        assert _tau_ok(s["vs_standalone"]["kendall_tau"]), s
        assert -1.0 <= s["vs_standalone"]["spearman_rho"] <= 1.0
        scores = [r["inherited_val_acc"][f"{s['sampling']}/{s['calibration']}"] for r in rows]
        assert s["vs_standalone"]["kendall_tau"] == pytest.approx(kendalltau(scores, mean).statistic)
        assert s["inherited_range"] == [min(scores), max(scores)]
        ratio = s["ratio_to_ceiling"]
        if ceiling["kendall_tau"] > 0:
            assert ratio == pytest.approx(s["vs_standalone"]["kendall_tau"] / ceiling["kendall_tau"])
            assert s["meets_goal"] == (ratio >= 0.8)
    assert len(result["load_average"]["start"]) == 3
    assert result["archs_ranked"] == 3 and result["partial"] is False and result["supernets_missing"] == []
    # --partial reads every stage from --work: nothing trains again, the figures are the same
    code, again, err = run("--quick", "--work", str(tmp_path), "--partial")
    assert code == 0 and "train" not in err and "stand-alone" not in err, err
    assert json.loads(again)["results"][0]["supernets"] == result["supernets"]
    # --partial with settings nothing was trained for: one line, nothing written
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, out, err = run("--data", "digits", "--samples", "3", "--epochs", "1", "--supernet-epochs", "1",
                         "--random-paths", "0", "--train-images", "256", "--seed", "7",
                         "--work", str(tmp_path), "--partial")
    assert code == 2 and out == "" and "no supernet" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    # a run killed before one stand-alone run finished: --partial refuses to rank 2 archs, and a
    # plain rerun trains that one run only and ends with the same figures
    (lost,) = [p for p in tmp_path.rglob("standalone-*.json") if json.loads(p.read_text())["seed"] == first
               and json.loads(p.read_text())["arch"] == rows[1]["arch"]]
    lost.unlink()
    code, out, err = run("--quick", "--work", str(tmp_path), "--partial")
    assert code == 2 and out == "" and "only 2 of 3 archs" in err and len(err.strip().splitlines()) == 1
    code, again, err = run("--quick", "--work", str(tmp_path))
    assert code == 0 and err.count("stand-alone") == 1 and "supernet" not in err, err
    assert json.loads(again)["results"][0]["supernets"] == result["supernets"]


def test_a_missing_dataset_is_one_line_and_exit_2_with_nothing_written(tmp_path, run):
    work = tmp_path / "work"
    code, out, err = run("--data", f"imagefolder:{tmp_path / 'nope'}", "--work", str(work))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "does not exist" in err and "Traceback" not in err
    assert not work.exists()
    code, _, err = run("--data", "digits", "--samples", "2", "--work", str(work))
    assert code == 2 and "--samples must be >= 3" in err and not work.exists()
    code, _, err = run("--quick", "--stage", "standalone", "--shard", "3/2", "--work", str(work))
    assert code == 2 and "--shard '3/2' is not I/N" in err and len(err.strip().splitlines()) == 1
    code, _, err = run("--quick", "--samplings", "uniform,greedy", "--work", str(work))
    assert code == 2 and "unknown one (greedy)" in err and len(err.strip().splitlines()) == 1
    assert not work.exists()


@pytest.mark.integration  # ~2 s: builds every op of mbconv-small once to count its MACs
def test_spread_archs_cover_most_of_the_mac_range_and_are_seeded():
    space = get_space("mbconv-small")
    archs = spread_archs(space, 8, np.random.default_rng(0))
    assert archs == spread_archs(space, 8, np.random.default_rng(0))
    assert len(set(archs)) == 8
    macs = [arch_costs(space, a)[1] for a in archs]
    assert macs == sorted(macs)
    # the smallest and largest paths of mbconv-small have 1.9 M and 10.1 M MACs; uniform sampling
    # alone spans only about 3.5-8 M
    assert macs[0] < 2.6e6 and macs[-1] > 9.0e6
    assert archs != spread_archs(space, 8, np.random.default_rng(1))
