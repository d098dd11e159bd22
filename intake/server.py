"""`ioc intake` serving: the app's collaborators made from settings, checked before
listening (a taken port, a database or broker that does not answer, an address beyond
loopback with no key to guard it), then uvicorn."""

from __future__ import annotations

import ipaddress
import logging

from prometheus_client import CollectorRegistry

from intake.app import Parts, create_app
from intake.keys import KeyRing
from intake.ledger import Connections, Ledger
from intake.protocol import with_deadline
from intake.publisher import Publisher
from intake.rate import RateLimit
from ioc.db import connect, writer_url
from ioc.errors import SettingsError
from ioc.known_codes import KnownCodes
from ioc.province import load_province
from ioc.services.process import check_port_free
from ioc.settings import Settings
from ioc.sources import LIVE_QUERY
from ioc.units import UnitsDataset

log = logging.getLogger(__name__)


def loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False



def guarded(settings: Settings, url: str) -> None:
    """Refuse to listen beyond loopback while no source has a live key: an open port that
    takes no key yet is one somebody configures in a hurry."""
    if loopback(settings.intake_host):
        return
    with connect(url, settings.db_schema) as conn:
        (live,) = conn.execute(LIVE_QUERY).fetchone()  # type: ignore[misc]
    if not live:
        raise SettingsError(
            f"IOC_INTAKE_HOST={settings.intake_host}: the intake listens beyond loopback only "
            "once a source has a key (`ioc sources add NAME --feeds ...`); until then it may "
            "listen on 127.0.0.1")


def parts(settings: Settings, url: str, bootstrap: str) -> Parts:
    connections = Connections(url, settings.db_schema)
    return Parts(keys=KeyRing(connections), ledger=Ledger(connections),
                 publisher=Publisher(settings, bootstrap),
                 codes=KnownCodes(load_province(settings.province_file), UnitsDataset()),
                 rate=RateLimit(settings.intake_rate), registry=CollectorRegistry())


def serve(settings: Settings, bootstrap: str) -> None:
    """Serve until SIGINT or SIGTERM (uvicorn's own handling: requests in flight finish)."""
    import uvicorn

    check_port_free(settings.intake_host, settings.intake_port, "IOC_INTAKE_PORT")
    url = writer_url(settings)
    guarded(settings, url)
    made = parts(settings, url, bootstrap)
    app = create_app(settings, made)
    config = uvicorn.Config(
        app, host=settings.intake_host, port=settings.intake_port, loop="uvloop",
        http=with_deadline(settings.intake_body_seconds), access_log=False,
        log_level=settings.log_level.lower(),
        timeout_keep_alive=5, timeout_graceful_shutdown=10, limit_concurrency=500,
        server_header=False)
    log.info("intake listening on http://%s:%d/v1/events", settings.intake_host,
             settings.intake_port)
    try:
        uvicorn.Server(config).run()
    finally:
        made.publisher.close()
