"""Country-wide activity shapes (rhythms.yaml): how a day's volume spreads over hours,
weekends, holidays and the month. Validated on load like every data file. The simulator
draws from them; the wall's typical band falls back on them until history is stored."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ioc.contract import PaymentData
from ioc.datafile import load_yaml
from ioc.province import Province
from ioc.resources import shipped_path

RHYTHMS_FILE = shipped_path("ioc", "rhythms.yaml")
PaymentCategory = PaymentData.model_fields["category"].annotation
Hours = Annotated[list[Annotated[float, Field(ge=0)]], Field(min_length=24, max_length=24)]
Factor = Annotated[float, Field(ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hourly(_Model):
    dossiers_online_working_day: Hours
    dossiers_online_off_day: Hours
    dossiers_in_person: Hours
    payments: Hours
    portal_requests: Hours

    @field_validator("*")
    @classmethod
    def _normalised(cls, weights: list[float]) -> list[float]:
        total = sum(weights)
        if total <= 0:
            raise ValueError("at least one hour needs a weight above 0")
        return [w / total for w in weights]


class OffDay(_Model):
    dossiers_online: Factor
    portal_requests: Factor
    payments: dict[PaymentCategory, Factor]  # type: ignore[valid-type]


class Window(_Model):
    months: list[Annotated[int, Field(ge=1, le=12)]]
    days: Annotated[list[Annotated[int, Field(ge=1, le=31)]], Field(min_length=2, max_length=2)]
    factor: Factor


class Monthly(_Model):
    windows: list[Window]
    otherwise: Factor = 1.0


class Rhythms(_Model):
    """Hour weights (each list sums to 1), off-day volumes, clinic hours, monthly cycles."""

    schema_version: Literal[1]
    hourly: Hourly
    off_day_volume: OffDay
    holiday_volume: Factor = 1.0
    clinic_hours: list[Annotated[list[time], Field(min_length=2, max_length=2)]]
    # a remote consultation lasts between these many minutes (evenly drawn)
    consultation_minutes: Annotated[list[Annotated[float, Field(gt=0)]],
                                    Field(min_length=2, max_length=2)]
    monthly: dict[PaymentCategory, Monthly] = {}  # type: ignore[valid-type]

    @field_validator("consultation_minutes")
    @classmethod
    def _shortest_first(cls, minutes: list[float]) -> list[float]:
        if minutes[0] > minutes[1]:
            raise ValueError("the shortest consultation comes first")
        return minutes

    @field_validator("clinic_hours")
    @classmethod
    def _opens_before_closing(cls, hours: list[list[time]]) -> list[list[time]]:
        if any(start >= end for start, end in hours):
            raise ValueError("each clinic session opens before it closes")
        return hours

    def month_factor(self, category: str, day: date) -> float:
        cycle = self.monthly.get(category)
        if cycle is None:
            return 1.0
        for w in cycle.windows:
            if day.month in w.months and w.days[0] <= day.day <= w.days[1]:
                return w.factor
        return cycle.otherwise

    def payments_in_hour(self, per_day: float, category: str, day: date, hour: int) -> float:
        """Payments of `category` expected in a local hour of a working `day`: its day's
        volume (`per_day`) spread by the hour weights and the month's cycle."""
        return per_day * self.hourly.payments[hour] * self.month_factor(category, day)

    def dossiers_in_hour(self, per_day: float, online_share: float, hour: int,
                         working_day: bool) -> tuple[float, float]:
        """Dossiers expected in a local hour, (received online, handed in at a desk), of a
        province receiving `per_day` on a working day, `online_share` of them online."""
        hourly = self.hourly
        if working_day:
            return (per_day * online_share * hourly.dossiers_online_working_day[hour],
                    per_day * (1 - online_share) * hourly.dossiers_in_person[hour])
        return (per_day * online_share * self.off_day_volume.dossiers_online
                * hourly.dossiers_online_off_day[hour], 0.0)

    def off_day_payments(self, category: str, holiday: bool) -> float:
        """What an off day (a holiday: even less) keeps of a working day's `category`."""
        return self.off_day_volume.payments.get(category, 1.0) * (
            self.holiday_volume if holiday else 1.0)

    def in_clinic_hours(self, at: time) -> bool:
        return any(start <= at < end for start, end in self.clinic_hours)

    @property
    def clinic_seconds(self) -> float:
        """How long the clinics hold remote consultations on a working day."""
        return sum((datetime.combine(date.min, end) - datetime.combine(date.min, start))
                   .total_seconds() for start, end in self.clinic_hours)

    def consultations_running(self, per_day: float, at: datetime, working_day: bool) -> float:
        """Consultations expected to be running at local time `at` of a province starting
        `per_day` of them on a working day, evenly over clinic hours: those started in the
        longest consultation's minutes before, each weighed by its chance to last so far."""
        if not working_day:
            return 0.0
        per_minute = per_day * 60 / self.clinic_seconds
        shortest, longest = self.consultation_minutes
        running = 0.0
        # minute by minute at the midpoints: exact for the piecewise-linear chance to last
        for age in (a + 0.5 for a in range(math.ceil(longest))):
            lasts = (1.0 if age < shortest else (longest - age) / (longest - shortest)
                     if age < longest else 0.0)
            if lasts and self.in_clinic_hours((at - timedelta(minutes=age)).time()):
                running += per_minute * lasts
        return running


def payment_mix(province: Province) -> dict[str, float]:
    """Each payment category the province pays in, with its share of the payments."""
    sim = province.simulation
    categories = [c for c in province.payment_categories if c in sim.payment_mix]
    total = sum(sim.payment_mix[c] for c in categories)
    return {c: sim.payment_mix[c] / total for c in categories}


def load_rhythms(path: Path = RHYTHMS_FILE) -> Rhythms:
    """Read and validate a rhythms file; `SettingsError` names file, path and problem."""
    return load_yaml(path, Rhythms, "rhythms file")
