"""The house drawn from the imports: the command line assembles the parts and stands on
top, so no part imports it (issue 18: no arrow back up)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


PARTS = ("ioc", "streams", "simulators", "ioc_dashboard")
TOP = {"ioc.cli"}  # the composition root: it imports the parts, nothing imports it


def _imports(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_no_part_imports_the_command_line():
    back_up = []
    for part in PARTS:
        for path in sorted((REPO / part).rglob("*.py")):
            module = ".".join(path.relative_to(REPO).with_suffix("").parts)
            if module in TOP:
                continue
            back_up += [f"{module} imports {name}" for name in _imports(path) & TOP]
    assert back_up == []
