"""``hwnas search`` refuses impossible requests up front (issue 13): one line, exit code 2, no
run folder left behind; ``--max-evals`` beyond the space is clamped with a note."""

import hashlib
import json

import pytest
from typer.testing import CliRunner

from hwnas.cli import app

runner = CliRunner()

TWO_ARCH_SPEC = ('name = "two"\nresolution = 16\nnum_classes = 4\nstem_channels = 8\n'
                 'stem_stride = 1\nfirst_block_channels = 0\nhead_channels = 32\n'
                 'stages = [[8, 2, 1]]\nkernels = [3]\nexpands = [2]\n')  # k3e2-k3e2, k3e2-zero


@pytest.fixture
def two(tmp_path):
    """A 2-arch space and a CSV covering it (latencies 2 and 3 ms)."""
    spec = tmp_path / "two.toml"
    spec.write_text(TWO_ARCH_SPEC)
    csv = tmp_path / "two.csv"
    csv.write_text("arch,acc,latency_ms\nk3e2-k3e2,0.7,3.0\nk3e2-zero,0.6,2.0\n")
    return spec, csv


def args(spec, csv, out, *extra):
    return ["search", "--strategy", "random", "--space", str(spec), "--evaluator", f"table:{csv}",
            "--accuracy-column", "acc", "--max-evals", "2", "--out", str(out), "--json", *extra]


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def one_line_error(res, *patterns):
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.output, res.stderr
    for p in patterns:
        assert p in res.stderr, res.stderr


@pytest.mark.parametrize("budget", ["0", "-1", "inf", "nan"])
def test_budget_not_positive_is_refused_before_the_run_folder(two, tmp_path, budget):
    spec, csv = two
    before = digest(tmp_path)
    res = runner.invoke(app, args(spec, csv, tmp_path / "run", "--budget-ms", budget))
    one_line_error(res, "--budget-ms must be a positive number", "pass a budget above 0 ms")
    assert digest(tmp_path) == before  # no run folder, nothing modified


def test_budget_not_positive_refused_for_the_gradient_search_too(tmp_path):
    res = runner.invoke(app, ["search", "--strategy", "proxyless", "--space", "mbconv-small",
                              "--lut", "nonexistent.json", "--budget-ms", "0",
                              "--out", str(tmp_path / "run")])
    one_line_error(res, "--budget-ms must be a positive number")
    assert not (tmp_path / "run").exists()


def test_budget_below_the_fastest_csv_arch_is_refused_naming_it(two, tmp_path):
    spec, csv = two
    before = digest(tmp_path)
    res = runner.invoke(app, args(spec, csv, tmp_path / "run", "--budget-ms", "1.5"))
    one_line_error(res, "budget 1.5 ms is below the fastest arch of space two (2 ms)",
                   "raise --budget-ms to at least 2")
    assert digest(tmp_path) == before
    ok = runner.invoke(app, args(spec, csv, tmp_path / "run", "--budget-ms", "2"))
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["best"]["arch"] == "k3e2-zero"


def test_max_evals_beyond_the_space_is_clamped_and_asks_stay_bounded(two, tmp_path):
    spec, csv = two
    cmd = args(spec, csv, tmp_path / "run")
    cmd[cmd.index("--max-evals") + 1] = "1000"
    res = runner.invoke(app, cmd)
    assert res.exit_code == 0, res.output
    assert "note: --max-evals 1000 is more than the 2 archs" in res.stderr
    out = json.loads(res.stdout)
    assert out["evaluations"] == 2 and out["asks"] <= 20 and out["complete"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["max_evals"] == 2
    again = runner.invoke(app, [*cmd, "--resume"])  # the same clamp: the config matches
    assert again.exit_code == 0, again.output


def test_max_evals_clamped_to_the_csv_rows(tmp_path):
    csv = tmp_path / "one.csv"
    spec = tmp_path / "two.toml"
    spec.write_text(TWO_ARCH_SPEC)
    csv.write_text("arch,acc,latency_ms\nk3e2-zero,0.6,2.0\n")
    res = runner.invoke(app, args(spec, csv, tmp_path / "run", "--budget-ms", "5"))
    assert res.exit_code == 0, res.output
    assert f"more than the 1 archs of the 1 rows of {csv}" in res.stderr
    assert json.loads(res.stdout)["evaluations"] == 1


def test_a_search_that_fails_before_evaluating_leaves_no_folder(tmp_path):
    """A forgotten --lut: the corrected rerun must not be blocked by a leftover config.json."""
    spec = tmp_path / "two.toml"
    spec.write_text(TWO_ARCH_SPEC)
    out = tmp_path / "run"
    cmd = ["search", "--strategy", "random", "--space", str(spec), "--evaluator", "oneshot",
           "--max-evals", "2", "--out", str(out)]
    one_line_error(runner.invoke(app, cmd), "--lut")
    assert not out.exists()
    keep = tmp_path / "mine"  # a folder the user made: their files stay, ours go
    keep.mkdir()
    (keep / "notes.txt").write_text("mine")
    before = digest(keep)
    one_line_error(runner.invoke(app, [*cmd[:-1], str(keep)]), "is not empty", "--force")
    one_line_error(runner.invoke(app, [*cmd[:-1], str(keep), "--force"]), "--lut")
    assert digest(keep) == before


def test_failed_start_after_create_removes_the_config(two, tmp_path, monkeypatch):
    """A failure inside the loop before anything is recorded (here: the evaluator's prepare)."""
    from hwnas.errors import HwnasError
    from hwnas.evaluation import TableEvaluator

    spec, csv = two
    calls = []
    real = TableEvaluator.prepare

    def prepare(self, run_dir=None, progress=False):
        calls.append(run_dir)
        if run_dir is not None:
            raise HwnasError("cannot prepare", "fix it")
        real(self)

    monkeypatch.setattr(TableEvaluator, "prepare", prepare)
    res = runner.invoke(app, args(spec, csv, tmp_path / "run"))
    one_line_error(res, "cannot prepare")
    assert any(c is not None for c in calls)  # the folder had been created when it failed
    assert not (tmp_path / "run").exists()
    monkeypatch.undo()
    assert runner.invoke(app, args(spec, csv, tmp_path / "run")).exit_code == 0


def test_interrupt_prints_the_command_that_resumes(two, tmp_path, monkeypatch):
    import sys

    from hwnas.search import runner as loop

    spec, csv = two
    cmd = args(spec, csv, tmp_path / "run")

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "summarize", interrupted)
    monkeypatch.setattr(sys, "argv", ["/usr/bin/hwnas", *cmd])
    res = runner.invoke(app, cmd)
    assert res.exit_code == 130
    line = res.stderr.strip()
    assert "resume with: hwnas search --strategy random" in line and line.endswith("--resume")
    monkeypatch.undo()
    resumed = runner.invoke(app, [*cmd, "--resume"])  # what it printed works
    assert resumed.exit_code == 0, resumed.output
