"""The import rules (``hwnas.testing.imports.LAYERS``): no cycles, no upward or plug-in imports."""

from pathlib import Path

from hwnas.testing.imports import Layering, check_imports, import_graph

ROOT = Path(__file__).resolve().parents[1]


def test_project_has_no_import_cycle():
    report = check_imports(ROOT)
    assert report.cycles == (), "\n".join(report.lines())


def test_project_has_no_layer_or_plugin_violation():
    report = check_imports(ROOT)
    found = {str(v) for v in report.violations}
    assert not found, "\n".join(f"{v}  ({v.detail})" for v in report.violations)


def test_space_layer_stands_below_nn():
    graph = import_graph(ROOT, ("hwnas",))
    space_imports = {e.imported for e in graph.edges if e.importer.startswith("hwnas.space")}
    # layer 0 only below it: typed errors, the strict JSON reader, the schema helpers
    assert space_imports and all(m.startswith(("hwnas.space", "hwnas.errors", "hwnas.io", "hwnas.schema"))
                                 for m in space_imports)


# --- the checker itself, on a tiny package it must find fault with ---------------------------
TOY = Layering(
    layers=(("toy", "toy.low"), ("toy.mid",), ("toy.high",)),
    core="toy", plugins=("plug",), registries=("toy.registry",), plugin_ceiling="toy.high",
)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _toy(tmp_path: Path, **extra: str) -> Path:
    files = {
        "toy/__init__.py": "",
        "toy/low.py": "import os\n",
        "toy/mid/__init__.py": "",
        "toy/mid/a.py": "from toy.low import thing\n",
        "toy/high.py": "from toy.mid import a\n",
        "plug/__init__.py": "",
        "plug/p.py": "from toy.mid.a import x\n",
    }
    files.update({k.replace("__", "/") + ".py": v for k, v in extra.items()})
    _write(tmp_path, files)
    return tmp_path


def test_checker_passes_a_clean_package(tmp_path):
    # a package's __init__ may re-export a submodule that imports a sibling by its module path
    root = _toy(tmp_path, toy__mid__b="from toy.mid.a import thing\nimport toy.mid.a\n")
    _write(root, {"toy/mid/__init__.py": "from toy.mid.b import y\n"})
    report = check_imports(root, TOY)
    assert report.cycles == () and report.violations == ()


def test_checker_counts_the_package_of_from_package_import_submodule(tmp_path):
    # ``from toy.mid import a`` runs toy/mid/__init__.py, which imports b: the hwnas.train <->
    # hwnas.train.loop shape, which an edge to the submodule alone hid
    root = _toy(tmp_path, toy__mid__b="from toy.mid import a\n")
    _write(root, {"toy/mid/__init__.py": "from toy.mid.b import y\n"})
    graph = import_graph(root, ("toy",))
    assert {e.imported for e in graph.edges if e.importer == "toy.mid.b"} == {"toy.mid", "toy.mid.a"}
    assert check_imports(root, TOY).cycles == (("toy.mid", "toy.mid.b"),)


def test_checker_finds_a_cycle_through_a_lazy_import(tmp_path):
    root = _toy(tmp_path, toy__mid__b="def f():\n    from toy.mid import a\n")
    _write(root, {"toy/mid/a.py": "from toy.low import thing\nfrom . import b\n"})
    report = check_imports(root, TOY)
    assert report.cycles == (("toy.mid.a", "toy.mid.b"),)
    assert report.violations == ()


def test_checker_finds_an_upward_import(tmp_path):
    root = _toy(tmp_path, toy__mid__c="import toy.high\n")
    report = check_imports(root, TOY)
    assert [str(v) for v in report.violations] == ["upward: toy.mid.c -> toy.high"]
    assert "line 1" in report.violations[0].detail


def test_checker_finds_core_imports_of_plugins_outside_the_registry(tmp_path):
    root = _toy(tmp_path, toy__low2="", toy__registry="import plug.p\n",
                toy__mid__d="from plug import VERSION\n\ndef load():\n    from plug import p\n")
    layering = Layering(layers=(*TOY.layers, ("toy.registry", "toy.low2")), core="toy", plugins=("plug",),
                        registries=("toy.registry",), plugin_ceiling="toy.high")
    found = {str(v) for v in check_imports(root, layering).violations}
    assert found == {"plugin: toy.mid.d -> plug", "plugin: toy.mid.d -> plug.p"}  # a name, a module


def test_checker_flags_plugins_above_the_ceiling_and_unlayered_modules(tmp_path):
    root = _toy(tmp_path, plug__q="from toy import high\n", toy__stray="")
    found = {str(v) for v in check_imports(root, TOY).violations}
    assert found == {"upward: plug.q -> toy.high", "unlayered: toy.stray -> toy.stray"}
