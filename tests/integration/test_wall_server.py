"""The wall's HTTP side through Flask's test client on the real database: security headers,
/metrics closed by default, viewing behind a login, and identity from a trusted proxy."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest

from ioc.db import connect
from ioc_dashboard.actions import ActionError, Operator
from ioc_dashboard.app import create_app
from ioc_dashboard.auth import hash_password, needs_rehash, verify_password
from ioc_dashboard.data import WallData

pytestmark = pytest.mark.integration


def _client(settings):
    app = create_app(settings, WallData.from_settings(settings),
                     operator=Operator.from_settings(settings))
    assert not app.server.debug  # never Flask's debug mode
    return app.server.test_client()


def test_security_headers_and_closed_metrics(migrated):
    client = _client(migrated)
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "SAMEORIGIN"  # the kiosk may frame its own site
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'self'" in csp
    assert "object-src 'none'" in csp and "unsafe-eval" not in csp
    assert client.get("/metrics").status_code == 404  # not public without a token

    client = _client(migrated.with_(wall_metrics_token="s3cret-token"))
    assert client.get("/metrics").status_code == 401
    metrics = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert metrics.status_code == 200 and b"ioc_wall_read_seconds " in metrics.data
    # Prometheus' own linter passes it, as it does the worker's
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: `make test-deps` installs Debian's prometheus package"
    check = subprocess.run([promtool, "check", "metrics"], input=metrics.data.decode(),
                           capture_output=True, text=True)
    assert check.returncode == 0 and not (check.stdout + check.stderr).strip(), (
        check.stdout + check.stderr)


def test_viewing_behind_a_login(migrated):
    with connect(migrated.database_url, migrated.db_schema, autocommit=True) as conn:
        conn.execute("INSERT INTO wall_users (username, display_name, password_hash)"
                     " VALUES ('an.nguyen', 'Nguyễn An', %s) ON CONFLICT DO NOTHING",
                     (hash_password("bí mật 2026"),))
    client = _client(migrated.with_(wall_view="login"))
    first = client.get("/alerts")
    assert first.status_code == 302 and first.headers["Location"].startswith("/login?next=/alerts")
    assert client.get("/healthz").status_code == 200  # health stays open for probes
    assert client.post("/_dash-update-component", json={}).status_code == 401
    wrong = client.post("/login", data={"username": "an.nguyen", "password": "sai"})
    assert wrong.status_code == 401 and "Sai tên đăng nhập" in wrong.get_data(as_text=True)
    ok = client.post("/login", data={"username": "an.nguyen", "password": "bí mật 2026",
                                     "next": "https://evil.example/"})
    assert ok.status_code == 302 and ok.headers["Location"] == "/"  # no open redirect
    assert client.get("/alerts").status_code == 200


def test_identity_from_a_trusted_proxy_header(migrated):
    client = _client(migrated.with_(wall_view="login", wall_proxy_user_header="X-Remote-User"))
    assert client.get("/", headers={"X-Remote-User": "chi.tran"}).status_code == 200
    refused = client.get("/")  # no header: the proxy did not authenticate; no login loop
    assert refused.status_code == 401
    assert "reverse proxy" in refused.get_data(as_text=True)


def _user(migrated, name: str = "an.nguyen", password: str = "bí mật 2026") -> None:
    with connect(migrated.database_url, migrated.db_schema, autocommit=True) as conn:
        conn.execute("INSERT INTO wall_users (username, display_name, password_hash)"
                     " VALUES (%s, 'Nguyễn An', %s) ON CONFLICT (username) DO UPDATE"
                     " SET disabled = false", (name, hash_password(password)))


def _login(client, password: str = "bí mật 2026", user: str = "an.nguyen", **kw):
    return client.post("/login", data={"username": user, "password": password}, **kw)


def _owner(migrated, sql: str, *params) -> None:
    with connect(migrated.database_url, migrated.db_schema, autocommit=True) as conn:
        conn.execute(sql, params)


def test_a_session_ends_at_logout_disable_idle_and_expiry_even_for_a_copied_cookie(migrated):
    _user(migrated)
    # one signing key for both walls below (as IOC_WALL_SECRET gives every wall process)
    settings = migrated.with_(wall_view="login", wall_secret="k" * 32)
    client = _client(settings)
    login = _login(client)
    assert login.status_code == 302
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Expires=" in cookie
    assert "Secure" not in cookie  # plain http, no proxy saying otherwise
    copied = client.get_cookie("ioc_wall").value
    assert client.get("/alerts").status_code == 200

    def with_copied_cookie() -> int:
        other = _client(settings)
        other.set_cookie("ioc_wall", copied)
        return other.get("/alerts").status_code

    assert with_copied_cookie() == 200
    client.get("/logout")
    assert client.get("/alerts").status_code == 302
    assert with_copied_cookie() == 302  # logout ended the session, not just this cookie

    for end in ("UPDATE wall_users SET disabled = true",  # ioc wall-user disable
                "UPDATE wall_sessions SET last_seen_at = now() - interval '13 hours'",  # idle
                "UPDATE wall_sessions SET expires_at = now()"):  # absolute limit
        _user(migrated)
        assert _login(client).status_code == 302 and client.get("/alerts").status_code == 200
        copied = client.get_cookie("ioc_wall").value
        _owner(migrated, end)
        assert client.get("/alerts").status_code == 302, end
        assert client.post("/_dash-update-component", json={}).status_code == 401, end
        _user(migrated)  # enabled again: the old session stays ended
        assert with_copied_cookie() == 302, end

    with connect(migrated.database_url, migrated.db_schema) as conn:
        actions = [r[0] for r in conn.execute(
            "SELECT action FROM audit_log WHERE actor = 'an.nguyen' ORDER BY id")]
    assert actions == ["login", "logout", "login", "login", "login"]


def test_the_session_cookie_is_secure_behind_a_trusted_tls_proxy(migrated):
    _user(migrated)
    settings = migrated.with_(wall_view="login", wall_trusted_proxies=("127.0.0.1",))
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.4"}
    assert "Secure" in _login(_client(settings), headers=https).headers["Set-Cookie"]
    # the same header from a machine that is not the proxy is not believed
    untrusted = migrated.with_(wall_view="login", wall_trusted_proxies=("10.9.9.9",))
    assert "Secure" not in _login(_client(untrusted), headers=https).headers["Set-Cookie"]


def test_failed_logins_are_limited_audited_and_cost_the_same_for_unknown_users(
        migrated, monkeypatch):
    _user(migrated)
    client = _client(migrated.with_(wall_view="login"))
    for _ in range(5):
        assert _login(client, "sai mật khẩu").status_code == 401
    held = _login(client)  # the right password, but too late
    assert held.status_code == 429 and int(held.headers["Retry-After"]) > 800
    assert "Đăng nhập sai quá nhiều lần; thử lại sau 15 phút" in held.get_data(as_text=True)
    # another user from the same machine may still try (its own count, and the address's)
    _user(migrated, "chi.tran", "mật khẩu của chi")
    assert _login(client, "mật khẩu của chi", user="chi.tran").status_code == 302

    scrypt = hashlib.scrypt
    calls: list[int] = []

    def counted(*args, **kw):
        calls.append(1)
        return scrypt(*args, **kw)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    for user in ("chi.tran", "khong.co.ai"):  # a real user, and one that does not exist
        calls.clear()
        assert _login(client, "sai mật khẩu", user=user).status_code == 401
        assert len(calls) == 1, user
    with connect(migrated.database_url, migrated.db_schema) as conn:
        refused = conn.execute("SELECT actor, detail->>'reason' FROM audit_log"
                               " WHERE action = 'login_refused' ORDER BY id").fetchall()
    assert refused[5] == ("an.nguyen", "too many failures")
    assert refused[-1] == ("khong.co.ai", "wrong user name or password")


def test_an_older_password_hash_is_replaced_at_the_next_login_and_sessions_live_on(migrated):
    """OWASP's scrypt parameters (N = 2^17) for every hash, old ones upgraded at login; the
    wall can only replace the hash it has just verified, with one of the current format."""
    salt = bytes(range(16))
    digest = hashlib.scrypt("bí mật 2026".encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    old = f"scrypt${2**14}$8$1${salt.hex()}${digest.hex()}"
    assert needs_rehash(old) and not needs_rehash(hash_password("bí mật 2026"))
    _owner(migrated, "INSERT INTO wall_users (username, display_name, password_hash)"
           " VALUES ('an.nguyen', 'Nguyễn An', %s)", old)
    settings = migrated.with_(wall_view="login", wall_secret="k" * 32)
    first = _client(settings)
    assert _login(first).status_code == 302  # the old hash still lets the user in...
    with connect(migrated.database_url, migrated.db_schema) as conn:
        (stored,) = conn.execute(
            "SELECT password_hash FROM wall_users WHERE username = 'an.nguyen'").fetchone()
    assert stored.startswith(f"scrypt${2**17}$8$1$") and not needs_rehash(stored)  # ...once
    assert verify_password("bí mật 2026", stored)
    assert first.get("/alerts").status_code == 200  # the session begun before lives on
    second = _client(settings)
    assert _login(second).status_code == 302 and second.get("/alerts").status_code == 200
    op = Operator.from_settings(migrated)
    # only the hash just verified, only with the current parameters
    assert not op.password_rehash("an.nguyen", old, hash_password("another one 2026"))
    with pytest.raises(ActionError, match="N=131072"):
        op.password_rehash("an.nguyen", stored, old)
    # a new password through `ioc wall-user` still ends every session
    _owner(migrated, "UPDATE wall_users SET password_hash = %s WHERE username = 'an.nguyen'",
           hash_password("another one 2026"))
    assert first.get("/alerts").status_code == 302
