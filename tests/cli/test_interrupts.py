"""Ctrl-C prints the exact command that resumes, and that command works; ``--force`` starts a
search over; ``--threads`` is what the run computes with and what it records (issue 14)."""

from __future__ import annotations

import json
import shlex

import pytest
import torch
from typer.testing import CliRunner

from hwnas.cli import app

runner = CliRunner()

TINY_SPEC = ('name = "tiny"\nresolution = 16\nnum_classes = 10\nstem_channels = 8\n'
             'stem_stride = 1\nfirst_block_channels = 0\nhead_channels = 16\n'
             'stages = [[8, 2, 1]]\nkernels = [3]\nexpands = [2]\n')  # k3e2-k3e2, k3e2-zero


@pytest.fixture
def tiny(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY_SPEC)
    csv = tmp_path / "tiny.csv"
    csv.write_text("arch,acc,latency_ms\nk3e2-k3e2,0.7,3.0\nk3e2-zero,0.6,2.0\n")
    return spec, csv


@pytest.fixture(autouse=True)
def torch_threads_restored():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def interrupt(*_a, **_k):
    raise KeyboardInterrupt


def printed_command(res) -> list[str]:
    """The words after ``resume with: hwnas`` in the interrupt line (without ``hwnas``)."""
    assert res.exit_code == 130, res.output
    line = " ".join(res.stderr.split())
    assert line.startswith("interrupted:") and "Traceback" not in res.output, res.stderr
    words = shlex.split(line.split("resume with: ", 1)[1])
    assert words[0] == "hwnas"
    return words[1:]


def search_args(spec, csv, out, *extra):
    return ["search", "--strategy", "random", "--space", str(spec), "--evaluator", f"table:{csv}",
            "--accuracy-column", "acc", "--max-evals", "2", "--out", str(out), "--json", *extra]


def test_interrupted_forced_search_resumes_without_force(tiny, tmp_path, monkeypatch):
    from hwnas.search import runner as loop

    spec, csv = tiny
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    monkeypatch.setattr(loop, "summarize", interrupt)
    words = printed_command(runner.invoke(app, search_args(spec, csv, out, "--force")))
    assert "--resume" in words and "--force" not in words and "-f" not in words
    monkeypatch.undo()
    resumed = runner.invoke(app, words)
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["evaluations"] == 2
    assert (out / "notes.txt").read_text() == "mine"


def test_interrupt_before_the_run_folder_exists_still_resumes(tiny, tmp_path, monkeypatch):
    from hwnas.search import blackbox

    spec, csv = tiny
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    monkeypatch.setattr(blackbox, "make_evaluator", interrupt)  # before config.json is written
    words = printed_command(runner.invoke(app, search_args(spec, csv, out, "--force")))
    assert not (out / "config.json").exists() and "--force" not in words
    monkeypatch.undo()
    resumed = runner.invoke(app, words)
    assert resumed.exit_code == 0, resumed.output
    assert (out / "notes.txt").read_text() == "mine"


def test_search_force_starts_over_and_keeps_other_files(tiny, tmp_path):
    spec, csv = tiny
    out = tmp_path / "run"
    assert runner.invoke(app, search_args(spec, csv, out, "--seed", "1")).exit_code == 0
    (out / "notes.txt").write_text("mine")
    again = runner.invoke(app, search_args(spec, csv, out))
    assert again.exit_code == 2 and "--force to start over" in again.stderr
    both = runner.invoke(app, search_args(spec, csv, out, "--force", "--resume"))
    assert both.exit_code == 2 and "pass one of them" in both.stderr
    forced = runner.invoke(app, search_args(spec, csv, out, "-f"))
    assert forced.exit_code == 0, forced.output
    config = json.loads((out / "config.json").read_text())
    assert config["seed"] == 0  # the new run's, not the old one's
    assert len((out / "candidates.jsonl").read_text().splitlines()) == 2
    assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.integration  # trains an epoch
def test_interrupted_train_prints_a_resume_command_that_works(tiny, tmp_path, monkeypatch):
    from hwnas.cli import train_cmd

    spec, _ = tiny
    out = tmp_path / "t"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # --force lets train write beside it
    cmd = ["train", "k3e2-k3e2", "--space", str(spec), "--data", "synthetic", "--epochs", "1",
           "--batch-size", "32", "-o", str(out), "--force", "--threads", "1", "--json"]
    monkeypatch.setattr(train_cmd, "train_model", interrupt)
    words = printed_command(runner.invoke(app, cmd))
    assert words[:2] == ["train", "--space"] and words[-1] == "k3e2-k3e2"
    assert "--resume" in words and "--force" not in words and "--threads" in words
    monkeypatch.undo()
    resumed = runner.invoke(app, words)  # nothing was checkpointed yet: it starts in --out
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["config"]["threads"] == 1
    assert (out / "weights.pt").is_file() and (out / "notes.txt").read_text() == "mine"


