"""Database connections for the roles: owner (migrations), writer (streams), reader (wall),
operator (acknowledge/silence functions only)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg

from ioc.errors import ServiceError

if TYPE_CHECKING:
    from ioc.settings import Settings

WRITER_ROLE = "ioc_writer"
READER_ROLE = "ioc_reader"
OPERATOR_ROLE = "ioc_operator"


def writer_url(settings: Settings) -> str:
    """The writer role's URL, for the parts that store (the worker, the intake)."""
    assert settings.database_url, "a part that writes needs IOC_DATABASE_URL (ioc up sets it)"
    return role_url(settings.database_url, WRITER_ROLE, settings.writer_password)


def role_url(owner_url: str, role: str, password: str | None) -> str:
    """The owner's URL with another role (and its password) in it."""
    parts = urlsplit(owner_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = quote(role, safe="")
    if password:
        netloc += ":" + quote(password, safe="")
    netloc += "@" + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _options(schema: str, autocommit: bool, timeout: float, application_name: str) -> dict:
    return {
        "autocommit": autocommit,
        "connect_timeout": max(1, int(timeout)),
        "options": f"-c search_path={schema},public",
        "application_name": application_name,
    }


def _unreachable(url: str, exc: Exception) -> ServiceError:
    parts = urlsplit(url)
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return ServiceError(
        f"cannot reach the database at {parts.hostname}:{parts.port or 5432} "
        f"as {parts.username}: {first}"
    )


def connect(url: str, schema: str, *, autocommit: bool = False, timeout: float = 5,
            application_name: str = "ioc") -> psycopg.Connection:
    """Open a connection whose search_path is the IOC schema; say plainly when it fails."""
    try:
        return psycopg.connect(url, **_options(schema, autocommit, timeout, application_name))
    except psycopg.OperationalError as exc:
        raise _unreachable(url, exc) from None


async def connect_async(url: str, schema: str, *, autocommit: bool = False, timeout: float = 5,
                        application_name: str = "ioc") -> psycopg.AsyncConnection:
    """Async twin of `connect`, for the stream processors."""
    try:
        return await psycopg.AsyncConnection.connect(
            url, **_options(schema, autocommit, timeout, application_name)
        )
    except psycopg.OperationalError as exc:
        raise _unreachable(url, exc) from None
