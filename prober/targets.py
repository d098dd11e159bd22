"""The links `ioc probe` measures: the province's hospitals that have an `endpoint`."""

from __future__ import annotations

from dataclasses import dataclass

from ioc.province import Province


@dataclass(frozen=True)
class Target:
    link_id: str
    hospital_code: str
    hub_code: str
    unit_code: str
    endpoint: str


def targets(province: Province) -> list[Target]:
    return [Target(h.link_id, h.code, h.hub, h.unit, h.endpoint)
            for h in province.hospitals if h.endpoint]
