"""The package's layers import only downward: grammar -> dsl -> compiler -> runtime -> the public API (the root
``__init__``) -> benchmarks (which use segmint as its users do). Read from the source with ``ast``, so an import
inside a function counts too."""

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
LAYERS = ("grammar", "dsl", "compiler", "runtime", "", "benchmarks")  # "": the root package, segmint/__init__.py


def layer(module: str) -> int:
    """The layer of a dotted module name inside segmint ("segmint.compiler.ir" -> 2)."""
    parts = module.split(".")[1:]
    return LAYERS.index(parts[0] if parts and parts[0] in LAYERS else "")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(("segmint", *(parts[:-1] if parts[-1] == "__init__" else parts)))


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every segmint module that ``path`` imports."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "segmint"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "segmint":
                found.append((node.lineno, target))
    return found


SOURCES = sorted(p for p in ROOT.glob("**/*.py") if p.relative_to(ROOT).parts[0] in (*LAYERS, "__init__.py"))


def test_the_walk_sees_the_package():
    assert {module_name(p) for p in SOURCES} >= {"segmint", "segmint.dsl.parser", "segmint.compiler.ir"}
    assert layer("segmint.runtime.segment") > layer("segmint.compiler.ir") > layer("segmint.dsl.errors")
    assert "segmint.dsl.parser" in {target for _, target in imports(ROOT / "compiler" / "pipeline.py")}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_downward(path):
    own = layer(module_name(path))
    upward = [f"line {line}: {target}" for line, target in imports(path) if layer(target) > own]
    assert not upward, f"{path.relative_to(ROOT)} (layer {LAYERS[own] or 'root'}) imports upward: {upward}"


def test_every_package_is_installed():
    """pyproject.toml lists every folder with an __init__.py: a missing one works in an editable install and is
    absent from a real one (a wheel, CI)."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    found = {module_name(init) for init in SOURCES if init.name == "__init__.py"}
    assert found == listed
