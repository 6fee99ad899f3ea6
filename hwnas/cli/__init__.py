"""Command-line interface: ``hwnas`` (see ``hwnas --help``)."""

import os

# Before torch loads OpenMP: its idle workers sleep instead of spinning. A spinning pool on cores
# other processes use made `hwnas train` ~10x slower on a loaded machine (issue 14); a user's
# own OMP_WAIT_POLICY wins. Child processes (DDP ranks, Ray workers) inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from hwnas.cli import (  # noqa: F401, E402  (registers commands)
    export_cmd,
    lut_cmd,
    profile_cmd,
    report_cmd,
    search_cmd,
    spaces_cmd,
    specialize_cmd,
    supernet_cmd,
    train_cmd,
)
from hwnas.cli.app import app  # noqa: E402


def main() -> None:
    """Run the CLI; a usage error (unknown option, missing argument) is one line, exit 2, like
    every other bad input, instead of click's boxed multi-line panel."""
    import importlib
    import sys

    import typer

    # typer ships its own copy of click; its exception classes live beside the public BadParameter
    # (Abort is not among them: typer exports it, and a missing name in an except clause would
    # turn every unexpected error into an AttributeError)
    click = importlib.import_module(typer.BadParameter.__module__)
    try:
        code = app(standalone_mode=False)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "hwnas"
        print(f"error: {exc.format_message().rstrip('.')}; see `{where} --help`", file=sys.stderr)
        sys.exit(2)
    except click.ClickException as exc:
        print(f"error: {exc.format_message()}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Abort:  # Ctrl-C outside a command's own interrupt handling
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
