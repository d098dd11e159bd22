"""Who is at the wall: users with scrypt-hashed passwords in the database (wall_users, read
only through the operator path), or the identity a trusted reverse proxy puts in a header."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import Request, session

from ioc.settings import Settings

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """'scrypt$n$r$p$salt$hash' (hex), the format wall_users.password_hash stores."""
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored` (constant-time compare; False on a bad format)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(digest) // 2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def current_user(request: Request, settings: Settings) -> str | None:
    """The proxy's header when one is configured (and only then), else the login cookie."""
    if settings.wall_proxy_user_header:
        user = request.headers.get(settings.wall_proxy_user_header, "").strip()
        return user[:64] or None
    return session.get("user")
