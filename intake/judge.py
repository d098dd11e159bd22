"""The verdict on each event of a request, before anything is sent: the contract and the
province's codes (exactly as the worker judges them, so nothing accepted here is
dead-lettered there), then the key's scope (its feeds and, if limited, its entity codes)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from ioc import contract
from ioc.contract import Envelope
from ioc.errors import ContractError
from ioc.known_codes import KnownCodes
from ioc.refusals import Refusal
from ioc.sources import Grant

OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True)
class Judged:
    """One event of a request: its place in the body, its id when it has one, and either
    the decoded event (to send), or why it is refused, or neither (its id came earlier in
    the same request: a duplicate)."""

    index: int
    raw: bytes
    event_id: str | None
    event: Envelope | None = None
    refusal: Refusal | None = None

    @property
    def status(self) -> str:
        if self.refusal is not None:
            return "refused"
        return "duplicate" if self.event is None else "accepted"


def entities(event: Envelope) -> list[tuple[str, str]]:
    """(field, code) of every entity an event names: its units, and in its data the link,
    hospital, portal, agency and service centre."""
    named = [(f"unit_codes.{i}", code) for i, code in enumerate(event.unit_codes)]
    data = event.data  # type: ignore[attr-defined]  # every event type has data
    for name in ("link_id", "hospital_code", "portal_code", "agency_code", "centre_code"):
        code = getattr(data, name, None)
        if code is not None:
            named.append((f"data.{name}", code))
    return named


def out_of_scope(event: Envelope, grant: Grant) -> Refusal | None:
    """Why `grant` may not send `event`: a feed it was not given, or (when its codes are
    limited) no entity of the event among its codes; None when it may."""
    if event.feed not in grant.feeds:
        return Refusal(OUT_OF_SCOPE, "event_type",
                       f"event_type {event.event_type!r}: feed {event.feed!r} is not among "  # type: ignore[attr-defined]
                       f"source {grant.source!r}'s feeds ({', '.join(sorted(grant.feeds))})")
    if grant.codes:
        named = entities(event)
        if not any(code in grant.codes for _, code in named):
            field, code = named[-1]  # the most specific entity: the link, the portal ...
            return Refusal(OUT_OF_SCOPE, field,
                           f"{field}: {code!r} is not among source {grant.source!r}'s codes")
    return None


def _event_id(raw: bytes) -> str | None:
    """The id a refused event gives, if it gives one, so its sender can find it."""
    try:
        value = json.loads(raw).get("event_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and len(value) <= 64 else None


def judge(raws: list[bytes], grant: Grant, codes: KnownCodes, now: datetime,
          max_age: timedelta) -> list[Judged]:
    """The verdict on each event of a request, in order (`accepted` meaning: may be sent). An
    id given twice in one request is a duplicate the second time: the first one stands."""
    out: list[Judged] = []
    seen: set[str] = set()
    decode, check = contract.decode, codes.check
    for i, raw in enumerate(raws):
        try:
            event = check(decode(raw, None, now, max_age))
        except ContractError as exc:
            out.append(Judged(i, raw, _event_id(raw), refusal=Refusal.of(str(exc))))
            continue
        refusal = out_of_scope(event, grant)
        if refusal is not None:
            out.append(Judged(i, raw, event.event_id, refusal=refusal))
        elif event.event_id in seen:
            out.append(Judged(i, raw, event.event_id))
        else:
            seen.add(event.event_id)
            out.append(Judged(i, raw, event.event_id, event))
    return out
