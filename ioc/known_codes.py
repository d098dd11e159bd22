"""The province's codes at the edge: every event's units, hospitals, links, hubs, portals,
agencies and procedures are the IOC's province's, and unit codes a producer still sends from
before the 2025 reorganisation are mapped to the units that took them in.

Checked after the contract (`contract.decode`), before storing: an event naming a unit,
hospital or portal the province does not have is dead-lettered with the reason, not stored
under a code no panel, rule or map knows (and that no link-down or outage alert could ever
match). Pre-2025 codes are accepted only where the producer says so
(`unit_code_set: pre-2025`), because the reorganisation reused codes (old 14758 was Phường
Đông Thọ, new 14758 is Phường Hàm Rồng). A pre-2025 commune that was divided goes to the
successor the dataset names as its main one; a pre-2025 district code, which covers many
communes, is refused: the producer must send the commune.
"""

from __future__ import annotations

from ioc.contract import (
    ConsultationData,
    DossierReceivedData,
    DossierResolvedData,
    Envelope,
    LinkHeartbeatData,
    PortalHealthData,
)
from ioc.errors import ContractError
from ioc.province import Province
from ioc.units import UnitsDataset


class KnownCodes:
    """The province's codes (units, with the old → new mapping; hospitals and their links;
    portals; agencies; procedures; service centres) for checking events."""

    def __init__(self, province: Province, dataset: UnitsDataset):
        self.units = frozenset(u.code for u in province.units)
        self.province_code = province.province.code
        self.province_name = province.province.name_vi
        self.dataset = dataset
        self.hospitals = {h.code: h for h in province.hospitals}
        self.portals = frozenset(p.code for p in province.portals)
        self.agencies = frozenset(a.code for a in province.agencies)
        self.procedures = frozenset(p.code for p in province.procedures)
        # the provincial centre, and each commune's centre by the commune's code
        self.centres = self.units | {province.service_centre.code}
        self.centre_code = province.service_centre.code

    def check(self, event: Envelope) -> Envelope:
        """`event` with units of the province (see `current`) and, in its data, only the
        province's hospitals, links, portals, agencies and procedures; `ContractError` names
        the first code that is not."""
        event = self.current(event)
        data = event.data  # type: ignore[attr-defined]  # every event type has data
        if isinstance(data, (LinkHeartbeatData, ConsultationData)):
            self._link(data)
        elif isinstance(data, PortalHealthData):
            self._one_of(data.portal_code, self.portals, "portal_code", "portal", "portals")
        elif isinstance(data, (DossierReceivedData, DossierResolvedData)):
            self._one_of(data.agency_code, self.agencies, "agency_code", "agency", "agencies")
            self._one_of(data.procedure_code, self.procedures, "procedure_code", "procedure",
                         "procedures")
            centre = data.centre_code
            if centre is not None and centre not in self.centres:
                raise ContractError(
                    f"data.centre_code: unknown centre code {centre!r}: neither "
                    f"{self.province_name}'s provincial centre "
                    f"({self.centre_code!r}) nor a commune's (its unit code)")
        return event

    def _one_of(self, code: str, known: frozenset[str], field: str, noun: str,
                section: str) -> None:
        if code not in known:
            raise ContractError(
                f"data.{field}: unknown {noun} code {code!r}: not among {self.province_name}'s "
                f"{section} (the province file's `{section}`)")

    def _link(self, data: LinkHeartbeatData | ConsultationData) -> None:
        hospital = self.hospitals.get(data.hospital_code)
        if hospital is None:
            detail = ("no hospitals are configured" if not self.hospitals
                      else "not among its hospitals (the province file's `hospitals`)")
            raise ContractError(f"data.hospital_code: unknown hospital code "
                                f"{data.hospital_code!r}: {self.province_name}: {detail}")
        if data.hub_code != hospital.hub:
            raise ContractError(
                f"data.hub_code: unknown link: hospital {hospital.code!r} is linked to hub "
                f"{hospital.hub!r}, not {data.hub_code!r}")
        if data.link_id != hospital.link_id:
            raise ContractError(
                f"data.link_id: unknown link {data.link_id!r}: the link of hospital "
                f"{hospital.code!r} is {hospital.link_id!r}")

    def current(self, event: Envelope) -> Envelope:
        """`event` with units of the province (pre-2025 codes mapped, the codes as sent kept
        on it); `ContractError` names the first code that is not one."""
        if event.unit_code_set == "pre-2025":
            sent = list(event.unit_codes)
            event = event.model_copy(update={
                "unit_codes": [self._successor(i, code) for i, code in enumerate(sent)]})
            object.__setattr__(event, "_unit_codes_sent", sent)  # frozen: set once, here
        for i, code in enumerate(event.unit_codes):
            if code not in self.units:
                raise ContractError(
                    f"unit_codes.{i}: unknown unit code {code!r}: not a commune-level unit of "
                    f"{self.province_name} (`ioc units --province {self.province_code}` lists "
                    "them)")
        return event

    def _successor(self, i: int, code: str) -> str:
        old = self.dataset.old_unit(code)
        if old is not None:
            return old.default
        district = self.dataset.old_district(code)
        if district is not None:
            raise ContractError(
                f"unit_codes.{i}: unknown unit code {code!r}: pre-2025 district code "
                f"({district}), which covers many communes; send the commune's code")
        raise ContractError(f"unit_codes.{i}: unknown unit code {code!r}: not a pre-2025 "
                            "commune code")
