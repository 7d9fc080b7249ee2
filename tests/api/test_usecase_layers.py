"""Inside `api`, the arrows of style.md "From the first review": the edges (REST, USSD, back office)
call use-cases and queries; use-cases call queries; queries read only. No edge builds a Payment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EDGES = ("api/rest", "api/ussd", "api/admin")
# module prefix -> api modules it must not import
FORBIDDEN = {
    "api/queries": ("api.usecases", "api.rest", "api.ussd", "api.admin", "api.service", "api.vend"),
    "api/usecases": ("api.rest", "api.ussd", "api.admin"),
}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_inner_layers_do_not_import_outer_ones(layer: str) -> None:
    files = sorted((ROOT / layer).rglob("*.py"))
    assert files
    for path in files:
        bad = {n for n in _imports(path) if n.startswith(FORBIDDEN[layer])}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_no_edge_builds_a_payment() -> None:
    for edge in EDGES:
        for path in sorted((ROOT / edge).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    assert node.func.id != "Payment", f"{path.relative_to(ROOT)} builds a Payment"
