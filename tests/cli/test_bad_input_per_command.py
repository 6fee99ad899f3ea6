"""One bad input per CLI command, through the installed entry point's ``main``: exit code 2,
exactly one line naming the cause (and a fix), no traceback, no file written.

Two kinds: a usage error (an option the command does not have), which click would print as a
multi-line panel, and a domain error (a name or path that does not exist)."""

from __future__ import annotations

import sys

import pytest

from hwnas.cli import app, main


def _command_paths() -> list[tuple[str, ...]]:
    """Every leaf command of the app, by walking typer's click tree (so a new command is covered)."""
    import typer

    root = typer.main.get_command(app)
    paths: list[tuple[str, ...]] = []

    def walk(cmd, prefix: tuple[str, ...]) -> None:
        subs = getattr(cmd, "commands", None)
        if not subs:
            paths.append(prefix)
            return
        for name, sub in sorted(subs.items()):
            walk(sub, prefix + (name,))

    walk(root, ())
    return paths


def run_main(argv: list[str], capsys, monkeypatch) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["hwnas", *argv])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out + captured.err


def assert_one_line_exit_2(code: int, output: str, *needles: str) -> None:
    lines = [ln for ln in output.splitlines() if ln.strip()]
    assert code == 2, (code, output)
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert "Traceback" not in output
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_the_walk_finds_every_command():
    paths = _command_paths()
    for expected in [("search",), ("train",), ("export",), ("report",), ("profile",), ("demo",),
                     ("lut", "validate"), ("lut", "import-hwnasbench"), ("arch", "sample")]:
        assert expected in paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p))
def test_an_unknown_option_is_one_line_exit_2(path, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    code, output = run_main([*path, "--no-such-option"], capsys, monkeypatch)
    assert_one_line_exit_2(code, output, "--no-such-option", f"hwnas {' '.join(path)} --help")
    assert list(tmp_path.iterdir()) == []


DOMAIN_CASES = {
    "search": (["search", "--space", "nope", "--strategy", "random", "-o", "run"], "unknown space 'nope'"),
    "train": (["train", "k3e3", "--space", "mbconv-small", "-o", "t"], "has 13"),
    "export": (["export", "no/such/dir", "--format", "onnx", "-o", "e"], "does not exist"),
    "report": (["report", "no-such-run", "-o", "r"], "does not exist"),
    "profile": (["profile", "--space", "nope", "--runtime", "onnxruntime", "-o", "t.json"],
                "unknown space 'nope'"),
    "demo": (["demo", "--out", "."], "not empty"),
    "arch sample": (["arch", "sample", "--space", "nope"], "unknown space 'nope'"),
    "arch show": (["arch", "show", "k3e3", "--space", "mbconv-small"], "has 13"),
    "arch validate": (["arch", "validate", "k3e3", "--space", "mbconv-small"], "has 13"),
    "lut show": (["lut", "show", "no/such"], "does not exist"),
    "lut predict": (["lut", "predict", "no/such", "k3e3"], "does not exist"),
    "lut validate": (["lut", "validate", "no/such"], "does not exist"),
    "lut import-hwnasbench": (["lut", "import-hwnasbench", "no/such", "-o", "tables"], "does not exist"),
    "supernet train": (["supernet", "train", "--sampling", "greedy", "--out", "sn"], "unknown --sampling"),
    "supernet rank": (["supernet", "rank", "no/such"], "is not a trained supernet"),
    "supernet predictor": (["supernet", "predictor", "no/such"], "is not a trained supernet"),
    "specialize": (["specialize", "--supernet", "no/such", "--lut", "pixel3/latency-fbnet-cifar100",
                    "--budget-ms", "30", "-o", "s"], "is not a trained supernet"),
}


@pytest.mark.parametrize("case", sorted(DOMAIN_CASES))
def test_a_bad_value_is_one_line_exit_2_and_writes_nothing(case, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    argv, needle = DOMAIN_CASES[case]
    if case == "demo":
        (tmp_path / "mine.txt").write_text("a user's file")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, output = run_main(argv, capsys, monkeypatch)
    assert_one_line_exit_2(code, output, needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_every_command_with_inputs_has_a_domain_case():
    """A command added later gets a case here, or this fails (spaces and lut list take no input)."""
    without_input = {"spaces", "lut list"}
    for path in _command_paths():
        name = " ".join(path)
        assert name in DOMAIN_CASES or name in without_input, f"add a bad-input case for `hwnas {name}`"
