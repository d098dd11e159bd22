"""Vietnam's administrative units as they are since 1 July 2025 (two-level local government:
34 provinces, 3,321 commune-level units: xã, phường, đặc khu) and the units before it, read
from the pinned `vietnamadminunits` dataset (MIT; pyproject.toml pins the version because it
is data). Codes are the national ones (mã đơn vị hành chính: `38` Thanh Hóa, `14797` Phường
Hạc Thành).

Only the dataset's files are read (its SQLite database and converter table), not its Python
modules: those parse addresses, which the IOC does not need.

Beware: the 2025 reorganisation reused codes. Old 14758 was Phường Đông Thọ, new 14758 is
Phường Hàm Rồng; so an old code can be mapped only where the producer says it is old.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path

from ioc.errors import SettingsError

#: the day the units of this dataset took effect (Resolution 202/2025/QH15 and the
#: Standing Committee's resolutions on each province's communes)
EFFECTIVE = date(2025, 7, 1)
#: the dataset's unit types, as the product names them
KINDS = {"Xã": "xa", "Phường": "phuong", "Đặc khu": "dac_khu"}
_KIND_EN = {"xa": "commune", "phuong": "ward", "dac_khu": "special zone"}


def ascii_name(text: str) -> str:
    """`Hạc Thành` → `Hac Thanh` (đ is a letter of its own, not a d with a mark)."""
    text = text.replace("Đ", "D").replace("đ", "d")
    return "".join(c for c in unicodedata.normalize("NFD", text)
                   if unicodedata.category(c) != "Mn")


@dataclass(frozen=True)
class ProvinceRecord:
    code: str
    name_vi: str
    lat: float
    lon: float
    communes: int


@dataclass(frozen=True)
class Commune:
    """One commune-level unit (xã, phường or đặc khu) of a province."""

    code: str
    province_code: str
    kind: str          # xa, phuong, dac_khu
    name_vi: str       # "Phường Hạc Thành"
    short_vi: str      # "Hạc Thành"
    lat: float
    lon: float
    area_km2: float

    @property
    def name_en(self) -> str:
        return f"{ascii_name(self.short_vi)} {_KIND_EN[self.kind]}"


@dataclass(frozen=True)
class OldUnit:
    """Where a pre-2025 commune went: one new unit, or several when it was divided (then
    `default` is the one the dataset names as its main successor)."""

    old_code: str
    old_name_vi: str
    district_vi: str
    successors: tuple[str, ...]
    default: str

    @property
    def divided(self) -> bool:
        return len(self.successors) > 1


def dataset_dir() -> Path:
    """The installed dataset's folder (found without importing its modules)."""
    spec = importlib.util.find_spec("vietnamadminunits")
    if spec is None or not spec.submodule_search_locations:
        raise SettingsError("the vietnamadminunits package is missing: reinstall ioc-monitor")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


class UnitsDataset:
    """The dataset, read once: provinces, their communes, and the old → new mapping."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder or dataset_dir()

    def _rows(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        uri = f"file:{self.folder / 'dataset.db'}?mode=ro"
        with sqlite3.connect(uri, uri=True) as conn:
            conn.row_factory = sqlite3.Row
            return conn.execute(sql, params).fetchall()

    @cached_property
    def provinces(self) -> dict[str, ProvinceRecord]:
        rows = self._rows("SELECT provinceCode, province, provinceLat, provinceLon, count(*) n"
                          " FROM admin_units GROUP BY 1, 2, 3, 4 ORDER BY 1")
        return {r["provinceCode"]: ProvinceRecord(r["provinceCode"], r["province"],
                                                  r["provinceLat"], r["provinceLon"], r["n"])
                for r in rows}

    def province(self, code: str) -> ProvinceRecord:
        if code not in self.provinces:
            raise SettingsError(f"province code {code!r} is not one of the 34 provinces "
                                f"({', '.join(self.provinces)}); `ioc units` lists them")
        return self.provinces[code]

    def communes(self, province_code: str) -> list[Commune]:
        """The province's commune-level units, by code."""
        self.province(province_code)
        rows = self._rows("SELECT wardCode, provinceCode, wardType, ward, wardShort, wardLat,"
                          " wardLon, wardAreaKm2 FROM admin_units WHERE provinceCode = ?"
                          " ORDER BY wardCode", (province_code,))
        return [Commune(r["wardCode"], r["provinceCode"], KINDS[r["wardType"]], r["ward"],
                        r["wardShort"], r["wardLat"], r["wardLon"], r["wardAreaKm2"])
                for r in rows]

    @cached_property
    def _new_by_key(self) -> dict[tuple[str, str], str]:
        return {(r["provinceKey"], r["wardKey"]): r["wardCode"]
                for r in self._rows("SELECT provinceKey, wardKey, wardCode FROM admin_units")}

    @cached_property
    def _old_to_new(self) -> dict[str, tuple[str, list[str], str]]:
        """Old composite key → (new province key, new ward keys, default new ward key)."""
        converter = json.loads((self.folder / "converter_2025.json").read_text("utf-8"))
        mapping: dict[str, tuple[str, list[str], str]] = {}
        for province, wards in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
            for new_ward, old_keys in wards.items():
                for old in old_keys:
                    mapping[old] = (province, [new_ward], new_ward)
        for province, olds in converter["DICT_PROVINCE_WARD_DIVIDED"].items():
            for old, parts in olds.items():
                keys = [p["newWardKey"] for p in parts]
                default = next((p["newWardKey"] for p in parts if p["isDefaultNewWard"]),
                               keys[0])
                mapping[old] = (province, keys, default)
        return mapping

    @cached_property
    def _legacy(self) -> dict[str, sqlite3.Row]:
        return {r["wardCode"]: r for r in self._rows(
            "SELECT wardCode, provinceKey, districtKey, wardKey, ward, district"
            " FROM admin_units_legacy WHERE wardCode IS NOT NULL AND wardCode != ''")}

    @cached_property
    def _old_districts(self) -> dict[str, str]:
        return {r["districtCode"]: r["district"] for r in self._rows(
            "SELECT DISTINCT districtCode, district FROM admin_units_legacy"
            " WHERE districtCode IS NOT NULL AND districtCode != ''")}

    def old_district(self, old_code: str) -> str | None:
        """The name of the pre-2025 district of code `old_code` (e.g. 389 Huyện Bá Thước)."""
        return self._old_districts.get(old_code)

    def old_unit(self, old_code: str) -> OldUnit | None:
        """Where the pre-2025 commune `old_code` went; None when the code was never one."""
        r = self._legacy.get(old_code)
        if r is None:
            return None
        found = self._old_to_new.get(f"{r['provinceKey']}_{r['districtKey']}_{r['wardKey']}")
        if found is None:
            return None
        province, keys, default = found
        codes = tuple(self._new_by_key[(province, k)] for k in keys)
        return OldUnit(old_code, r["ward"], r["district"], codes,
                       self._new_by_key[(province, default)])
