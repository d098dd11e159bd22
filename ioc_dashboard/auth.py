"""Who is at the wall: users with scrypt-hashed passwords in the database (wall_users, read
only through the operator path) holding a server-side session, or the identity a trusted
reverse proxy puts in a header."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from typing import Protocol

from flask import Request, g, session

from ioc.settings import Settings
from ioc_dashboard.actions import ActionError

log = logging.getLogger(__name__)
LOOPBACK = ("127.0.0.1", "::1")

# OWASP's Password Storage Cheat Sheet: scrypt with N = 2^17, r = 8, p = 1 (128 MiB, about
# 0.3 s here per hash). Hashes made with other parameters (2^14 before December 2026) still
# verify and are replaced with these at the user's next login (`needs_rehash`).
_N, _R, _P = 2**17, 8, 1
# hashlib's default memory limit (32 MiB) is below what N = 2^17 needs (128 * r * N bytes)
_MAXMEM = 256 * 1024 * 1024


def hash_password(password: str) -> str:
    """'scrypt$n$r$p$salt$hash' (hex), the format wall_users.password_hash stores."""
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32,
                            maxmem=_MAXMEM)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored` (constant-time compare; False on a bad format)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(digest) // 2, maxmem=_MAXMEM)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def needs_rehash(stored: str) -> bool:
    """Whether `stored` was made with other parameters than `hash_password` uses now."""
    return not stored.startswith(f"scrypt${_N}${_R}${_P}$")


class Sessions(Protocol):
    """Where sessions live (the operator path, `actions.Operator`)."""

    def session_user(self, token_hash: str, idle_seconds: int) -> str | None: ...


def token_hash(token: str) -> str:
    """What the database keeps of a session token: never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _from_proxy(request: Request, settings: Settings) -> bool:
    """The request comes from a proxy we trust (configured, or on this machine if none is)."""
    return request.remote_addr in (settings.wall_trusted_proxies or LOOPBACK)


def client_address(request: Request, settings: Settings) -> str:
    """The client's address: the connection's, or the nearest address a trusted proxy
    forwarded (anything further left in X-Forwarded-For is the client's own claim)."""
    peer = request.remote_addr or ""
    if settings.wall_trusted_proxies and peer in settings.wall_trusted_proxies:
        forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",")]
        for address in reversed(forwarded):
            if address and address not in settings.wall_trusted_proxies:
                return address[:100]
    return peer


def is_secure(request: Request, settings: Settings) -> bool:
    """Served over TLS, directly or as a trusted proxy says (cookies must then be Secure)."""
    if request.is_secure:
        return True
    return (bool(settings.wall_trusted_proxies)
            and request.remote_addr in settings.wall_trusted_proxies
            and request.headers.get("X-Forwarded-Proto", "").lower() == "https")


def current_user(request: Request, settings: Settings, sessions: Sessions | None) -> str | None:
    """The proxy's header when one is configured (and only then, and only from the proxy),
    else the user of the live server-side session the login cookie names. Asked once per
    request: a session that ended (logout, disabled user, idle, expired) is refused at once.
    """
    if settings.wall_proxy_user_header:
        if not _from_proxy(request, settings):
            return None
        user = request.headers.get(settings.wall_proxy_user_header, "").strip()
        return user[:64] or None
    if "wall_user" in g:
        return g.wall_user
    token = session.get("sid")
    user = None
    if isinstance(token, str) and sessions is not None:
        try:
            user = sessions.session_user(token_hash(token), settings.wall_session_idle_seconds)
        except ActionError as exc:  # the database does not answer: nobody is logged in
            log.warning("session lookup failed: %s", exc)
    g.wall_user = user
    return user