def test_interrupted_profile_prints_the_same_command_without_force(tiny, tmp_path, monkeypatch):
    from hwnas.latency import profile as profiling

    spec, _ = tiny
    table = tmp_path / "t.json"
    cmd = ["profile", "-s", str(spec), "-r", "torch-cpu", "-o", str(table), "--runs", "2",
           "--rounds", "1", "--warmup", "0", "--no-pin", "-f"]
    monkeypatch.setattr(profiling, "_profile_space", interrupt)
    words = printed_command(runner.invoke(app, cmd))
    assert words == ["profile", "--space", str(spec), "--runtime", "torch-cpu", "--out", str(table),
                     "--runs", "2", "--rounds", "1", "--warmup", "0", "--no-pin"]
    monkeypatch.undo()
    done = runner.invoke(app, words)
    assert done.exit_code == 0, done.output
    assert table.is_file()


def test_search_threads_are_used_and_recorded(tiny, tmp_path, monkeypatch):
    from hwnas.evaluation import TableEvaluator

    spec, csv = tiny
    seen = []
    real = TableEvaluator.evaluate

    def evaluate(self, arch):
        seen.append(torch.get_num_threads())
        return real(self, arch)

    monkeypatch.setattr(TableEvaluator, "evaluate", evaluate)
    for threads in (1, 2):
        out = tmp_path / f"run{threads}"
        res = runner.invoke(app, search_args(spec, csv, out, "--threads", str(threads)))
        assert res.exit_code == 0, res.output
        assert set(seen) == {threads}
        assert json.loads((out / "config.json").read_text())["threads"] == threads
        seen.clear()
    bad = runner.invoke(app, search_args(spec, csv, tmp_path / "bad", "--threads", "-1"))
    assert bad.exit_code == 2 and bad.stderr.strip() == ("error: --threads must be >= 0, not -1; "
                                                         "pass --threads 0 (automatic) or more")
    assert not (tmp_path / "bad").exists()


def test_default_threads_are_the_affinity_cores_at_most_torchs_own(tiny, tmp_path, monkeypatch):
    """README Concepts: 0 (the default) means the cores in the affinity mask, capped at torch's
    own default; a busy machine does not change it."""
    import os

    from hwnas.train import runtime

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    assert runtime.default_threads() == 1
    spec, csv = tiny
    res = runner.invoke(app, search_args(spec, csv, tmp_path / "run"))
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "run" / "config.json").read_text())["threads"] == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(512)), raising=False)
    assert runtime.default_threads() == runtime.TORCH_DEFAULT_THREADS
    torch.set_num_threads(1)  # an earlier run's setting does not shrink the default
    assert runtime.default_threads() == runtime.TORCH_DEFAULT_THREADS
    assert runtime.default_threads(local_ranks=runtime.TORCH_DEFAULT_THREADS) == 1


@pytest.mark.integration  # two interpreters importing the CLI
def test_the_cli_makes_openmp_workers_sleep_unless_the_user_chose(tmp_path):
    import os
    import subprocess
    import sys

    code = "import hwnas.cli, os; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert got.stdout.strip() == "PASSIVE", got.stderr
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    got = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert got.stdout.strip() == "ACTIVE", got.stderr


def test_profile_force_starts_a_mismatching_table_over(tiny, tmp_path):
    spec, _ = tiny
    table = tmp_path / "t.json"
    base = ["profile", "-s", str(spec), "-r", "torch-cpu", "-o", str(table), "--rounds", "1",
            "--warmup", "0", "--no-pin", "--json"]
    assert runner.invoke(app, [*base, "--runs", "2"]).exit_code == 0
    before = table.read_bytes()
    other = runner.invoke(app, [*base, "--runs", "3"])
    assert other.exit_code == 2 and "pass --force to start it over" in other.stderr, other.output
    assert table.read_bytes() == before
    forced = runner.invoke(app, [*base, "--runs", "3", "-f"])
    assert forced.exit_code == 0, forced.output
    assert json.loads(table.read_text())["meta"]["protocol"]["runs"] == 3
