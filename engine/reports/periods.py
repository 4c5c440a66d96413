"""The reporting period a document covers, as its header prints it ("报告期：2026年1月1日至2026年12月31日").

A record has one when its process says which of its fields hold it: a year, a month ("YYYY-MM") or a first
and last day. The hooks module of a process declares them (``declare_period``); the engine knows no field."""

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from babel.dates import format_date


@dataclass(frozen=True)
class ReportingPeriod:
    start: date
    end: date

    @classmethod
    def of_year(cls, year: int) -> "ReportingPeriod":
        return cls(date(year, 1, 1), date(year, 12, 31))

    @classmethod
    def of_month(cls, year: int, month: int) -> "ReportingPeriod":
        return cls(date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1]))

    @property
    def zh(self) -> str:
        return f"{_zh(self.start)}至{_zh(self.end)}"

    @property
    def en(self) -> str:
        return f"{_en(self.start)} – {_en(self.end)}"

    @property
    def header(self) -> str:
        return f"报告期：{self.zh}　Reporting period: {self.en}"


def _en(day: date) -> str:
    return format_date(day, "d MMMM y", locale="en")


def _zh(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


@dataclass(frozen=True)
class PeriodFields:
    """Which fields of a process's records hold their period; the first that is filled wins: first and
    last day, then a month, then a year."""

    year: str | None = None
    month: str | None = None
    start: str | None = None
    end: str | None = None


PERIOD_FIELDS: dict[str, PeriodFields] = {}


def declare_period(
    workflow_key: str,
    *,
    year: str | None = None,
    month: str | None = None,
    start: str | None = None,
    end: str | None = None,
) -> None:
    PERIOD_FIELDS[workflow_key] = PeriodFields(year=year, month=month, start=start, end=end)


def record_period(workflow_key: str, data: Mapping[str, Any]) -> ReportingPeriod | None:
    """The period of a record of the process, or None when it declares none or its fields are empty."""
    fields = PERIOD_FIELDS.get(workflow_key)
    if fields is None:
        return None
    if fields.start and fields.end:
        first, last = _day(data.get(fields.start)), _day(data.get(fields.end))
        if first and last and first <= last:
            return ReportingPeriod(first, last)
    if fields.month:
        match = re.fullmatch(r"(\d{4})-(0[1-9]|1[0-2])", str(data.get(fields.month) or ""))
        if match:
            return ReportingPeriod.of_month(int(match[1]), int(match[2]))
    if fields.year:
        year = data.get(fields.year)
        text = str(year).strip() if year is not None else ""
        if re.fullmatch(r"\d{4}", text) and 1990 <= int(text) <= 2100:
            return ReportingPeriod.of_year(int(text))
    return None


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None
