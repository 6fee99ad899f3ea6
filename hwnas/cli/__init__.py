"""Command-line interface: ``hwnas`` (see ``hwnas --help``)."""

from hwnas.cli import export_cmd, report_cmd, spaces_cmd, train_cmd  # noqa: F401  (registers commands)
from hwnas.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
