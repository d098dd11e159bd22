"""One probe of an endpoint: the seconds a round trip took, or None when it failed.

- `tcp://host:port`: a TCP connect (SYN, SYN-ACK, ACK): the path and the listener answer.
- `http(s)://...`: a GET and its answer (TCP and TLS set-up included, a new
  connection each time): any HTTP answer counts, whatever its status, since what is measured
  is the link, not the application behind it; a connection closed or reset before an answer,
  or no answer within the time-out, is a loss.

ICMP echo is not used: it needs a raw socket (root or CAP_NET_RAW), which the IOC's processes
do not have, and many hospital firewalls drop it while TCP to the telemedicine service passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit


async def tcp_round_trip(host: str, port: int, timeout: float) -> float | None:
    began = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return None
    took = time.perf_counter() - began
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return took


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return None  # a redirect is an answer: the link worked


_OPENER = urllib.request.build_opener(_NoRedirect)


def _http_round_trip(url: str, timeout: float) -> float | None:
    began = time.perf_counter()
    try:
        with _OPENER.open(urllib.request.Request(url, headers={
                "User-Agent": "ioc-probe", "Connection": "close"}), timeout=timeout):
            return time.perf_counter() - began
    except urllib.error.HTTPError as answer:  # answered, with an error status: reachable
        answer.close()
        return time.perf_counter() - began
    except (OSError, http.client.HTTPException):  # refused, reset, closed, timed out
        return None


async def http_round_trip(url: str, timeout: float) -> float | None:
    # the standard library's client, in a thread: it sends a request once (aiohttp sends an
    # idempotent request again on a connection closed before the answer, which would hide
    # exactly the losses a probe is for)
    return await asyncio.to_thread(_http_round_trip, url, timeout)


async def round_trip(endpoint: str, timeout: float) -> float | None:
    """One probe of `endpoint` (tcp://, http://, https://)."""
    parts = urlsplit(endpoint)
    if parts.scheme == "tcp":
        return await tcp_round_trip(parts.hostname or "", parts.port or 0, timeout)
    return await http_round_trip(endpoint, timeout)
