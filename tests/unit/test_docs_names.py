"""What the README and docs tell a reader to type or open exists: every `ioc` command and
flag they name is one `ioc` accepts, and every path of the repository they name is there
(issue 40, item 1). Docs drift quietly when code moves; this makes the drift a failure."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from ioc_command.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
# the repository's own top-level folders and files: a path starting with one is ours
TOP = {p.name for p in REPO.iterdir() if p.name in {".ci"} or not p.name.startswith(".")}

FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)
SPAN = re.compile(r"`([^`\n]+)`")
# `ioc NAME ...` up to what ends a command in prose, a table or a shell line
COMMAND = re.compile(r"(?<![\w.-])(?<!from )(?<!import )ioc\s+([a-z][a-z-]*)([^|;&()─►,]*)")
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
PATH = re.compile(r"(?:^|[\s(\[])([\w.-]+(?:/[\w.*-]+)+/?)")
# a folder table's row: | `pkg/` | ... `module.py` ... (README's layout, architecture's floors)
ROW = re.compile(r"^\|\s*(?:\d+\s*\|\s*)?`([\w]+/)`\s*\|(.*)$")
SHORT = re.compile(r"[\w./*-]+\.(?:py|yaml|sql|js|mjs)|[\w-]+/")


def _chunks(text: str) -> list[str]:
    """Code blocks and inline code: where the docs show what to type or open."""
    blocks = [m.group(1) for m in FENCE.finditer(text)]
    return blocks + [m.group(1) for m in SPAN.finditer(FENCE.sub("", text))]


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions
                  if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    found = {"--help"}
    for action in parser._actions:
        found |= set(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):  # `ioc alerts silence --for`
            for child in action.choices.values():
                found |= _flags(child)
    return found


def _exists(path: str, base: Path = REPO) -> bool:
    path = path.rstrip("/.").split(":")[0]  # file.py:123
    if "*" in path:
        return any(base.glob(path))
    return (base / path).exists()


def test_every_ioc_command_and_flag_the_docs_name_exists():
    commands = _subcommands()
    flags = {name: _flags(parser) for name, parser in commands.items()}
    wrong = []
    for doc in DOCS:
        for chunk in _chunks(doc.read_text(encoding="utf-8")):
            for line in chunk.splitlines():
                for m in COMMAND.finditer(line):
                    name, tail = m.group(1), m.group(2)
                    if name not in commands:
                        wrong.append(f"{doc.name}: `ioc {name}` is no command ({line.strip()})")
                        continue
                    wrong += [f"{doc.name}: `ioc {name}` has no {flag} ({line.strip()})"
                              for flag in FLAG.findall(tail) if flag not in flags[name]]
    assert not wrong, "\n".join(wrong)


def test_every_path_the_docs_name_exists():
    wrong = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for chunk in _chunks(text):
            for path in PATH.findall(chunk):
                placeholder = "<" in path or re.search(r"[A-Z]{3}", path)  # NNN_*.sql
                if path.split("/")[0] in TOP and not placeholder and not _exists(path):
                    wrong.append(f"{doc.name}: {path}")
        for line in text.splitlines():  # the folder tables name files by their short names
            row = ROW.match(line)
            if row is None or row.group(1).rstrip("/") not in TOP:
                continue
            base = REPO / row.group(1)
            for name in SPAN.findall(row.group(2)):
                if SHORT.fullmatch(name) and not (
                        _exists(name, base) or _exists(name)
                        or any(base.rglob(name.rstrip("/")))):
                    wrong.append(f"{doc.name}: {row.group(1)}{name}")
    assert not wrong, "\n".join(wrong)


def test_the_checks_above_catch_what_they_are_for():
    """The patterns find a command, a flag and a path where the docs write them."""
    commands = [m.group(1) for m in COMMAND.finditer(
        ".venv/bin/ioc chaos --scenario rebalance --times 5; from ioc import contract")]
    assert commands == ["chaos"]
    assert FLAG.findall(" --scenario rebalance --times 5") == ["--scenario", "--times"]
    assert PATH.findall("see streams/consumer.py and (ioc/sql/common/*.sql)") == \
        ["streams/consumer.py", "ioc/sql/common/*.sql"]
    assert _exists("streams/consumer.py") and _exists("ioc/sql/common/*.sql")
    assert not _exists("ioc/unit_codes.py")
