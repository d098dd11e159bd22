"""Province files: the hospitals, agencies, procedures and KPI targets of one province.

Its units are not in the file: they are the province's commune-level units (xã, phường,
đặc khu) as the units dataset has them (`ioc.units`), found by the province's national code,
so the next reorganisation is a data change. Validated on load; an error names the file, the
path inside it and the problem.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from ioc.contract import VIETNAM_TIMEZONE, Code, PaymentData
from ioc.datafile import read_yaml, validated
from ioc.errors import SettingsError
from ioc.resources import PROVINCES_DIR
from ioc.units import EFFECTIVE, Commune, UnitsDataset, ascii_name

#: what every province has unless its file says otherwise; all of it for a province by code
TEMPLATE = PROVINCES_DIR / "templates" / "any-province.yaml"
#: the simulation volumes `volumes_for_units` scales by the province's number of units
SCALED_VOLUMES = ("dossiers_per_working_day", "payments_per_day", "portal_requests_per_second")

Ratio = Annotated[float, Field(ge=0, le=1)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProvinceInfo(_Item):
    code: Annotated[str, Field(pattern=r"^[0-9]{2}$")]  # national code: 38 is Thanh Hóa
    name_vi: Name
    name_en: Name
    timezone: str = VIETNAM_TIMEZONE
    center: dict[Literal["lat", "lon"], float]


class Unit(_Item):
    """One commune-level unit of the province, by its national code (14797 Phường Hạc Thành)."""

    code: Code
    name_vi: Name
    name_en: Name
    kind: Literal["xa", "phuong", "dac_khu"]
    lat: Annotated[float, Field(ge=8, le=24)]
    lon: Annotated[float, Field(ge=102, le=118)]
    area_km2: Annotated[float, Field(ge=0)]

    @classmethod
    def of(cls, commune: Commune) -> Unit:
        return cls(code=commune.code, name_vi=commune.name_vi, name_en=commune.name_en,
                   kind=commune.kind, lat=commune.lat, lon=commune.lon,
                   area_km2=commune.area_km2)


class HubHospital(_Item):
    code: Code
    name_vi: Name
    name_en: Name


def _probe_endpoint(value: str | None) -> str | None:
    """tcp://host:port, http(s)://host[:port]/path: where `ioc probe` measures a link."""
    if value is None:
        return None
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("tcp", "http", "https") or not parts.hostname or port == -1 \
            or (parts.scheme == "tcp" and (port is None or parts.path not in ("", "/"))):
        raise ValueError(f"{value!r}: expected tcp://host:port, http://host[:port]/path or "
                         "https://host[:port]/path")
    return value


ProbeEndpoint = Annotated[str | None, AfterValidator(_probe_endpoint),
                          Field(max_length=300)]


class Hospital(_Item):
    code: Code
    name_vi: Name
    name_en: Name
    unit: Code
    hub: Code
    #: where `ioc probe` measures this hospital's link from the IOC (docs/probe.md); none:
    #: the link is known only from what the hospital's platform reports
    endpoint: ProbeEndpoint = None

    @property
    def link_id(self) -> str:
        """The telemedicine link from this hospital to its hub."""
        return f"{self.code}--{self.hub}"


class Agency(_Item):
    """A body that resolves dossiers: a provincial department (`level: province`), or the
    commune People's Committee (`level: commune`), which resolves in each commune the
    procedures decentralised to it; the dossier's unit says which commune."""

    code: Code
    name_vi: Name
    name_en: Name
    level: Literal["province", "commune"] = "province"


class ServiceCentre(_Item):
    """The provincial Public Administrative Service Centre (Decree 118/2025/NĐ-CP). Each
    commune has a centre too, known by the commune's code."""

    code: Code
    name_vi: Name
    name_en: Name


class Procedure(_Item):
    code: Code
    name_vi: Name
    name_en: Name
    agency: Code
    working_days: Annotated[int, Field(ge=1, le=365)]
    service_level: Literal["partial", "full"]


class Portal(_Item):
    code: Code
    name_vi: Name
    name_en: Name


