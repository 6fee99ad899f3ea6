"""What every CLI command shares: one-line errors with exit code 2, JSON printing, consoles."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from hwnas.errors import HwnasError

console = Console()
err_console = Console(stderr=True)

JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON instead of text.")


def fail(message: str) -> None:
    from rich.markup import escape  # messages hold literal brackets: pip install 'hwnas[mobile]'

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def guarded(func: Callable[..., Any] | None = None, *,
            resume_hint: Callable[[], str] | None = None) -> Any:
    """Turn library errors into one line on stderr and exit code 2 (no traceback).

    ``resume_hint`` gives the command that resumes after Ctrl-C (default: the same command);
    use as ``@guarded`` or ``@guarded(resume_hint=...)``.
    """
    if func is None:
        return functools.partial(guarded, resume_hint=resume_hint)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HwnasError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            how = f"resume with: {resume_hint()}" if resume_hint else "rerun the same command to resume"
            err_console.print(f"interrupted: finished work is saved; {how}", highlight=False,
                              soft_wrap=True, markup=False)
            raise typer.Exit(130) from None

    return wrapper


def rerun_with(flag: str) -> str:
    """This process's command line with ``flag`` added (once): what resumes an interrupted run."""
    import shlex

    args = sys.argv[1:]
    return shlex.join(["hwnas", *args, *([] if flag in args else [flag])])


def print_json(obj: Any) -> None:
    from hwnas.io import _jsonable

    sys.stdout.write(json.dumps(_jsonable(obj), indent=2) + "\n")


def check_out_dir(path: Path, writes: tuple[str, ...], force: bool, create: bool = True) -> None:
    """Refuse a non-empty ``--out`` unless ``--force``; fail early if it cannot be written.

    ``writes`` names the files the command puts there: with ``--force`` only those are replaced,
    anything else a user keeps in the folder is left alone. ``create=False`` leaves creating the
    folder to the command (one that checks all its input first and creates nothing on bad input).
    """
    if path.exists() and not path.is_dir():
        raise HwnasError(f"--out {path} is a file, not a folder", "pass a folder path")
    if path.is_dir() and not force:
        present = sorted(p.name for p in path.iterdir())
        if present:
            shown = ", ".join(present[:3]) + (f" and {len(present) - 3} more" if len(present) > 3 else "")
            raise HwnasError(f"--out {path} is not empty (it holds {shown})",
                             f"choose an empty or new --out, or pass --force to replace "
                             f"{' and '.join(writes)} there")
    if not create:
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HwnasError(f"cannot create output folder {path}: {exc.strerror}",
                         "pass a writable --out") from None
