"""Command-line interface: ``hwnas`` (see ``hwnas --help``)."""

from hwnas.cli import spaces_cmd, train_cmd  # noqa: F401  (registers commands)
from hwnas.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