class Targets(_Item):
    """KPI targets, fractions 0..1; a province file's `targets:` overrides the defaults
    (`TEMPLATE`) one by one."""

    dossier_on_time_ratio: Ratio
    online_receipt_ratio: Ratio
    telemedicine_links_up_ratio: Ratio
    payment_success_ratio: Ratio
    # Decision 766/QĐ-TTg's other computed indicators (ioc/indicator_sets/decision-766.yaml)
    dossier_digitised_ratio: Ratio
    e_result_ratio: Ratio
    online_payment_ratio: Ratio


PaymentCategory = PaymentData.model_fields["category"].annotation
PaymentChannel = PaymentData.model_fields["channel"].annotation
PositiveRate = Annotated[float, Field(ge=0)]


class Simulation(_Item):
    """Volumes the simulator is calibrated to (see docs/simulation.md for each derivation).

    Shapes over the day, the week and the month are country-wide: ioc/rhythms.yaml.
    """

    dossiers_per_working_day: PositiveRate
    online_share: Ratio
    on_time_share: Ratio
    approval_share: Ratio = 0.95
    payments_per_day: PositiveRate
    payment_mix: dict[PaymentCategory, PositiveRate]  # type: ignore[valid-type]
    payment_success_ratio: Ratio
    consultations_per_hospital_per_day: PositiveRate
    heartbeat_seconds: Annotated[float, Field(ge=1, le=300)] = 5.0
    portal_health_seconds: Annotated[int, Field(ge=1, le=3600)] = 10
    portal_requests_per_second: PositiveRate
    portal_error_ratio: Ratio = 0.005
    link_latency_ms: Annotated[float, Field(gt=0, le=10_000)] = 45.0
    # What Decision 766/QĐ-TTg's indicators count beyond timing; assumptions, no published
    # figure per province (docs/simulation.md): dossiers digitised at reception, dossiers
    # with a fee or charge, of those paid online, results issued electronically
    digitised_share: Ratio = 0.85
    fee_share: Ratio = 0.4
    online_payment_share: Ratio = 0.6
    e_result_share: Ratio = 0.7

    @model_validator(mode="after")
    def _mix(self) -> Simulation:
        if not self.payment_mix or sum(self.payment_mix.values()) <= 0:
            raise ValueError("payment_mix: give each payment category a share "
                             "(they need not sum to 1)")
        return self


