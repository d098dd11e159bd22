"""Labels in Vietnamese first and English, from one catalogue; vi-VN number and time formats."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

LANGUAGES = ("vi", "en")
TZ = ZoneInfo("Asia/Ho_Chi_Minh")

CATALOGUE: dict[str, dict[str, str]] = {
    "title": {"vi": "Trung tâm điều hành thông minh", "en": "Intelligent Operations Center"},
    "feed.portal": {"vi": "Cổng dịch vụ công", "en": "Public service portal"},
    "feed.telemedicine": {"vi": "Khám chữa bệnh từ xa", "en": "Telemedicine links"},
    "feed.payments": {"vi": "Thanh toán không dùng tiền mặt", "en": "Cashless payments"},
    "rows_stored": {"vi": "Sự kiện đã lưu", "en": "Events stored"},
    "newest_event": {"vi": "Dữ liệu mới nhất", "en": "Newest data"},
    "no_data": {"vi": "Chưa có dữ liệu", "en": "No data yet"},
    "age_seconds": {"vi": "{n} giây trước", "en": "{n} s ago"},
    "age_minutes": {"vi": "{n} phút trước", "en": "{n} min ago"},
    "age_hours": {"vi": "{n} giờ trước", "en": "{n} h ago"},
    "dead_letters": {"vi": "Sự kiện lỗi (hàng đợi lỗi)", "en": "Dead-lettered events"},
    "updated_at": {"vi": "Cập nhật lúc", "en": "Updated at"},
    "connection_lost": {"vi": "Mất kết nối cơ sở dữ liệu từ {since}",
                        "en": "Database connection lost since {since}"},
    "live": {"vi": "Trực tiếp", "en": "Live"},
}


def t(key: str, lang: str = "vi", **values: object) -> str:
    """The label `key` in `lang` (Vietnamese when the language is unknown)."""
    entry = CATALOGUE[key]
    return entry.get(lang, entry["vi"]).format(**values)


def format_int(value: int, lang: str = "vi") -> str:
    """1525644 -> '1.525.644' (vi) or '1,525,644' (en)."""
    text = f"{value:,}"
    return text.replace(",", ".") if lang == "vi" else text


def format_percent(ratio: float, lang: str = "vi", digits: int = 2) -> str:
    """0.9872 -> '98,72%' (vi) or '98.72%' (en)."""
    text = f"{ratio * 100:.{digits}f}%"
    return text.replace(".", ",") if lang == "vi" else text


def format_time(at: datetime, lang: str = "vi") -> str:
    """A moment in the province's time zone: '14:05:09 22/11/2026'."""
    local = at.astimezone(TZ)
    return local.strftime("%H:%M:%S %d/%m/%Y" if lang == "vi" else "%Y-%m-%d %H:%M:%S")


def format_age(seconds: float, lang: str = "vi") -> str:
    """How long ago, in the largest whole unit."""
    n = max(0, int(seconds))
    if n < 120:
        return t("age_seconds", lang, n=n)
    if n < 7200:
        return t("age_minutes", lang, n=n // 60)
    return t("age_hours", lang, n=n // 3600)
