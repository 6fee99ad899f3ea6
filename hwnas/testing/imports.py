"""The import rules of hwnas, and a static checker for them (``python -m hwnas.testing.imports``).

``LAYERS`` below is the map of the project: a module may import modules of its own layer or of a
lower one, never of a higher one, and no two modules may import each other (directly or round a
longer circle). The plug-in packages (profilers, exporters, runtimes) sit beside the core: they
may import any core module below ``hwnas.cli``, while the core reaches them only through the
registry module ``hwnas.plugins``, which loads them by name.

The graph is read from the source with ``ast``, so it sees every ``import`` statement wherever it
stands: at module level, inside a function, under ``if TYPE_CHECKING``. A lazy import inside a
function still couples two modules, it only hides the coupling until run time.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

# Lowest layer first. An entry names a module or a package (with all its submodules); the bare
# package name ``hwnas`` means hwnas/__init__.py only.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("hwnas", "hwnas.version", "hwnas.errors", "hwnas.io", "hwnas.pareto", "hwnas.schema"),  # 0: plain values
    ("hwnas.space",),                          # 1: search spaces, Arch, OpSpec, network descriptions
    ("hwnas.nn", "hwnas.data"),                # 2: torch modules built from the descriptions; data
    ("hwnas.train", "hwnas.latency"),          # 3: training; latency tables and measurement
    ("hwnas.runs",),                           # 4: the run folder
    ("hwnas.evaluation", "hwnas.execution"),   # 5: evaluators and where they run
    ("hwnas.search",),                         # 6: strategies
    ("hwnas.export", "hwnas.plugins"),         # 7: export of a searched arch; the plug-in registry
    ("hwnas.report",),                         # 8: reports over run folders
    ("hwnas.testing",),                        # 9: fixtures and conformance suites
    ("hwnas.demo", "hwnas.specialize"),       # 10: orchestration of the whole pipeline
    ("hwnas.cli",),                            # 11: the command line
)
PLUGIN_PACKAGES: tuple[str, ...] = ("profilers", "exporters", "runtimes")
REGISTRY_MODULES: tuple[str, ...] = ("hwnas.plugins",)
# Plug-ins may import core modules strictly below this one's layer.
PLUGIN_CEILING = "hwnas.cli"
CORE_PACKAGE = "hwnas"


@dataclass(frozen=True)
class Layering:
    """The rules a graph is checked against (the defaults are hwnas's own)."""

    layers: tuple[tuple[str, ...], ...] = LAYERS
    core: str = CORE_PACKAGE
    plugins: tuple[str, ...] = PLUGIN_PACKAGES
    registries: tuple[str, ...] = REGISTRY_MODULES
    plugin_ceiling: str = PLUGIN_CEILING

    @property
    def packages(self) -> tuple[str, ...]:
        return (self.core, *self.plugins)

    def layer_of(self, module: str) -> int | None:
        """The layer of a core module (longest matching entry), or ``None`` if no entry names it."""
        best: tuple[int, int] | None = None  # (entry length, layer)
        for layer, entries in enumerate(self.layers):
            for entry in entries:
                exact_only = entry == self.core
                if module == entry or (not exact_only and module.startswith(entry + ".")):
                    if best is None or len(entry) > best[0]:
                        best = (len(entry), layer)
        return None if best is None else best[1]

    def is_plugin(self, module: str) -> bool:
        return module.split(".")[0] in self.plugins


@dataclass(frozen=True)
class ImportEdge:
    """``importer`` imports ``imported`` at ``line`` of the importer's file."""

    importer: str
    imported: str
    line: int


@dataclass(frozen=True)
class Violation:
    """A broken rule; ``str()`` is the stable form (no line number) that tests list."""

    rule: str  # "cycle", "upward", "plugin" or "unlayered"
    importer: str
    imported: str
    detail: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.rule}: {self.importer} -> {self.imported}"


@dataclass(frozen=True)
class ImportGraph:
    modules: frozenset[str]
    edges: tuple[ImportEdge, ...]

    def targets(self, module: str) -> set[str]:
        return {e.imported for e in self.edges if e.importer == module}


