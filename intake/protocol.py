"""uvicorn's HTTP protocol (httptools) with a deadline on a request's headers.

uvicorn times out an idle kept-alive connection, but not one that connects and sends
nothing, or sends its headers a byte at a time: each such client holds a connection for as
long as it likes, and enough of them reach the server's concurrency limit (slowloris). Here a
connection whose request line and headers are not complete within `header_seconds` of its
first byte (or of connecting) is closed. The body has its own deadline in the app
(`IOC_INTAKE_BODY_SECONDS`, answered 408).

It overrides four of uvicorn's protocol callbacks (connection_made, connection_lost,
on_message_begin, on_headers_complete): pyproject.toml bounds uvicorn's version for that.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class DeadlineProtocol(HttpToolsProtocol):
    header_seconds = 10.0
    _timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._timer = self.loop.call_later(self.header_seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _too_slow(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self.transport.close()


def with_deadline(seconds: float) -> type[DeadlineProtocol]:
    """The protocol class uvicorn makes for each connection, with this header deadline."""
    return type("IntakeProtocol", (DeadlineProtocol,), {"header_seconds": seconds})
