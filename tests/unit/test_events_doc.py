"""docs/events.md and docs/schemas/ agree with the event contract in ioc/contract.py.

Every ```json block of the page must decode with the real decoder, each event type has
exactly one example, and the JSON Schema files are what `ioc schemas` writes today.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from ioc import contract
from ioc.province import load_province
from ioc.settings import PROVINCES_DIR, Settings
from ioc.topics import topic_plan

REPO = Path(__file__).resolve().parents[2]

DOC = REPO / "docs" / "events.md"
SCHEMAS_DIR = REPO / "docs" / "schemas"
_FENCE = re.compile(r"^```json\s*\n(?P<body>.*?)^```\s*$", re.M | re.S)
_HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*$", re.M)


@dataclass(frozen=True)
class Example:
    heading: str
    raw: bytes
    line: int

    @property
    def named_type(self) -> str:
        """The event type the heading names (the one type name in it)."""
        named = [t for t in contract.EVENT_TYPES if re.search(rf"(?<![\w.]){re.escape(t)}(?![\w.])",
                                                             self.heading)]
        assert len(named) == 1, (
            f"docs/events.md line {self.line}: the heading before a json block must name one "
            f"event type, got {self.heading!r}")
        return named[0]


def examples() -> list[Example]:
    text = DOC.read_text(encoding="utf-8")
    found = []
    for block in _FENCE.finditer(text):
        headings = list(_HEADING.finditer(text, 0, block.start()))
        assert headings, "a json block comes before any heading"
        found.append(Example(headings[-1]["title"], block["body"].encode(),
                             text.count("\n", 0, block.start()) + 1))
    return found


EXAMPLES = examples()


def test_the_page_has_examples():
    assert len(EXAMPLES) == len(contract.EVENT_TYPES)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.heading)
def test_example_decodes_with_the_contract(example):
    event_type = example.named_type
    occurred_at = datetime.fromisoformat(json.loads(example.raw)["occurred_at"])
    event = contract.decode(example.raw, contract.FEED_OF[event_type], occurred_at)
    assert event.event_type == event_type, "the heading names another type than the example"
    assert event.occurred_at.utcoffset() is not None
    # the wire form a producer would send decodes to the same event
    assert contract.decode(contract.encode(event), event.feed, occurred_at) == event


def test_every_event_type_has_exactly_one_example():
    named = [e.named_type for e in EXAMPLES]
    missing = set(contract.EVENT_TYPES) - set(named)
    repeated = {t for t in named if named.count(t) > 1}
    assert not missing, f"no example for {sorted(missing)} in docs/events.md"
    assert not repeated, f"more than one example for {sorted(repeated)}"


def test_examples_use_codes_of_the_thanh_hoa_province():
    province = load_province(PROVINCES_DIR / "thanh-hoa.yaml")
    units = {u.code for u in province.units}
    links = {h.link_id: h for h in province.hospitals}
    procedures = {p.code: p for p in province.procedures}
    portals = {p.code for p in province.portals}
    for example in EXAMPLES:
        event = json.loads(example.raw)
        data = event["data"]
        assert set(event["unit_codes"]) <= units, example.heading
        if "link_id" in data:
            hospital = links[data["link_id"]]
            assert data["link_id"] == f"{data['hospital_code']}--{data['hub_code']}"
            assert (hospital.code, hospital.hub) == (data["hospital_code"], data["hub_code"])
            assert hospital.unit == event["unit_codes"][0]
        if "procedure_code" in data:
            assert procedures[data["procedure_code"]].agency == data["agency_code"]
        if "portal_code" in data:
            assert data["portal_code"] in portals


def test_page_names_every_topic_and_dead_letter_header():
    text = DOC.read_text(encoding="utf-8")
    for topic in topic_plan(Settings()):
        assert f"`{topic}`" in text, f"docs/events.md does not name the topic {topic}"
    for header in ("reason", "source_topic", "source_partition", "source_offset"):
        assert f"`{header}`" in text, f"docs/events.md does not name the {header} header"
    assert f"{contract.MAX_EVENT_BYTES:,}" in text
    assert f"{int(contract.MAX_FUTURE.total_seconds()) // 60} minutes" in text


def test_schema_files_match_the_contract(tmp_path):
    fresh_names = set(contract.write_json_schemas(tmp_path))
    committed = {p.name for p in SCHEMAS_DIR.glob("*.schema.json")} if SCHEMAS_DIR.is_dir() \
        else set()
    hint = "docs/schemas/ is out of date with ioc/contract.py: run `ioc schemas` and commit it"
    assert committed == fresh_names, f"{hint} (files differ: {sorted(committed ^ fresh_names)})"
    stale = [name for name in sorted(fresh_names)
             if (SCHEMAS_DIR / name).read_bytes() != (tmp_path / name).read_bytes()]
    assert not stale, f"{hint} (stale: {stale})"
    assert {n.removesuffix(".schema.json") for n in fresh_names} == \
        set(contract.EVENT_TYPES) | {"event"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.heading)
def test_a_third_party_validator_agrees_with_the_edge_on_the_time_bounds(example):
    """An integrator validating against docs/schemas/ with a common JSON Schema validator
    (jsonschema, Draft 2020-12, formats checked) accepts what the edge accepts and refuses a
    time the edge refuses: year 0001 passed the schemas before (issue 41, item 1)."""
    from jsonschema import Draft202012Validator

    event_type = example.named_type
    schema = json.loads((SCHEMAS_DIR / f"{event_type}.schema.json").read_text(encoding="utf-8"))
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    body = json.loads(example.raw)
    assert not list(validator.iter_errors(body))
    now = datetime.fromisoformat(body["occurred_at"])
    for wrong in ("0001-01-01T00:00:00+14:00", "1999-06-01T08:00:00+07:00",
                  "2100-03-02T08:00:00+07:00"):
        bad = {**body, "occurred_at": wrong}
        with pytest.raises(contract.ContractError):  # the edge refuses it...
            contract.decode(json.dumps(bad).encode(), contract.FEED_OF[event_type], now)
        errors = list(validator.iter_errors(bad))  # ...and so does the integrator's validator
        assert [list(e.path) for e in errors] == [["occurred_at"]], (wrong, errors)
