"""The import layering of the design: eval is the base, distill and quantize build on it, the pipeline on all,
the benchmarks on top; and no circle of imports inside a package (function-local imports included)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("eval", "distill", "quantize", "pipeline", "benchmarks")
# What each package may import from the toolkit (besides itself).
ALLOWED = {"eval": set(), "distill": {"eval"}, "quantize": {"eval"}, "pipeline": {"eval", "distill", "quantize"},
           "benchmarks": {"eval", "distill", "quantize", "pipeline"}}


def _toolkit_imports(path: Path) -> set[str]:
    """Top-level toolkit packages a module imports, wherever the import statement stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_the_layers_below_it(package):
    wrong = {str(path.relative_to(ROOT)): sorted(_toolkit_imports(path) - ALLOWED[package] - {package})
             for path in sorted((ROOT / package).rglob("*.py"))}
    assert {path: names for path, names in wrong.items() if names} == {}


def test_the_checker_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from quantize import api\n    import distill.cli\n")
    assert _toolkit_imports(module) == {"quantize", "distill"}


def _module_graph(package_dir: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports (``from p import m`` counts m when m is a module)."""
    root = package_dir.parent
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        name = ".".join(path.with_suffix("").relative_to(root).parts).removesuffix(".__init__")
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        modules[name] = names
    return {name: {n for n in names if n in modules and n not in (name, package_dir.name)}
            for name, names in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The circles of a graph: its strongly connected components of more than one module."""
    found, done = [], set()
    for start in graph:
        if start in done:
            continue
        circle = sorted(m for m in _reachable(graph, start) if start in _reachable(graph, m))
        done |= set(circle)
        if len(circle) > 1:
            found.append(circle)
    return found


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        for nxt in graph[stack.pop()] - seen:
            seen.add(nxt)
            stack.append(nxt)
    return seen


@pytest.mark.parametrize("package", PACKAGES)
def test_no_circle_of_imports_inside_a_package(package):
    assert _cycles(_module_graph(ROOT / package)) == []


def test_the_circle_check_finds_a_circle_through_a_function_local_import(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.b import f\n")
    (package / "b.py").write_text("def f():\n    from pkg import c\n")
    (package / "c.py").write_text("import pkg.a\n")
    (package / "d.py").write_text("from pkg.a import f\n")
    assert _cycles(_module_graph(package)) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_the_kernel_of_eval_imports_nothing_of_the_harness():
    """eval/core is the ground floor: errors, configs, records, console, text files, outputs, model cards."""
    wrong = {}
    for path in sorted((ROOT / "eval" / "core").rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
        outside = sorted(n for n in names if (n == "eval" or n.startswith("eval.")) and not n.startswith("eval.core"))
        if outside:
            wrong[path.name] = outside
    assert wrong == {}


# The one benchmark module that reads internals, and why (its docstring says the same).
INTERNALS_ALLOWED = {
    "benchmarks/distill_speed/peers.py": "hands TextBrewer the toolkit's own batches, losses and optimizer, and "
                                         "times the loop's pieces one by one (the sum-of-parts limit)",
}


def _public_modules() -> set[str]:
    import importlib

    return {name for package in PACKAGES[:-1] for name in importlib.import_module(package).PUBLIC_MODULES}


def _module_imports(path: Path) -> set[str]:
    """Toolkit modules a file imports (``from p import m`` names m when m is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module_file = ROOT / node.module.replace(".", "/")
            found |= {f"{node.module}.{alias.name}" if (module_file / f"{alias.name}.py").is_file()
                      or (module_file / alias.name / "__init__.py").is_file() else node.module
                      for alias in node.names}
    return {name for name in found if name.split(".")[0] in PACKAGES[:-1]}


def _internal_imports(paths) -> dict[str, list[str]]:
    public = _public_modules()
    return {path.name: sorted(_module_imports(path) - public) for path in paths if _module_imports(path) - public}


def test_benchmarks_use_the_declared_public_api_only():
    paths = [p for p in sorted((ROOT / "benchmarks").rglob("*.py"))
             if str(p.relative_to(ROOT)) not in INTERNALS_ALLOWED]
    assert _internal_imports(paths) == {}


def test_every_declared_public_module_exists_and_the_check_sees_an_internal_import(tmp_path):
    import importlib

    for name in _public_modules():
        importlib.import_module(name)
    for path in INTERNALS_ALLOWED:
        assert (ROOT / path).is_file(), path
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from distill.loop import build_optimizer\n    from eval import harness, formats\n")
    assert _internal_imports([probe]) == {"probe.py": ["distill.loop", "eval.formats"]}
