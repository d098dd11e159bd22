"""Why an event is refused, as a label a dashboard can count and the field at fault.

The worker's dead-letter topic and the HTTP intake's answers use the same labels, so a
source reads the same reason whichever way its events came in. The reasons themselves are
the free-text messages of `ContractError` (ioc/contract.py, ioc/known_codes.py), which start
with the field they are about ("data.link_id: unknown link ...").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FIELD = re.compile(r"^(?:data\.)?[a-z_]+(?:\.[a-z0-9_]+)*$")
# reasons about the event as a whole, whose head is not a field
_WHOLE = ("undecodable", "oversize", "missing event_type", "unknown event_type",
          "unknown schema version", "duplicate key", "feed ")


def reason_label(reason: str) -> str:
    """A low-cardinality label from a free-text reason ('undecodable: ...' -> 'undecodable')."""
    head = reason.split(":", 1)[0].strip()
    for known in ("undecodable", "oversize", "missing event_type", "unknown event_type",
                  "unknown schema version"):
        if head.startswith(known):
            return known.replace(" ", "_")
    if head.startswith("duplicate key"):
        return "duplicate_key"
    if "in the future" in reason:
        return "future_timestamp"
    if "in the past (the live limit" in reason:
        return "old_timestamp"
    for noun in ("unit", "hospital", "portal", "agency", "procedure", "centre"):
        if f"unknown {noun} code" in reason:
            return f"unknown_{noun}"
    if "unknown link" in reason:
        return "unknown_link"
    if head.startswith("feed "):
        return "wrong_feed"
    return "invalid_field"


def field_of(reason: str) -> str | None:
    """The field a reason is about ('data.link_id', 'unit_codes.0', 'occurred_at'), or None
    when it is about the event as a whole (not JSON, too big, no event_type)."""
    if reason.startswith("occurred_at "):
        return "occurred_at"
    if reason.startswith(("unknown event_type", "missing event_type")):
        return "event_type"
    if reason.startswith("unknown schema version"):
        return "schema_version"
    head = reason.split(":", 1)[0].strip()
    if head == "event" or head.startswith(_WHOLE) or not _FIELD.match(head):
        return None
    return head


@dataclass(frozen=True)
class Refusal:
    """One refused event: its reason's label, the field at fault (None: the whole event),
    and the reason in full."""

    reason: str
    field: str | None
    detail: str

    @classmethod
    def of(cls, detail: str) -> Refusal:
        return cls(reason_label(detail), field_of(detail), detail)