@dataclass(frozen=True)
class ImportReport:
    cycles: tuple[tuple[str, ...], ...]  # each a set of modules that import each other, sorted
    violations: tuple[Violation, ...]    # layer, plug-in and unlayered violations

    def lines(self) -> list[str]:
        out = [f"cycle: {' <-> '.join(c)}" for c in self.cycles]
        return out + [f"{v}  ({v.detail})" for v in self.violations]


def module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under each package present in ``root``."""
    found: dict[str, Path] = {}
    for package in packages:
        base = root / package
        if not (base / "__init__.py").is_file():
            continue  # absent package (e.g. runtimes/ before it exists)
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterable[tuple[str, tuple[str, ...], int]]:
    """(module, imported names, line) of every import statement in ``tree``, relative ones resolved.

    ``import a.b`` gives ``("a.b", (), line)``; ``from a import b, c`` gives ``("a", ("b", "c"), line)``.
    """
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, (), node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            yield base, tuple(alias.name for alias in node.names), node.lineno


def import_graph(root: Path, packages: Iterable[str]) -> ImportGraph:
    """The static import graph among the modules of ``packages`` under ``root``.

    ``from pkg import sub`` is an edge to ``pkg.sub`` and to ``pkg``: Python runs the package's
    ``__init__`` first and then looks ``sub`` up as its attribute, so a package whose ``__init__``
    imports a submodule that imports ``from pkg import sibling`` is a cycle (the
    ``hwnas.train`` <-> ``hwnas.train.loop`` one hid behind the submodule-only edge).
    ``from pkg.sub import name`` names the module that holds ``name``: an edge to ``pkg.sub``.
    """
    files = module_files(Path(root), packages)
    unique: dict[tuple[str, str], ImportEdge] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for base, names, line in _imports(tree, module, path.name == "__init__.py"):
            submodules = [f"{base}.{n}" for n in names if f"{base}.{n}" in files]
            for target in [*submodules, base]:
                if target in files and target != module:
                    edge = ImportEdge(module, target, line)
                    known = unique.get((module, target))
                    if known is None or line < known.line:
                        unique[(module, target)] = edge
    edges = sorted(unique.values(), key=lambda e: (e.importer, e.imported))
    return ImportGraph(frozenset(files), tuple(edges))


def find_cycles(graph: ImportGraph) -> tuple[tuple[str, ...], ...]:
    """Every group of two or more modules that reach each other (Tarjan's components)."""
    targets = {m: sorted(graph.targets(m)) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[tuple[str, ...]] = []

    def visit(start: str) -> None:
        # iterative, so deep chains cannot hit the recursion limit
        work = [(start, iter(targets[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            child = next(it, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(targets[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(tuple(sorted(group)))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return tuple(sorted(groups))


def layer_violations(graph: ImportGraph, layering: Layering) -> tuple[Violation, ...]:
    """Upward imports, core imports of plug-ins outside the registry, and unlayered modules."""
    found: list[Violation] = []
    ceiling = layering.layer_of(layering.plugin_ceiling)
    for module in sorted(graph.modules):
        if not layering.is_plugin(module) and layering.layer_of(module) is None:
            found.append(Violation("unlayered", module, module, "add it to LAYERS"))
    for edge in graph.edges:
        src, dst = edge.importer, edge.imported
        where = f"line {edge.line}"
        if layering.is_plugin(src):
            to = layering.layer_of(dst)
            if to is not None and ceiling is not None and to >= ceiling:
                why = f"{where}: plug-ins sit below {layering.plugin_ceiling}"
                found.append(Violation("upward", src, dst, why))
            continue
        if layering.is_plugin(dst):
            if src not in layering.registries:
                found.append(Violation("plugin", src, dst, f"{where}: load plug-ins through the registry"))
            continue
        have, want = layering.layer_of(src), layering.layer_of(dst)
        if have is not None and want is not None and want > have:
            found.append(Violation("upward", src, dst, f"{where}: layer {have} imports layer {want}"))
    return tuple(found)


def check_imports(root: Path, layering: Layering = Layering()) -> ImportReport:
    """Cycles and rule violations of the packages of ``layering`` found under ``root``."""
    graph = import_graph(Path(root), layering.packages)
    return ImportReport(find_cycles(graph), layer_violations(graph, layering))


def main() -> int:
    root = Path(__file__).resolve().parents[2]
    report = check_imports(root)
    for line in report.lines():
        print(line)
    return 1 if report.lines() else 0


if __name__ == "__main__":
    sys.exit(main())
