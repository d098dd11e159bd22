"""`ioc probe`: the IOC measures the telemedicine links whose hospitals have an endpoint."""

from __future__ import annotations

import argparse
import json

from ioc.settings import Settings

HELP = "measure the telemedicine links with an endpoint in the province file, and send " \
       "their heartbeats"
DESCRIPTION = ("Every IOC_PROBE_SECONDS, probe each hospital's `endpoint` (tcp://host:port, "
               "http(s)://...) from this machine and send the link's heartbeat (up or down, "
               "latency, jitter and loss over the last 10 probes) to the telemedicine topic, "
               "as source `prober` (docs/probe.md).")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rounds", type=int, metavar="N",
                   help="probe N times, print the last heartbeats as JSON, and stop (default: "
                        "until Ctrl-C)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from ioc.errors import SettingsError
    from ioc.province import load_province
    from ioc.services.endpoints import embedded_urls
    from ioc.services.process import stop_on_signals
    from ioc.topics import ensure_topics
    from ioc_command.services import require_running
    from prober.run import KafkaSender, Prober
    from prober.targets import targets

    if args.rounds is not None and args.rounds < 1:
        raise SettingsError(f"--rounds {args.rounds}: expected 1 or more")
    found = targets(load_province(settings.province_file))
    if not found:
        raise SettingsError(f"no hospital of {settings.province_file} has an `endpoint`: "
                            "nothing to probe (docs/probe.md)")
    if settings.probe_timeout_seconds >= settings.probe_seconds:
        raise SettingsError(f"IOC_PROBE_TIMEOUT_SECONDS={settings.probe_timeout_seconds:g} "
                            f"must be less than IOC_PROBE_SECONDS={settings.probe_seconds:g}")
    require_running(settings, kafka=True)
    _, bootstrap = embedded_urls(settings)
    ensure_topics(settings, bootstrap)
    prober = Prober(settings, found, KafkaSender(settings, bootstrap))
    asyncio.run(prober.run(stop_on_signals(), args.rounds))
    if args.rounds is not None:
        last = {t.link_id: prober.windows[t.link_id].figures().__dict__ for t in found}
        print(json.dumps(last, ensure_ascii=False))
    return 0
