"""The typer application; command modules register themselves on it."""

import typer

app = typer.Typer(
    name="hwnas",
    help="Hardware-aware neural architecture search: profile, search, export, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
arch_app = typer.Typer(help="Sample, show and validate architectures.", no_args_is_help=True)
app.add_typer(arch_app, name="arch")
