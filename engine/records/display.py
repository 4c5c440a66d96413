"""How a record's stored values read to people: choice labels, names instead of ids, tables as rows, China
time. The record page, its timeline and the exports all render values here."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from engine.forms.spec import FieldSpec, FieldType

CHINA_TIME = ZoneInfo("Asia/Shanghai")

# What an id stands for, when its name is not known (a value is never shown as a bare id).
_UNKNOWN = {
    FieldType.user: ("用户", "user"),
    FieldType.org_unit: ("组织单元", "unit"),
    FieldType.record_link: ("记录", "record"),
    FieldType.evidence: ("文件", "file"),
}


@dataclass(frozen=True)
class Names:
    """The names of what a record's ids point to: users, organization units, records, evidence files."""

    users: Mapping[int, str] = field(default_factory=dict)
    units: Mapping[int, str] = field(default_factory=dict)
    records: Mapping[int, str] = field(default_factory=dict)
    evidence: Mapping[int, str] = field(default_factory=dict)

    def of(self, kind: FieldType, value: Any, locale: str = "zh_CN") -> str:
        table = {
            FieldType.user: self.users,
            FieldType.org_unit: self.units,
            FieldType.record_link: self.records,
            FieldType.evidence: self.evidence,
        }.get(kind)
        if table is None:
            return str(value)
        key = int(value) if isinstance(value, str) and value.isdigit() else value
        name = table.get(key)
        if name:
            return name
        zh, en = _UNKNOWN[kind]
        return f"{zh} #{value}" if locale.startswith("zh") else f"{en} #{value}"


def display_value(field: FieldSpec, value: Any, names: Names, locale: str = "zh_CN") -> str:
    """A stored value as text; "" for nothing. A table's rows are one line each ("1. column: value; …")."""
    if value is None or value == "" or value == []:
        return ""
    zh = locale.startswith("zh")
    match field.type:
        case FieldType.choice:
            return field.choice_label(str(value), locale)
        case FieldType.multi_choice:
            items = value if isinstance(value, list) else [value]
            return ("、" if zh else ", ").join(field.choice_label(str(item), locale) for item in items)
        case FieldType.user | FieldType.org_unit | FieldType.record_link | FieldType.evidence:
            if isinstance(value, list):
                return ("、" if zh else ", ").join(names.of(field.type, item, locale) for item in value)
            return names.of(field.type, value, locale)
        case FieldType.number if field.unit:
            return f"{value} {field.unit}"
        case FieldType.table if isinstance(value, list):
            return "\n".join(
                f"{number}. " + table_row(field, row, names, locale) for number, row in enumerate(value, 1)
            )
    return str(value)


def table_row(field: FieldSpec, row: Any, names: Names, locale: str = "zh_CN") -> str:
    """One row of a table field: its filled cells as "column: value", in the order of the columns."""
    if not isinstance(row, dict):
        return str(row)
    separator = "；" if locale.startswith("zh") else "; "
    colon = "：" if locale.startswith("zh") else ": "
    cells = [
        f"{column.label.get(locale)}{colon}{text}"
        for column in field.columns
        if (text := display_value(column, row.get(column.name), names, locale))
    ]
    return separator.join(cells) or "—"


def china_time(value: datetime | str | None) -> str:
    """A UTC time (aware, naive meaning UTC, or ISO text) as China time, "2026-03-05 10:32"."""
    moment = as_china_time(value)
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def as_china_time(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(CHINA_TIME)
