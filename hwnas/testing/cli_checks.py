"""Checks shared by the tests of refused CLI commands (one contract: exit 2, one error, no traceback)."""

from __future__ import annotations


def assert_one_line_error(result, *needles: str) -> None:
    """A typer ``CliRunner`` result refused as a bad input: exit code 2, exactly one ``error:``,
    no traceback, and every needle in the (whitespace-normalised) message."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.count("error:") == 1, result.output
    text = " ".join(result.output.split())
    for needle in needles:
        assert needle in text, text
