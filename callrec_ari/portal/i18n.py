"""The portal's languages (issue 19): Japanese by default, English one click away.

Source strings are English, in the code and the templates (``_("...")`` in Python, ``{% trans %}``
and ``_()`` in Jinja2); the Japanese catalogs are ``portal/locale/ja/*.po`` (one per part of the
portal, merged), read with Babel when first needed. The language of a request is, in order: the
logged-in user's choice (stored with the user), the ``callrec_lang`` cookie (the login page's
switch), else Japanese (API clients: ``Accept-Language``, else English). It lives in a context
variable for the request's task, so handlers, error pages and templates all speak it without
passing it around.

Times on customer pages are Japan time (JST, UTC+9, no daylight saving); the protocols and the
manifest stay UTC. Yen amounts are written the Japanese way: ``1,234円`` (``¥1,234`` in English).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path

LOCALES = ("ja", "en")
DEFAULT_LOCALE = "ja"
LANG_COOKIE = "callrec_lang"
LANGUAGE_NAMES = {"ja": "日本語", "en": "English"}
JST = timezone(timedelta(hours=9), "JST")
CATALOG_DIR = Path(__file__).parent / "locale"

_locale: ContextVar[str] = ContextVar("callrec_portal_locale", default=DEFAULT_LOCALE)


def normalize(value: str | None) -> str | None:
    """``value`` as one of :data:`LOCALES`, or None when it is not one."""
    return value if value in LOCALES else None


@cache
def catalog(locale: str) -> dict[str, str]:
    """msgid -> translation of ``locale`` (English is the source: an empty table). Fuzzy and
    untranslated entries are left out, so they show in English rather than wrong."""
    if locale == "en":
        return {}
    from babel.messages.pofile import read_po  # only the portal reads catalogs

    table: dict[str, str] = {}
    for path in sorted((CATALOG_DIR / locale).glob("*.po")):
        with path.open("rb") as fp:
            po = read_po(fp, locale=locale)
        for message in po:
            if not message.id or message.fuzzy:
                continue
            msgid = message.id if isinstance(message.id, str) else message.id[0]
            text = message.string if isinstance(message.string, str) else (message.string or ("",))[0]
            if text:
                table[msgid] = text
    return table


def current() -> str:
    return _locale.get()


def set_current(locale: str) -> None:
    _locale.set(normalize(locale) or DEFAULT_LOCALE)


@contextmanager
def speaking(locale: str) -> Iterator[None]:
    """Run a block in ``locale`` (tests, the CLI, background jobs)."""
    token = _locale.set(normalize(locale) or DEFAULT_LOCALE)
    try:
        yield
    finally:
        _locale.reset(token)


def gettext(message: str) -> str:
    return catalog(current()).get(message, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """Japanese has one form: its catalog translates the singular msgid."""
    table = catalog(current())
    if current() == "ja":
        return table.get(singular, plural if n != 1 else singular)
    return singular if n == 1 else plural


_ = gettext


def N_(message: str) -> str:
    """Mark a string for the catalog where it is defined (a module-level table); ``gettext`` it
    where it is shown."""
    return message


def as_jst(value: datetime | str | None) -> datetime | None:
    """``value`` (a datetime, naive meaning UTC, or an ISO 8601 string as the API gives) in JST."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(JST)


def format_datetime(value: datetime | str | None, seconds: bool = False) -> str:
    """A time on a customer page: Japan time, ``2026/12/01 09:30`` (with the zone in English)."""
    local = as_jst(value)
    if local is None:
        return ""
    text = local.strftime("%Y/%m/%d %H:%M:%S" if seconds else "%Y/%m/%d %H:%M")
    return text if current() == "ja" else f"{text} JST"


def format_date(value: date | datetime | str | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = as_jst(value) or date.fromisoformat(value)
    if isinstance(value, datetime):
        value = as_jst(value) or value
    if current() == "ja":
        return f"{value.year}年{value.month}月{value.day}日"
    return value.strftime("%Y-%m-%d")


def format_yen(amount: int | None) -> str:
    if amount is None:
        return ""
    return f"{amount:,}円" if current() == "ja" else f"¥{amount:,}"


def format_number(value: int | float | None) -> str:
    return "" if value is None else f"{value:,}"


def format_duration(seconds: float | int | None) -> str:
    """``1:05:09`` / ``5:09``: a call's length."""
    if seconds is None:
        return ""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


FILTERS: dict[str, Callable[..., str]] = {
    "datetime": format_datetime,
    "date": format_date,
    "yen": format_yen,
    "number": format_number,
    "duration": format_duration,
}

__all__ = ["DEFAULT_LOCALE", "FILTERS", "JST", "LANGUAGE_NAMES", "LANG_COOKIE", "LOCALES", "N_", "_",
           "as_jst", "catalog", "current", "format_date", "format_datetime", "format_duration",
           "format_number", "format_yen", "gettext", "ngettext", "normalize", "set_current", "speaking"]
