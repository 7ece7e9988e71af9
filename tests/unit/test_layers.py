"""The direction of imports between the package's capabilities (docs/architecture.md, "Layers").

rules -> model -> engine parts -> calls -> services -> cli: a package may import its own layer's or a
lower layer's packages, never a higher one's, and the packages' import graph has no cycle. A new
package must be given its layer here. A small AST walk: every ``import`` and ``from ... import``,
including those under ``if TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "callrec_ari"

LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("pure rules", frozenset({"rules"})),
    ("shared data and plumbing", frozenset({"model", "settings", "ari", "ami", "db", "observability",
                                            "net"})),
    ("configuration", frozenset({"config"})),
    ("engine parts", frozenset({"media", "recording", "streaming"})),
    ("call flow", frozenset({"calls"})),
    ("services", frozenset({"app", "delivery", "contracts", "billing", "notices", "portal", "receiver",
                            "pbx"})),
    ("entry points", frozenset({"cli", "__main__"})),
)
RANK = {pkg: rank for rank, (_, pkgs) in enumerate(LAYERS) for pkg in pkgs}


def top_package(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def imported(tree: ast.AST) -> set[str]:
    """The callrec_ari packages a module imports (their first component)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "callrec_ari" and len(parts) > 1:
                out.add(parts[1])
    return out


def package_imports() -> dict[str, dict[str, set[str]]]:
    """package -> imported package -> the files that import it."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in sorted(PACKAGE.rglob("*.py")):
        source = top_package(path)
        for target in imported(ast.parse(path.read_text(), str(path))):
            if target != source:
                graph[source][target].add(str(path.relative_to(PACKAGE.parent)))
    return graph


def test_every_package_has_a_layer() -> None:
    packages = {top_package(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert packages - RANK.keys() == set(), "give the new package its layer in LAYERS"


def test_no_import_goes_up_a_layer() -> None:
    upward = [
        f"{source} ({LAYERS[RANK[source]][0]}) imports {target} ({LAYERS[RANK[target]][0]}) "
        f"in {sorted(files)}"
        for source, targets in package_imports().items()
        for target, files in targets.items()
        if source in RANK and target in RANK and RANK[target] > RANK[source]
    ]
    assert upward == []


def test_no_package_cycle() -> None:
    graph = {source: set(targets) for source, targets in package_imports().items()}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                cycles.append([*path[path.index(nxt):], nxt])
            elif len(path) < len(graph) + 1:
                visit(nxt, [*path, nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert cycles == []


@pytest.mark.parametrize(("source", "target"),
                         [("calls", "delivery"), ("rules", "model"), ("model", "calls")])
def test_the_walk_sees_an_upward_import(tmp_path: Path, source: str, target: str) -> None:
    # the check itself can fail: an upward import written in a module is found
    tree = ast.parse(f"from callrec_ari.{target}.x import y\nimport callrec_ari.{target}\n")
    assert imported(tree) == {target} and RANK[target] > RANK[source]
