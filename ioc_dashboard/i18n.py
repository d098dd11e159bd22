"""Labels in Vietnamese first and English, from one catalogue; vi-VN number and time formats."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ioc.contract import PAYMENT_CATEGORY_NAMES, VIETNAM_TIMEZONE
from ioc.numbers import localize

LANGUAGES = ("vi", "en")
TZ = ZoneInfo(VIETNAM_TIMEZONE)  # the wall shows Vietnam's time, as its users read it

CATALOGUE: dict[str, dict[str, str]] = {
    "title": {"vi": "Trung tâm điều hành thông minh", "en": "Intelligent Operations Center"},
    "feed.portal": {"vi": "Cổng dịch vụ công", "en": "Public service portal"},
    "feed.telemedicine": {"vi": "Khám chữa bệnh từ xa", "en": "Telemedicine links"},
    "feed.payments": {"vi": "Thanh toán không dùng tiền mặt", "en": "Cashless payments"},
    "rows_stored": {"vi": "Sự kiện đã lưu", "en": "Events stored"},
    "newest_event": {"vi": "Dữ liệu mới nhất", "en": "Newest data"},
    "no_data": {"vi": "Chưa có dữ liệu", "en": "No data yet"},
    "late_working": {"vi": "DỮ LIỆU TRỄ: không có hồ sơ mới quá {limit} giờ làm việc",
                     "en": "DATA LATE: no dossier for over {limit} of working time"},
    "alerts_evaluated": {"vi": "Cảnh báo đánh giá lúc", "en": "Alerts evaluated at"},
    "alerts_never": {"vi": "BỘ CẢNH BÁO CHƯA CHẠY: cảnh báo chưa được đánh giá",
                     "en": "ALERT ENGINE NOT RUNNING: no alerts evaluated yet"},
    "alerts_late": {"vi": "BỘ CẢNH BÁO TRỄ: không đánh giá quá {limit}",
                    "en": "ALERT ENGINE LATE: nothing evaluated for over {limit}"},
    "age_seconds": {"vi": "{n} giây trước", "en": "{n} s ago"},
    "age_minutes": {"vi": "{n} phút trước", "en": "{n} min ago"},
    "age_hours": {"vi": "{n} giờ trước", "en": "{n} h ago"},
    "span_seconds": {"vi": "{n} giây", "en": "{n} s"},
    "span_minutes": {"vi": "{n} phút", "en": "{n} min"},
    "span_hours": {"vi": "{n} giờ", "en": "{n} h"},
    "dead_letters": {"vi": "Sự kiện lỗi (hàng đợi lỗi)", "en": "Dead-lettered events"},
    "updated_at": {"vi": "Cập nhật lúc", "en": "Updated at"},
    "connection_lost": {"vi": "Mất kết nối cơ sở dữ liệu từ {since}",
                        "en": "Database connection lost since {since}"},
    "live": {"vi": "Trực tiếp", "en": "Live"},
    # navigation
    "page.overview": {"vi": "Tổng quan", "en": "Overview"},
    "page.portal": {"vi": "Dịch vụ công", "en": "Public services"},
    "page.telemedicine": {"vi": "Khám chữa bệnh từ xa", "en": "Telemedicine"},
    "page.payments": {"vi": "Thanh toán", "en": "Payments"},
    "page.alerts": {"vi": "Cảnh báo", "en": "Alerts"},
    "page.replay": {"vi": "Phát lại", "en": "Replay"},
    "language.other": {"vi": "English", "en": "Tiếng Việt"},
    # freshness and connection
    "late": {"vi": "DỮ LIỆU TRỄ: không có dữ liệu mới quá {limit}",
             "en": "DATA LATE: nothing new for over {limit}"},
    "server_lost": {"vi": "Mất kết nối máy chủ từ {since}",
                    "en": "Server connection lost since {since}"},
    "replay.marker": {"vi": "PHÁT LẠI / REPLAY", "en": "REPLAY / PHÁT LẠI"},
    "backfill.marker": {"vi": "Mô phỏng: {hours} giờ trước {until} dựng lại khi khởi động",
                        "en": "Simulated: the {hours} h before {until} backfilled at start"},
    "replay.detail": {"vi": "Bản ghi {recording} · thời gian sự kiện {at}",
                      "en": "Recording {recording} · event time {at}"},
    "replay.running_notice": {
        "vi": "Đang phát lại bản ghi {recording} (dữ liệu riêng, không lẫn với trực tiếp)",
        "en": "A replay of {recording} is running (separate data, not mixed with live)"},
    "replay.none": {"vi": "Chưa có lần phát lại nào", "en": "No replay has run yet"},
    "replay.run": {"vi": "Lần", "en": "Run"},
    "replay.recording": {"vi": "Bản ghi", "en": "Recording"},
    "replay.speed": {"vi": "Tốc độ", "en": "Speed"},
    "replay.speed_max": {"vi": "tối đa", "en": "max"},
    "replay.started": {"vi": "Bắt đầu", "en": "Started"},
    "replay.events": {"vi": "Sự kiện đã gửi", "en": "Events sent"},
    "replay.event_range": {"vi": "Thời gian sự kiện", "en": "Event time"},
    "replay.state": {"vi": "Trạng thái", "en": "State"},
    "replay.sending": {"vi": "đang gửi", "en": "sending"},
    "replay.finished": {"vi": "đã xong {at}", "en": "finished {at}"},
    "replay.view": {"vi": "Xem màn hình phát lại", "en": "Open the replay wall"},
    # KPI tiles
    "kpi.ontime": {"vi": "Hồ sơ giải quyết đúng hạn (hôm nay)",
                   "en": "Dossiers resolved on time (today)"},
    "kpi.online": {"vi": "Tỷ lệ tiếp nhận trực tuyến (hôm nay)", "en": "Received online (today)"},
    "kpi.links": {"vi": "Kết nối khám chữa bệnh từ xa", "en": "Telemedicine links up"},
    "kpi.payments": {"vi": "Thanh toán mỗi phút", "en": "Payments per minute"},
    "kpi.success": {"vi": "thành công {rate}", "en": "{rate} succeeded"},
    "target": {"vi": "Mục tiêu {target}", "en": "Target {target}"},
    # a usual day so far: from the same weekday of earlier weeks, or the calibrated model
    "usual.history": {"vi": "thường lệ {value}", "en": "usual {value}"},
    "usual.model": {"vi": "mô hình {value}", "en": "model {value}"},
    "usual.history_title": {
        "vi": "Cùng thứ, cùng giờ trong {weeks} tuần trước",
        "en": "The same weekday and hour of the {weeks} weeks before"},
    "usual.model_title": {
        "vi": "Chưa có lịch sử tuần trước: mức thường lệ theo mô hình hiệu chỉnh của tỉnh",
        "en": "No history of earlier weeks yet: the usual level by the province's calibrated "
              "model"},
    "of_resolved": {"vi": "{n} hồ sơ đã giải quyết", "en": "{n} dossiers resolved"},
    "of_received": {"vi": "{n} hồ sơ đã tiếp nhận", "en": "{n} dossiers received"},
    "consultations_active": {"vi": "{n} phiên khám đang diễn ra",
                             "en": "{n} consultations running"},
    "units_map": {"vi": "Xã, phường theo cảnh báo (sơ đồ)",
                  "en": "Communes and wards by their worst alert (schematic)"},
    "map.units": {"vi": "xã, phường", "en": "commune"},
    "map.hospitals": {"vi": "có bệnh viện", "en": "with a hospital"},
    "map.schematic": {"vi": "Ô: sơ đồ, không phải địa giới",
                      "en": "Cells: schematic, not boundaries"},
    "alerts_live": {"vi": "Cảnh báo đang diễn ra", "en": "Live alerts"},
    "alerts_none": {"vi": "Không có cảnh báo", "en": "No alerts"},
    "alerts_more": {"vi": "… và {n} cảnh báo khác (xem trang Cảnh báo)",
                    "en": "… and {n} more alerts (see the Alerts page)"},
    "alerts_unavailable": {"vi": "Chưa có bộ cảnh báo", "en": "No alert engine yet"},
    "pipeline": {"vi": "Đường dữ liệu", "en": "Pipeline"},
    "self_checks": {"vi": "Tự kiểm tra", "en": "Self-checks"},
    "links_none": {"vi": "Chưa cấu hình kết nối khám chữa bệnh từ xa",
                   "en": "No telemedicine links configured"},
    "alert.about_ioc": {"vi": "[Hệ thống IOC]", "en": "[IOC itself]"},
    "self_checks_title": {"vi": "Cảnh báo về chính hệ thống IOC (đi tới người trực): {list}",
                          "en": "Alerts about the IOC itself (sent to on-call): {list}"},
    "ingest_delay": {"vi": "Độ trễ ghi nhận (p95)", "en": "Ingest delay (p95)"},
    "dead_letters_hour": {"vi": "Sự kiện lỗi trong 1 giờ", "en": "Dead letters, last hour"},
    "seconds": {"vi": "{n} giây", "en": "{n} s"},
    # severities and states
    "severity.critical": {"vi": "Nghiêm trọng", "en": "Critical"},
    "severity.warning": {"vi": "Cảnh báo", "en": "Warning"},
    "severity.info": {"vi": "Thông tin", "en": "Info"},
    "state.pending": {"vi": "chờ xác định", "en": "pending"},
    "state.firing": {"vi": "đang xảy ra", "en": "firing"},
    "state.flapping": {"vi": "chập chờn", "en": "flapping"},
    "state.resolved": {"vi": "đã hết", "en": "resolved"},
    "acked_by": {"vi": "Đã xác nhận bởi {who}", "en": "Acknowledged by {who}"},
    "silenced": {"vi": "Đang tắt thông báo", "en": "Silenced"},
    "since": {"vi": "từ {at}", "en": "since {at}"},
    # feed pages
    "portal.received": {"vi": "Hồ sơ tiếp nhận hôm nay", "en": "Dossiers received today"},
    "portal.resolved": {"vi": "Hồ sơ giải quyết hôm nay", "en": "Dossiers resolved today"},
    "portal.requests": {"vi": "Yêu cầu/phút", "en": "Requests/min"},
    "portal.errors": {"vi": "Tỷ lệ lỗi", "en": "Error rate"},
    "portal.latency": {"vi": "Độ trễ p95", "en": "p95 latency"},
    "portal.name": {"vi": "Cổng", "en": "Portal"},
    "portal.agency": {"vi": "Cơ quan", "en": "Agency"},
    "backtest.title": {"vi": "Kiểm tra ngược (ioc backtest) lần {run}, {input}",
                       "en": "Backtest (ioc backtest) run {run}, {input}"},
    "backtest.choose": {"vi": "Lần kiểm tra ngược", "en": "Backtest run"},
    "backtest.latest": {"vi": "Mới nhất", "en": "Latest"},
    "backtest.missing": {"vi": "Không có lần kiểm tra ngược {run} đã xong",
                         "en": "No finished backtest run {run}"},
    "backtest.none": {"vi": "Chưa có lần kiểm tra ngược nào (ioc backtest)",
                      "en": "No backtest yet (ioc backtest)"},
    "backtest.rule": {"vi": "Quy tắc", "en": "Rule"},
    "backtest.fired": {"vi": "Số lần", "en": "Fired"},
    "backtest.minutes": {"vi": "Phút cảnh báo", "en": "Minutes firing"},
    "backtest.timeline": {"vi": "Dòng thời gian {first} → {last}",
                          "en": "Timeline {first} → {last}"},
    "backtest.left_out": {"vi": "Không tính (theo dõi hệ thống theo giờ thực): {rules}",
                          "en": "Left out (they watch the running system): {rules}"},
    "backtest.diff": {"vi": "So với {against}: {only_rules} đợt chỉ có với bộ quy tắc này, "
                            "{only_against} đợt chỉ có với bộ kia",
                      "en": "Against {against}: {only_rules} episodes only with these rules, "
                            "{only_against} only with the other"},
    "ind.title": {"vi": "Bộ chỉ số {decision} hôm nay: toàn tỉnh và sở, ngành (nhiều hồ sơ "
                        "trễ hạn nhất trước)",
                  "en": "Decision {decision} indicators today: province and agencies (most "
                        "dossiers late first)"},
    "ind.centres": {"vi": "Trung tâm tiếp nhận: nhiều hồ sơ trễ hạn nhất",
                    "en": "Receiving centres: most dossiers late"},
    "ind.scope": {"vi": "Đơn vị", "en": "Body"},
    "ind.centre": {"vi": "Trung tâm", "en": "Centre"},
    "ind.received": {"vi": "Tiếp nhận", "en": "Received"},
    "ind.late": {"vi": "Trễ hạn", "en": "Late"},
    "ind.below": {"vi": "dưới mục tiêu", "en": "below target"},
    "portal.unit": {"vi": "Đơn vị", "en": "Unit"},
    "tele.hospital": {"vi": "Bệnh viện", "en": "Hospital"},
    "tele.hub": {"vi": "Tuyến trên", "en": "Central hospital"},
    "tele.status": {"vi": "Trạng thái", "en": "Status"},
    "tele.up": {"vi": "hoạt động", "en": "up"},
    "tele.down": {"vi": "mất kết nối", "en": "down"},
    "tele.silent": {"vi": "im lặng", "en": "silent"},
    "tele.latency": {"vi": "Độ trễ", "en": "Latency"},
    "tele.loss": {"vi": "Mất gói", "en": "Loss"},
    "pay.category": {"vi": "Loại", "en": "Category"},
    "pay.count": {"vi": "Số giao dịch (60 phút)", "en": "Payments (60 min)"},
    "pay.success": {"vi": "Thành công", "en": "Succeeded"},
    "pay.amount": {"vi": "Số tiền (60 phút)", "en": "Amount (60 min)"},
    "pay.per_minute": {"vi": "{value}/phút", "en": "{value}/min"},
    "typical.history": {
        "vi": "Giao dịch mỗi phút, 60 phút qua (theo {minutes} phút); dải xám: cùng giờ, cùng "
              "thứ trong {weeks} tuần trước",
        "en": "Payments per minute, last 60 minutes (by {minutes} min); grey band: the same "
              "hour on the same weekday of the {weeks} weeks before"},
    "typical.model": {
        "vi": "Giao dịch mỗi phút, 60 phút qua (theo {minutes} phút); dải xám: mức thường lệ "
              "theo mô hình nhịp hoạt động (chưa có lịch sử tuần trước)",
        "en": "Payments per minute, last 60 minutes (by {minutes} min); grey band: the usual "
              "level by the activity model (no history of earlier weeks yet)"},
    "typical.low": {"vi": "▼ thấp hơn thường lệ", "en": "▼ below usual"},
    "typical.high": {"vi": "▲ cao hơn thường lệ", "en": "▲ above usual"},
    "typical.usual": {"vi": "● như thường lệ", "en": "● as usual"},
    **{f"category.{code}": names for code, names in PAYMENT_CATEGORY_NAMES.items()},
    # alerts page and login
    "alert.severity": {"vi": "Mức độ", "en": "Severity"},
    "alert.summary": {"vi": "Nội dung", "en": "Summary"},
    "alert.state": {"vi": "Trạng thái", "en": "State"},
    "alert.age": {"vi": "Thời gian", "en": "Age"},
    "alert.ack": {"vi": "Xác nhận", "en": "Acknowledgement"},
    "alert.choose": {"vi": "Chọn cảnh báo", "en": "Choose an alert"},
    "alert.comment": {"vi": "Ghi chú (bắt buộc)", "en": "Comment (required)"},
    "alert.do_ack": {"vi": "Xác nhận đã xử lý", "en": "Acknowledge"},
    "alert.do_silence": {"vi": "Tắt thông báo", "en": "Silence"},
    "alert.silence_for": {"vi": "Trong", "en": "For"},
    "alert.hours": {"vi": "{n} giờ", "en": "{n} h"},
    "alert.acked_ok": {"vi": "Đã xác nhận cảnh báo", "en": "Alert acknowledged"},
    "alert.silenced_ok": {"vi": "Đã tắt thông báo (lần tắt số {id})",
                          "en": "Silenced (silence {id})"},
    "alert.expire": {"vi": "Bỏ tắt", "en": "Expire"},
    "alert.expired_ok": {"vi": "Đã bỏ tắt thông báo {id}", "en": "Silence {id} expired"},
    "alert.failed": {"vi": "Không thực hiện được: {error}", "en": "Could not do it: {error}"},
    "alert.need_choice": {"vi": "Hãy chọn một cảnh báo", "en": "Choose an alert first"},
    "alert.matchers_hint": {
        "vi": "hoặc theo nhãn: alertname=link_heartbeat_missing, unit=16531",
        "en": "or by labels: alertname=link_heartbeat_missing, unit=16531"},
    "alert.bad_matchers": {"vi": "Điều kiện nhãn không hợp lệ: {error}",
                           "en": "Invalid label matchers: {error}"},
    "alert.need_comment": {"vi": "Hãy nhập ghi chú", "en": "Write a comment first"},
    "alert.bad_hours": {"vi": "Hãy chọn thời gian tắt thông báo trong danh sách",
                        "en": "Choose how long to silence from the list"},
    "silences": {"vi": "Đang tắt thông báo", "en": "Active silences"},
    "pager.shown": {"vi": "{from}–{to} trên {total}", "en": "{from}–{to} of {total}"},
    "pager.prev": {"vi": "Trang trước", "en": "Previous page"},
    "pager.next": {"vi": "Trang sau", "en": "Next page"},
    "silence.matchers": {"vi": "Điều kiện", "en": "Matchers"},
    "silence.until": {"vi": "Đến", "en": "Until"},
    "silence.by": {"vi": "Người tạo", "en": "Created by"},
    "silence.comment": {"vi": "Ghi chú", "en": "Comment"},
    "login": {"vi": "Đăng nhập", "en": "Log in"},
    "logout": {"vi": "Đăng xuất", "en": "Log out"},
    "login.user": {"vi": "Tên đăng nhập", "en": "User name"},
    "login.password": {"vi": "Mật khẩu", "en": "Password"},
    "http.login_required": {"vi": "Cần đăng nhập", "en": "Login required"},
    "http.not_found": {"vi": "Không tìm thấy", "en": "Not found"},
    "http.unauthorized": {"vi": "Không có quyền truy cập", "en": "Unauthorized"},
    "login.proxy": {"vi": "Cần đăng nhập qua máy chủ xác thực (reverse proxy)",
                    "en": "Sign in through the authenticating reverse proxy"},
    "login.failed": {"vi": "Sai tên đăng nhập hoặc mật khẩu", "en": "Wrong user name or password"},
    "login.wait": {"vi": "Đăng nhập sai quá nhiều lần; thử lại sau {minutes} phút",
                   "en": "Too many failed logins; try again in {minutes} min"},
    "login.required": {"vi": "Cần đăng nhập để xác nhận hoặc tắt cảnh báo",
                       "en": "Log in to acknowledge or silence alerts"},
    "login.as": {"vi": "Đăng nhập: {who}", "en": "Logged in as {who}"},
}


def t(key: str, lang: str = "vi", **values: object) -> str:
    """The label `key` in `lang` (Vietnamese when the language is unknown)."""
    entry = CATALOGUE[key]
    return entry.get(lang, entry["vi"]).format(**values)


def format_int(value: int, lang: str = "vi") -> str:
    """1525644 -> '1.525.644' (vi) or '1,525,644' (en)."""
    return localize(f"{value:,}", lang)


def format_percent(ratio: float, lang: str = "vi", digits: int = 2) -> str:
    """0.9872 -> '98,72%' (vi) or '98.72%' (en)."""
    return localize(f"{ratio * 100:.{digits}f}%", lang)


def format_float(value: float, lang: str = "vi", digits: int = 1) -> str:
    """1234.5 -> '1.234,5' (vi) or '1,234.5' (en)."""
    return localize(f"{value:,.{digits}f}", lang)


def format_clock(at: datetime, lang: str = "vi") -> str:
    """Only the time of day in the province's time zone: '14:05:09'."""
    return at.astimezone(TZ).strftime("%H:%M:%S")


def format_time(at: datetime, lang: str = "vi") -> str:
    """A moment in the province's time zone: '14:05:09 22/11/2026'."""
    local = at.astimezone(TZ)
    return local.strftime("%H:%M:%S %d/%m/%Y" if lang == "vi" else "%Y-%m-%d %H:%M:%S")


def format_age(seconds: float, lang: str = "vi", ago: bool = True) -> str:
    """How long ago ("42 giây trước"), or how long (`ago=False`: "42 giây"), in the
    largest whole unit."""
    kind = "age" if ago else "span"
    n = max(0, int(seconds))
    if n < 120:
        return t(f"{kind}_seconds", lang, n=n)
    if n < 7200:
        return t(f"{kind}_minutes", lang, n=n // 60)
    return t(f"{kind}_hours", lang, n=n // 3600)
