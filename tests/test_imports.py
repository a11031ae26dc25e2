"""The packages' own imports form no cycle, and the layers only import downwards (read from the
source, so an import inside a function counts too)."""
import ast
from pathlib import Path
from typing import Dict, List, Set

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("base_codecs", "dirac")


def module_files() -> Dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: Dict[str, Path]) -> Set[str]:
    """The package modules ``name`` imports; ``from pkg import sub`` names the submodule, not pkg."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            subs = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules]
            found.update(subs if subs else [base] if base in modules else [])
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
    found.discard(name)
    return found


def import_graph() -> Dict[str, Set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                group.append(other)
                if other == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_layers_import_only_downwards():
    """codecs -> core -> enhancer API -> commands; training beside the API, never under it."""
    graph = import_graph()
    forbidden = {
        "base_codecs": ("dirac",),
        "dirac.core": ("dirac.training", "dirac.commands", "dirac.cli", "dirac.enhancer", "dirac.viewer"),
        "dirac.enhancer": ("dirac.training", "dirac.commands", "dirac.cli"),
        "dirac.training": ("dirac.commands", "dirac.cli", "dirac.enhancer"),
        "dirac.metrics": ("dirac.training", "dirac.commands", "dirac.cli", "dirac.enhancer", "dirac.viewer"),
    }
    wrong = [f"{name} -> {other}" for name, deps in graph.items() for layer, banned in forbidden.items()
             if name == layer or name.startswith(layer + ".")
             for other in deps if any(other == b or other.startswith(b + ".") for b in banned)]
    assert wrong == []
