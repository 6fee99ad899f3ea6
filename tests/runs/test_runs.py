"""The run contract: RunFolder writes, reads and resumes; folders of the previous format load."""

import json

import pytest

from hwnas.io import write_json
from hwnas.runs import FORMAT_VERSION, Candidate, RunError, RunFolder, RunResult, parse_objectives
from hwnas.search import OBJECTIVE_SENSES
from hwnas.testing import tiny_space


def _lines(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_candidates_round_trip_torn_last_line_and_bad_middle_line(tmp_path):
    space = tiny_space()
    run = RunFolder(tmp_path / "r")
    assert run.create({"strategy": "random", "seed": 0}, resume=False) is False
    archs = [space.arch_from_indices([i % 2] * len(space.choices())) for i in range(2)]
    cands = [Candidate(a, 0.5 + i / 10, 1.0 + i, 10, 20, None, 0.1, "table", "table", "random", i)
             for i, a in enumerate(archs)]
    for c in cands:
        run.append(c)
    assert run.candidates(space) == tuple(cands)
    assert run.candidates()[0].arch == str(archs[0])  # without the space: the recorded string
    with open(run.path / "candidates.jsonl", "a") as fh:
        fh.write('{"arch": "k3')  # killed mid-write
    assert run.candidates(space) == tuple(cands)
    with open(run.path / "candidates.jsonl", "a") as fh:
        fh.write('\n{"arch": "x", "accuracy": "high"}\n')
    with pytest.raises(RunError, match="line 3 is not valid JSON"):
        run.candidates(space)


def test_resume_compares_config_and_names_the_difference(tmp_path):
    run = RunFolder(tmp_path / "r")
    run.create({"strategy": "random", "seed": 0, "executor": "local"}, resume=False)
    with pytest.raises(RunError, match="--resume"):
        run.create({"strategy": "random", "seed": 0}, resume=False)
    with pytest.raises(RunError, match=r"differs in seed \(seed: 0 -> 1\)"):
        run.create({"strategy": "random", "seed": 1}, resume=True)
    assert run.create({"strategy": "random", "seed": 0, "executor": "ray"}, resume=True) is True
    assert run.config()["format_version"] == FORMAT_VERSION


def test_a_run_written_before_newer_options_resumes_under_their_defaults(tmp_path):
    run = RunFolder(tmp_path / "r")
    old = {"strategy": "evolution", "seed": 0, "evaluator": {"evaluator": "oneshot", "epochs": 6}}
    run.create(old, resume=False)
    now = {"strategy": "evolution", "seed": 0, "precision": "fp32", "device": "auto",
           "evaluator": {"evaluator": "oneshot", "epochs": 6, "device": "cpu", "accuracy_of": "fp32"}}
    assert run.create(now, resume=True) is True  # device may change; the others are defaults
    int8 = {**now, "evaluator": {**now["evaluator"], "accuracy_of": "int8"}}
    with pytest.raises(RunError, match="differs in evaluator"):
        run.create(int8, resume=True)


def test_previous_format_blackbox_run_loads_with_inferred_kind(tmp_path):
    space = tiny_space()
    arch = str(space.arch_from_indices([0] * len(space.choices())))
    path = tmp_path / "old"
    path.mkdir()
    write_json(path / "config.json", {"strategy": "evolution", "evaluator": {"evaluator": "oneshot"},
                                      "space": "tiny", "seed": 0})
    row = {"index": 0, "arch": arch, "accuracy": 0.7, "latency_ms": 1.2, "params": 5, "macs": 6,
           "wall_s": 0.3, "strategy": "evolution"}
    _lines(path / "candidates.jsonl", [row])
    write_json(path / "result.json", {"strategy": "evolution", "space": "tiny", "objectives": [
        "accuracy", "latency_ms"], "budget_ms": 2.0, "evaluations": 1, "asks": 3, "complete": True,
        "best": row, "knee": row, "pareto": [row], "candidates_file": "candidates.jsonl", "lut": None})
    run = RunFolder(path)
    (cand,) = run.candidates(space)
    assert cand.accuracy_kind == "oneshot-val" and cand.arch == space.parse(arch)
    result = run.read_result(space)
    assert result.best == cand and result.asks == 3 and result.pareto == (cand,)
    assert run.best_candidate(space).arch == space.parse(arch)
    with pytest.raises(RunError, match="run-folder format 1"):
        run.create({"strategy": "evolution"}, resume=True)


def test_previous_format_gradient_run_loads_as_scratch_validation(tmp_path):
    space = tiny_space()
    arch = str(space.arch_from_indices([1] * len(space.choices())))
    path = tmp_path / "old-px"
    path.mkdir()
    write_json(path / "config.json", {"space": "tiny", "lut": "t.json", "budget_ms": 0.2,
                                      "relaxation": "binary", "loss": "budget"})
    row = {"index": 0, "arch": arch, "accuracy": 0.8, "test_accuracy": 0.79, "latency_ms": 0.19,
           "params": 5, "macs": 6, "wall_s": 1.0, "strategy": "proxyless"}
    _lines(path / "candidates.jsonl", [row])
    write_json(path / "result.json", {"strategy": "proxyless", "space": "tiny", "budget_ms": 0.2,
                                      "lut": "t.json", "best": row, "pareto": [row],
                                      "derived": {"arch": arch, "predicted": 0.19},
                                      "multiplier": 0.5, "test_acc": 0.79})
    run = RunFolder(path)
    (cand,) = run.candidates(space)
    assert cand.accuracy_kind == "scratch-val" and cand.accuracy == 0.8
    result = run.read_result(space)
    assert result.details["derived"]["predicted"] == 0.19 and result.details["multiplier"] == 0.5
    assert run.settings().strategy == "proxyless"


def test_unknown_format_version_is_one_line_error(tmp_path):
    with pytest.raises(RunError, match="format 7"):
        RunResult.from_dict(None, {"format_version": 7, "strategy": "x"})


def test_one_objective_vocabulary_for_search_and_report():
    assert set(OBJECTIVE_SENSES) < {o.name for o in parse_objectives(
        "accuracy,latency_ms,energy_mj,params,macs,wall_s", min_count=1)}
    assert [str(o) for o in parse_objectives("accuracy,latency_ms")] == ["accuracy:max", "latency_ms:min"]
    with pytest.raises(RunError, match="unknown objective 'speed'"):
        parse_objectives("accuracy,speed")


def test_resume_takes_the_same_folder_spelled_another_way(tmp_path, monkeypatch):
    """``--out runs/x/`` resumes ``--out ./runs/x``: the gradient config records ``out``."""
    monkeypatch.chdir(tmp_path)
    RunFolder("./runs/x").create({"strategy": "proxyless", "out": "./runs/x", "seed": 0}, False)
    assert RunFolder("runs/x/").create({"strategy": "proxyless", "out": "runs/x/", "seed": 0}, True)
    assert RunFolder(tmp_path / "runs/x").create(
        {"strategy": "proxyless", "out": str(tmp_path / "runs" / "x"), "seed": 0}, True)
    with pytest.raises(RunError, match="differs in out"):
        RunFolder("runs/x").create({"strategy": "proxyless", "out": "runs/y", "seed": 0}, True)


def test_abandon_removes_only_what_create_wrote(tmp_path):
    new = RunFolder(tmp_path / "a" / "run")
    new.create({"strategy": "random"}, False)
    new.abandon()
    assert not (tmp_path / "a" / "run").exists() and (tmp_path / "a").is_dir()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    run = RunFolder(mine)
    run.create({"strategy": "random"}, False)
    run.abandon()
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    resumed = RunFolder(tmp_path / "r")
    resumed.create({"strategy": "random"}, False)
    again = RunFolder(tmp_path / "r")
    assert again.create({"strategy": "random"}, True)
    again.abandon()  # a resumed run is never undone
    assert (tmp_path / "r" / "config.json").is_file()
