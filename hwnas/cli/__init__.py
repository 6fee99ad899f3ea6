"""Command-line interface: ``hwnas`` (see ``hwnas --help``)."""

from hwnas.cli import (  # noqa: F401  (registers commands)
    export_cmd,
    lut_cmd,
    profile_cmd,
    report_cmd,
    search_cmd,
    spaces_cmd,
    train_cmd,
)
from hwnas.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
