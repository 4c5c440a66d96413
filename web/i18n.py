"""Locales, catalogs and Babel formatting. Catalog folders and negotiation keys use one spelling
(``zh_CN``, ``en``); Babel's own ``zh_Hans_CN`` appears only inside formatting calls."""

from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel import Locale
from babel.dates import format_datetime as babel_format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal as babel_format_decimal
from babel.support import Translations

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
LOCALE_NAMES = {"zh_CN": "中文", "en": "English"}
DISPLAY_TIMEZONE = "Asia/Shanghai"
TRANSLATIONS_DIR = Path(__file__).with_name("translations")


def catalog_path(locale: str) -> Path:
    return TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po"


@lru_cache
def translations(locale: str) -> Translations:
    """The catalog, compiled in memory from the .po file (no build step, no stale .mo)."""
    with catalog_path(locale).open("rb") as po_file:
        catalog = read_po(po_file, locale=locale)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def normalize_locale(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().replace("-", "_").lower()
    if value.startswith("zh"):
        return "zh_CN"
    if value.startswith("en"):
        return "en"
    return None


def negotiate(*, user_locale: str | None, cookie_locale: str | None, accept_language: str | None) -> str:
    """User setting, then the chosen cookie, then Accept-Language (by q), then zh_CN."""
    for candidate in (user_locale, cookie_locale):
        normalized = normalize_locale(candidate)
        if normalized:
            return normalized
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if locale := normalize_locale(tag):
            ranked.append((-quality, position, locale))
    return min(ranked)[2] if ranked else DEFAULT_LOCALE


@lru_cache
def babel_locale(locale: str) -> Locale:
    return Locale.parse(locale)


def format_datetime(value: datetime | str | None, locale: str, *, format: str = "medium") -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    # babel annotates tzinfo as a tzinfo, but takes a zone name too (it calls get_timezone on it)
    return babel_format_datetime(
        value,
        format=format,
        tzinfo=DISPLAY_TIMEZONE,  # type: ignore[arg-type]
        locale=babel_locale(locale),
    )


def format_number(value: float | Decimal | str, locale: str, *, exact: bool = False) -> str:
    """Grouped digits; rounded to three decimals unless ``exact`` (every digit of a stored input)."""
    return babel_format_decimal(value, locale=babel_locale(locale), decimal_quantization=not exact)


def template_messages() -> dict[str, list[str]]:
    """Every translatable string in the shipped templates, with the files that use it."""
    from jinja2.ext import babel_extract

    found: dict[str, list[str]] = {}
    templates = Path(__file__).with_name("templates")
    for path in sorted(templates.rglob("*.html")):
        with path.open("rb") as source:
            for _line, _function, message, _comments in babel_extract(
                source, ("_", "gettext", "ngettext"), [], {"extensions": "jinja2.ext.i18n"}
            ):
                for msgid in message if isinstance(message, tuple) else (message,):
                    if msgid:
                        found.setdefault(msgid, []).append(path.name)
    return found
