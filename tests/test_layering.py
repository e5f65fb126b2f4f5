"""The import layering of the design: eval is the base, distill and quantize build on it, the pipeline on all."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("eval", "distill", "quantize", "pipeline")
# What each package may import from the toolkit (besides itself).
ALLOWED = {"eval": set(), "distill": {"eval"}, "quantize": {"eval"}, "pipeline": {"eval", "distill", "quantize"}}


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
