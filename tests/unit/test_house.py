"""The house drawn from the imports (issue 18): floors, each importing only the floors below
it, and no import cycle between modules. docs/architecture.md draws the same house."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# package → floor; a package may import its own floor-mates only where allowed below
FLOORS = {
    "ioc": 0,            # settings, contract, storage, migrations, embedded services
    "streams": 1,        # the parts: stream processor and alert engine,
    "simulators": 1,     #   simulated province and replay,
    "ioc_dashboard": 1,  #   the wall,
    "intake": 1,         #   the HTTP intake,
    "prober": 1,         #   the link prober; they never import each other
    "proof": 2,          # chaos, soak, benchmarks: they drive the parts
    "ioc_command": 3,    # the composition root: the `ioc` command and `ioc up`
}


def modules(root: Path, floors: dict[str, int]) -> dict[str, Path]:
    found = {}
    for package in floors:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules `module` imports anywhere in its body (lazy imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if path.name == "__init__.py" else \
                    module.split(".")[:-1]
                base = ".".join(package[:len(package) - node.level + 1] + [base] * bool(base))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name in known and name != module}


def graph(root: Path = REPO, floors: dict[str, int] = FLOORS) -> dict[str, set[str]]:
    known = modules(root, floors)
    return {module: imports(module, path, known) for module, path in known.items()}


def wrong_arrows(edges: dict[str, set[str]], floors: dict[str, int]) -> list[str]:
    """Imports that go up a floor, or sideways between the parts of floor 1."""
    wrong = []
    for module, names in edges.items():
        here = module.split(".")[0]
        for name in names:
            there = name.split(".")[0]
            up = floors[there] > floors[here]
            sideways = there != here and floors[there] == floors[here] == 1
            if up or sideways:
                wrong.append(f"{module} imports {name}")
    return sorted(wrong)


def cycles(edges: dict[str, set[str]]) -> list[str]:
    """Every import cycle a depth-first walk meets, as `a → b → a`."""
    found, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for name in sorted(edges[module]):
            if state.get(name) == "open":
                found.append(" → ".join(path[path.index(name):] + [name]))
            elif name not in state:
                visit(name, path + [name])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    return found


def test_every_package_is_on_a_floor():
    top = {p.name for p in REPO.iterdir() if (p / "__init__.py").is_file()} - {"tests"}
    assert top == set(FLOORS)


def test_imports_go_down_only_and_parts_do_not_lean_on_each_other():
    wrong = wrong_arrows(graph(), FLOORS)
    assert not wrong, "arrows that break the floors:\n" + "\n".join(wrong)


def test_no_import_cycle_between_modules():
    found = cycles(graph())
    assert not found, "import cycles:\n" + "\n".join(found)


def test_the_checker_sees_a_cycle_and_an_arrow_up(tmp_path):
    """The two checks above would fail on a house that breaks them."""
    for package, body in (("ioc", "from streams import sink\n"),
                          ("streams", "from . import sink\n"), ("proof", "")):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(body)
    (tmp_path / "streams" / "sink.py").write_text("import ioc\n")
    floors = {"ioc": 0, "streams": 1, "proof": 2}
    edges = graph(tmp_path, floors)
    assert edges == {"ioc": {"streams", "streams.sink"}, "streams": {"streams.sink"},
                     "streams.sink": {"ioc"}, "proof": set()}
    assert cycles(edges) == ["ioc → streams → streams.sink → ioc"]
    assert wrong_arrows(edges, floors) == ["ioc imports streams", "ioc imports streams.sink"]
