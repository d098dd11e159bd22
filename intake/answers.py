"""What the intake answers, as models: FastAPI writes them into the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class EventResult(BaseModel):
    """The verdict on one event of the request."""

    index: int = Field(description="The event's place in the request, from 0.")
    status: Literal["accepted", "duplicate", "refused"] = Field(
        description="accepted: on Kafka, to be stored; duplicate: an event with this id was "
                    "accepted before (or earlier in this request), nothing done; refused: "
                    "not taken, see reason and field.")
    event_id: str | None = Field(None, description="The event's id, when it gives one.")
    reason: str | None = Field(
        None, description="Why it was refused: the same labels as the dead-letter topic "
                          "(invalid_field, unknown_unit, future_timestamp ...) and "
                          "out_of_scope (a feed or entity the key may not send).")
    field: str | None = Field(None, description="The field at fault, e.g. data.link_id, "
                                                "unit_codes.0; absent: the whole event.")
    detail: str | None = Field(None, description="The reason in full.")


class Answer(BaseModel):
    """The intake's answer to a request it read: one result per event, in order."""

    source: str = Field(description="The source the key belongs to.")
    accepted: int
    duplicate: int
    refused: int
    results: list[EventResult]


class Problem(BaseModel):
    """A request refused as a whole (RFC 9457 problem details)."""

    title: str
    status: int
    detail: str


class Health(BaseModel):
    status: Literal["ok"]
