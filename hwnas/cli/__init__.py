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
    train_cmd,
)
from hwnas.cli.app import app  # noqa: E402


def main() -> None:
    app()


__all__ = ["app", "main"]
