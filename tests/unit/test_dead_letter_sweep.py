"""The worker's dead-letter sweep: a database away at a pass is tried again at the next one,
never a crash of the worker (found by `ioc chaos --broker kafka`, database_outage)."""

from __future__ import annotations

import asyncio

import psycopg

from ioc.errors import ServiceError
from streams.app import sweep_once
from streams.sink import DeadLetter


class Sweeper:
    """An EventSink stand-in: `unpublished` answers with `answers` in turn (or raises them)."""

    def __init__(self, *answers):
        self.answers = list(answers)

    async def unpublished(self, held, older_than):
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _letter(feed: str, offset: int) -> DeadLetter:
    return DeadLetter(f"ioc.{feed}", 0, offset, feed, "bad value", b"{}")


def test_a_database_away_at_a_pass_is_tried_again_at_the_next():
    published: list[tuple[str, int]] = []

    async def publish(feed, letters, sink):
        published.extend((feed, d.offset) for d in letters)

    sweeper = Sweeper(
        ServiceError("cannot reach the database at 127.0.0.1:5 as ioc_writer"),
        psycopg.OperationalError("the connection was lost"),
        [_letter("payments", 7), _letter("portal", 3), _letter("payments", 9)])
    held = [("ioc.payments", 0), ("ioc.portal", 0)]
    assert asyncio.run(sweep_once(sweeper, held, publish)) == 0  # cannot connect
    assert asyncio.run(sweep_once(sweeper, held, publish)) == 0  # connection lost
    assert asyncio.run(sweep_once(sweeper, held, publish)) == 3  # back: all published
    assert sorted(published) == [("payments", 7), ("payments", 9), ("portal", 3)]
