"""One CLI grammar (issue 14): shared option names and short flags, help on every option,
defaults shown, one objective syntax, output that a narrow or missing terminal does not cut."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from hwnas.cli import app

runner = CliRunner()

# option -> its spelling everywhere it appears
SHARED = {"--out": ["--out", "-o"], "--force": ["--force", "-f"], "--resume": ["--resume"],
          "--threads": ["--threads"], "--json": ["--json"], "--space": ["--space", "-s"],
          "--lut": ["--lut"], "--seed": ["--seed"]}
WRITERS = ("search", "train", "demo", "profile", "export", "report", "lut validate",
           "lut import-hwnasbench")


def commands():
    def walk(cmd, path):
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path), cmd

    return dict(walk(typer.main.get_command(app), []))


def options(cmd):
    return [p for p in cmd.params if p.param_type_name == "option"]


def test_every_option_has_help_and_a_shown_default():
    missing, hidden = [], []
    for name, cmd in commands().items():
        for p in cmd.params:
            if not (p.help or "").strip():
                missing.append(f"{name} {p.opts[0]}")
            if p.param_type_name == "option" and not p.required and p.show_default is False:
                hidden.append(f"{name} {p.opts[0]}")
    assert not missing, f"options without help: {missing}"
    assert not hidden, f"options hiding their default: {hidden}"


def test_shared_options_are_spelled_alike_everywhere():
    seen: dict[str, set[str]] = {}
    for name, cmd in commands().items():
        for p in options(cmd):
            long = p.opts[0]
            if long in SHARED:
                assert sorted(p.opts) == sorted(SHARED[long]), f"{name}: {p.opts}"
                seen.setdefault(long, set()).add(name)
            # a short flag means one thing across commands
            for short in (o for o in p.opts if not o.startswith("--")):
                owner = next((k for k, v in SHARED.items() if short in v), None)
                assert owner in (None, long), f"{name}: {short} is {long} here but {owner} elsewhere"
    for name in WRITERS:
        assert name in seen["--out"] and name in seen["--force"] or name == "demo", name
    assert {"search", "train"} <= seen["--resume"]
    assert {"search", "train", "demo"} <= seen["--threads"]


def test_help_shows_epochs_defaults_that_match_the_searches():
    from hwnas.cli.search_cmd import EPOCHS_DEFAULT, epochs_defaults
    from hwnas.search.blackbox import BlackboxConfig, make_evaluator
    from hwnas.search.gradient import GradientSearchConfig
    from hwnas.search.registry import SearchRequest
    from hwnas.space import get_space

    req = SearchRequest("evolution", "mbconv-small", "x", lut="t.json", budget_ms=1.0)
    cfg = BlackboxConfig.from_request(req)
    space = get_space("mbconv-small")
    trained = {}
    for name in ("oneshot", "scratch"):  # what the evaluator a search builds really trains for
        ev = make_evaluator(name, space, None, "digits", cfg.epochs, 0, "arch", "accuracy",
                            "latency_ms", None)
        trained[name] = ev.config.epochs
    trained["proxyless"] = GradientSearchConfig.from_request(req).epochs
    assert epochs_defaults() == trained
    assert all(str(n) in EPOCHS_DEFAULT for n in trained.values())
    text = " ".join(runner.invoke(app, ["search", "--help"], env={"COLUMNS": "200"}).stdout.split())
    assert f"[default: ({EPOCHS_DEFAULT})]" in text
    assert "hwnas lut list" in text  # --lut says how to find the shipped tables
    profile_help = " ".join(runner.invoke(app, ["profile", "--help"],
                                          env={"COLUMNS": "200"}).stdout.split())
    assert "CPU time" in profile_help  # --clock is explained


@pytest.fixture
def mbconv_csv(tmp_path):
    """A CSV of 6 mbconv-small archs: long arch strings for the width test."""
    import numpy as np

    from hwnas.space import get_space

    space = get_space("mbconv-small")
    rng = np.random.default_rng(0)
    archs = list(dict.fromkeys(str(space.sample(rng)) for _ in range(6)))
    csv = tmp_path / "archs.csv"
    csv.write_text("arch,accuracy,latency_ms\n" + "".join(
        f"{a},{0.5 + 0.05 * i:.2f},{1.0 + i}\n" for i, a in enumerate(archs)))
    return csv, archs


def search_args(csv, out, *extra):
    return ["search", "--strategy", "random", "--evaluator", f"table:{csv}", "--max-evals", "6",
            "--out", str(out), *extra]


@pytest.mark.integration  # two reports with plots
def test_search_and_report_take_both_objective_spellings(mbconv_csv, tmp_path):
    csv, _ = mbconv_csv
    fronts = []
    for i, spelling in enumerate(("accuracy,latency_ms", "accuracy:max,latency_ms:min")):
        res = runner.invoke(app, search_args(csv, tmp_path / f"r{i}", "--objectives", spelling, "--json"))
        assert res.exit_code == 0, res.output
        fronts.append([c["arch"] for c in json.loads(res.stdout)["pareto"]])
    assert fronts[0] == fronts[1] and fronts[0]
    knees = []
    for i, spelling in enumerate(("accuracy,latency_ms", "accuracy:max,latency_ms:min")):
        res = runner.invoke(app, ["report", str(tmp_path / "r0"), "-o", str(tmp_path / f"rep{i}"),
                                  "--objectives", spelling, "--json"])
        assert res.exit_code == 0, res.output
        knees.append(json.loads(res.stdout)["objectives"])
    assert knees[0] == knees[1]


def test_output_off_a_terminal_is_not_cut_at_40_columns(mbconv_csv, tmp_path):
    csv, archs = mbconv_csv
    res = runner.invoke(app, search_args(csv, tmp_path / "run"), env={"COLUMNS": "40"})
    assert res.exit_code == 0, res.output
    front = json.loads((tmp_path / "run" / "result.json").read_text())["pareto"]
    assert front
    for cand in front:  # every front arch whole, on one line
        assert any(cand["arch"] in line for line in res.stdout.splitlines()), res.stdout
    spaces = runner.invoke(app, ["spaces"], env={"COLUMNS": "40"})
    assert "fbnet-cifar100" in spaces.stdout and "mbconv-small" in spaces.stdout
    show = runner.invoke(app, ["arch", "show", archs[0]], env={"COLUMNS": "40"})
    assert archs[0] in show.stdout


def test_export_names_a_missing_folder_and_an_arch_with_spaces(tmp_path):
    out = tmp_path / "net.onnx"
    for source, says in (("/no/such/dir", "/no/such/dir does not exist"),
                         ("myrun", "myrun is neither an existing folder nor an arch string"),
                         ("k3e3 k5e6 k7e3", "join the layers with '-': k3e3-k5e6-k7e3")):
        res = runner.invoke(app, ["export", source, "--format", "onnx", "-o", str(out)])
        assert res.exit_code == 2, res.output
        assert res.stderr.strip().count("\n") == 0 and says in res.stderr, res.stderr
        assert "layers but" not in res.stderr or source == "myrun"
    assert not any(tmp_path.iterdir())
    res = runner.invoke(app, ["arch", "validate", "k3e3 k5e6", "--space", "fbnet-cifar100"])
    assert res.exit_code == 2 and "separates its layers with spaces" in res.stderr


def test_import_hwnasbench_refuses_a_non_empty_out_without_force(tmp_path, hwnasbench_lut):
    out = tmp_path / "tables"
    out.mkdir()
    (out / "mine.txt").write_text("mine")
    res = runner.invoke(app, ["lut", "import-hwnasbench", str(hwnasbench_lut), "-o", str(out)])
    assert res.exit_code == 2 and "not empty" in res.stderr and "--force" in res.stderr
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_main_turns_an_abort_into_exit_130_and_lets_other_errors_through(monkeypatch, capsys):
    import hwnas.cli as cli

    def aborting(**_):
        raise typer.Abort()

    monkeypatch.setattr(cli, "app", aborting)
    with pytest.raises(SystemExit) as stop:
        cli.main()
    assert stop.value.code == 130 and "interrupted" in capsys.readouterr().err

    def failing(**_):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "app", failing)
    with pytest.raises(RuntimeError, match="a bug"):  # not an error raised by main's own handler
        cli.main()