class Province(_Item):
    """One province file with its units from the dataset, cross-checked (every reference
    points at something defined)."""

    schema_version: Literal[2]
    province: ProvinceInfo
    units: Annotated[list[Unit], Field(min_length=1)]
    #: the day the units took effect (the dataset's; a reorganisation changes the dataset)
    units_effective: date = EFFECTIVE
    hub_hospitals: list[HubHospital]
    hospitals: list[Hospital]
    agencies: list[Agency]
    procedures: list[Procedure]
    service_centre: ServiceCentre
    payment_categories: list[PaymentCategory]  # type: ignore[valid-type]
    payment_channels: list[PaymentChannel]  # type: ignore[valid-type]
    portals: Annotated[list[Portal], Field(min_length=1)]
    targets: Targets
    simulation: Simulation
    figures: dict[str, float | int] = {}

    @property
    def seat(self) -> Unit:
        """The unit nearest the province's centre: where province-wide events are placed."""
        c = self.province.center
        return min(self.units, key=lambda u: (u.lat - c["lat"]) ** 2 + (u.lon - c["lon"]) ** 2)

    @model_validator(mode="before")
    @classmethod
    def _units(cls, data: Any, info: ValidationInfo) -> Any:
        """Fill `units` from the dataset (`context={"units": UnitsDataset}` hands one in)."""
        if not isinstance(data, dict):
            return data
        if "units" in data:
            raise ValueError("units: a province file lists no units; they come from the "
                             "units dataset by the province's code (`ioc units --province "
                             "CODE` lists them)")
        code = str((data.get("province") or {}).get("code", ""))
        dataset = (info.context or {}).get("units") or _dataset()
        try:
            communes = dataset.communes(code)
        except SettingsError as exc:
            raise ValueError(f"province.code: {exc}") from None
        simulation = data.get("simulation")
        if isinstance(simulation, dict) and "volumes_for_units" in simulation:
            simulation = dict(simulation)
            scale = len(communes) / float(simulation.pop("volumes_for_units"))
            for key in SCALED_VOLUMES:
                if isinstance(simulation.get(key), int | float):
                    simulation[key] = round(simulation[key] * scale, 3)
        return {**data, "simulation": simulation, "units": [Unit.of(c) for c in communes]}

    @model_validator(mode="after")
    def _references(self) -> Province:
        for field in ("units", "hub_hospitals", "hospitals", "agencies", "procedures", "portals"):
            seen: set[str] = set()
            for i, item in enumerate(getattr(self, field)):
                if item.code in seen:
                    raise ValueError(f"{field}.{i}.code: duplicate code {item.code!r}")
                seen.add(item.code)
        units = {u.code for u in self.units}
        if self.service_centre.code in units:
            raise ValueError(f"service_centre.code: {self.service_centre.code!r} is a unit's "
                             "code, which names that commune's centre")
        hubs = {h.code for h in self.hub_hospitals}
        agencies = {a.code for a in self.agencies}
        for i, h in enumerate(self.hospitals):
            if h.unit not in units:
                raise ValueError(f"hospitals.{i}.unit: unknown unit {h.unit!r}")
            if h.hub not in hubs:
                raise ValueError(f"hospitals.{i}.hub: unknown hub hospital {h.hub!r}")
        for i, p in enumerate(self.procedures):
            if p.agency not in agencies:
                raise ValueError(f"procedures.{i}.agency: unknown agency {p.agency!r}")
        for category in self.simulation.payment_mix:
            if category not in self.payment_categories:
                raise ValueError(f"simulation.payment_mix.{category}: not in payment_categories")
        return self


_DATASET: UnitsDataset | None = None


def _dataset() -> UnitsDataset:
    """The installed units dataset, read once per process (it is read-only data)."""
    global _DATASET
    if _DATASET is None:
        _DATASET = UnitsDataset()
    return _DATASET


def _shipped_for_code(code: str) -> Path | None:
    """The shipped province file of national code `code`, if one ships."""
    for path in sorted(PROVINCES_DIR.glob("*.yaml")):
        data = read_yaml(path, "province file")
        if str(((data or {}).get("province") or {}).get("code")) == code:
            return path
    return None


def _info_from_dataset(code: str, dataset: UnitsDataset) -> dict[str, Any]:
    """The `province:` part of a province with no file: name and centre from the dataset."""
    record = dataset.province(code)
    name = record.name_vi.removeprefix("Tỉnh ").removeprefix("Thành phố ")
    city = record.name_vi.startswith("Thành phố ")
    return {"code": code, "name_vi": record.name_vi if city else name,
            "name_en": ascii_name(name) + (" City" if city else ""),
            "center": {"lat": record.lat, "lon": record.lon}}


def load_province(source: Path | str, units: UnitsDataset | None = None) -> Province:
    """The province of `source`: a province file, or a national code (`38`: the shipped
    file of that code if one ships, else the dataset's province on the defaults alone).

    What a file leaves out comes from the defaults (`TEMPLATE`); units come from `units`
    (default: the installed dataset). Raise `SettingsError` naming file, path and problem."""
    dataset = units or _dataset()
    template = read_yaml(TEMPLATE, "province defaults")
    path = Path(source)
    if isinstance(source, str) and source.isdigit():
        shipped = _shipped_for_code(source)
        if shipped is None:
            try:
                info = _info_from_dataset(source, dataset)
            except SettingsError as exc:
                raise SettingsError(f"province {source!r}: {exc}") from None
            return validated(TEMPLATE, {**template, "province": info}, Province,
                             {"units": dataset})
        path = shipped
    data = read_yaml(path, "province file")
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a province file (a YAML mapping)")
    merged = {**template, **data}
    if isinstance(data.get("targets"), dict):  # a file names only the targets it changes
        merged["targets"] = {**template["targets"], **data["targets"]}
    return validated(path, merged, Province, {"units": dataset})
