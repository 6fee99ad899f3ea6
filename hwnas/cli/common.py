"""What every CLI command shares: one-line errors with exit code 2, JSON printing, consoles."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console, ConsoleDimensions

from hwnas.errors import HwnasError

# Text piped to a file or another program is read by scripts: rich would fold or cut table cells
# (arch strings, space names) at $COLUMNS or 80, so off a terminal the width is effectively unbounded.
PIPE_WIDTH = 4096


class _Console(Console):
    """A rich console as wide as its text when stdout is not a terminal."""

    @property
    def size(self) -> ConsoleDimensions:
        dims = super().size
        return dims if self.is_terminal else ConsoleDimensions(PIPE_WIDTH, dims.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)


console = _Console()
err_console = _Console(stderr=True)

JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON instead of text.")


def out_option(help_text: str, default: Any = ...) -> Any:
    """``--out/-o``: where a command writes (a folder, or a file for single-file outputs)."""
    return typer.Option(default, "--out", "-o", help=help_text)


def force_option(what: str) -> Any:
    """``--force/-f``: use an output that holds something this command did not make."""
    return typer.Option(False, "--force", "-f", help=f"Write into a non-empty or existing --out, "
                                                     f"replacing {what}; other files stay.")


def resume_option(help_text: str) -> Any:
    return typer.Option(False, "--resume", help=help_text)


THREADS_HELP = ("torch CPU threads (0: automatic - the cores in this process's affinity mask, at "
                "most torch's physical-core count; see README Concepts).")


def threads_option(help_text: str = THREADS_HELP) -> Any:
    return typer.Option(0, "--threads", help=help_text)  # < 0: one line from apply_threads


def fail(message: str) -> None:
    from rich.markup import escape  # messages hold literal brackets: pip install 'hwnas[mobile]'

    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


FORCE_FLAGS = ("--force", "-f")


def guarded(func: Callable[..., Any] | None = None, *, resume: str | None = None) -> Any:
    """Turn library errors into one line on stderr and exit code 2 (no traceback).

    A long command names what resumes it after Ctrl-C: ``resume=""`` prints this very command
    line, ``resume="--resume"`` the command line with that flag added; either way without
    ``--force``, which would start over. ``None`` (short commands) just says it was interrupted.
    Use as ``@guarded`` or ``@guarded(resume=...)``.
    """
    if func is None:
        return functools.partial(guarded, resume=resume)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HwnasError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            if resume is None:
                err_console.print("interrupted", highlight=False, markup=False)
            else:
                err_console.print(f"interrupted: finished work is saved; resume with: "
                                  f"{command_line(add=resume, drop_force=True)}", highlight=False,
                                  soft_wrap=True, markup=False)
            raise typer.Exit(130) from None

    return wrapper


def command_line(add: str = "", drop_force: bool = False, ctx: Any = None) -> str:
    """The running command rebuilt from its parsed parameters (as ``hwnas ...``), with ``add``
    appended and ``--force`` left out if ``drop_force``: what resumes an interrupted run.

    Rebuilt rather than copied from ``sys.argv`` so that it is exact however hwnas was started
    (entry point, ``python -m``, a test runner) and names every option the user gave.
    """
    import shlex

    try:  # typer >= 0.26 ships its own copy of click, with its own context stack
        from typer._click.globals import get_current_context
    except ImportError:
        from click import get_current_context

    ctx = ctx or get_current_context()
    names: list[str] = []
    c = ctx
    while c.parent is not None:
        names.append(c.info_name)
        c = c.parent
    words = ["hwnas", *reversed(names)]
    positional: list[str] = []
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        source = ctx.get_parameter_source(param.name)
        if source is None or source.name == "DEFAULT":
            continue
        if param.param_type_name == "argument":
            positional += [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
            continue
        if drop_force and param.opts[0] in FORCE_FLAGS:
            continue
        if getattr(param, "is_flag", False):
            if value:
                words.append(param.opts[0])
            elif param.secondary_opts:
                words.append(param.secondary_opts[0])
            continue
        for v in value if getattr(param, "multiple", False) else [value]:
            words += [param.opts[0], str(v)]
    if add and add not in words:
        words.append(add)
    return shlex.join([*words, *positional])


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
