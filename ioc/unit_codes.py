"""Unit codes at the edge: every event's units are units of the IOC's province, and codes a
producer still sends from before the 2025 reorganisation are mapped to the units that took
them in.

Checked after the contract (`contract.decode`), before storing: an event naming a unit the
province does not have is dead-lettered with the reason, not stored under a code no panel,
rule or map knows. Pre-2025 codes are accepted only where the producer says so
(`unit_code_set: pre-2025`), because the reorganisation reused codes (old 14758 was Phường
Đông Thọ, new 14758 is Phường Hàm Rồng). A pre-2025 commune that was divided goes to the
successor the dataset names as its main one; a pre-2025 district code, which covers many
communes, is refused: the producer must send the commune.
"""

from __future__ import annotations

from ioc.contract import Envelope
from ioc.errors import ContractError
from ioc.province import Province
from ioc.units import UnitsDataset


class UnitCodes:
    """The province's unit codes, and the old → new mapping, for checking events."""

    def __init__(self, province: Province, dataset: UnitsDataset):
        self.known = frozenset(u.code for u in province.units)
        self.province_code = province.province.code
        self.province_name = province.province.name_vi
        self.dataset = dataset

    def current(self, event: Envelope) -> Envelope:
        """`event` with units of the province (pre-2025 codes mapped, the codes as sent kept
        on it); `ContractError` names the first code that is not one."""
        if event.unit_code_set == "pre-2025":
            sent = list(event.unit_codes)
            event = event.model_copy(update={
                "unit_codes": [self._successor(i, code) for i, code in enumerate(sent)]})
            event._unit_codes_sent = sent
        for i, code in enumerate(event.unit_codes):
            if code not in self.known:
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
