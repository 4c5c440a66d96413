"""Problems with emissions data: every problem found, by row and field, in Chinese and English."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MAX_LISTED_ISSUES = 500
# ---------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class DataIssue:
    """One problem: ``row`` is the 1-based position in the submitted list (sheet row for files)."""

    row: int | None
    field: str
    message_zh: str
    message_en: str
    source_code: str | None = None
    period: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "field": self.field,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "source_code": self.source_code,
            "period": self.period,
        }


class EmissionsDataError(ValueError):
    """Bad emissions data. ``issues`` lists every problem found (capped at MAX_LISTED_ISSUES + 1)."""

    def __init__(self, issues: Iterable[DataIssue]) -> None:
        listed = sorted(issues, key=lambda issue: (issue.row is None, issue.row or 0))
        if not listed:
            raise ValueError("EmissionsDataError needs at least one issue")
        if len(listed) > MAX_LISTED_ISSUES:
            more = len(listed) - MAX_LISTED_ISSUES
            listed = listed[:MAX_LISTED_ISSUES] + [
                DataIssue(
                    row=None,
                    field="*",
                    message_zh=f"另有 {more} 个问题未列出",
                    message_en=f"{more} more problems not listed",
                )
            ]
        self.issues: tuple[DataIssue, ...] = tuple(listed)
        first = self.issues[0]
        where = f"row {first.row}, " if first.row is not None else ""
        super().__init__(f"{len(self.issues)} problem(s); first: {where}{first.field}: {first.message_en}")

    @classmethod
    def single(cls, field: str, *, zh: str, en: str, row: int | None = None) -> "EmissionsDataError":
        return cls([DataIssue(row=row, field=field, message_zh=zh, message_en=en)])

    def to_json(self) -> dict[str, Any]:
        return {"errors": [issue.to_dict() for issue in self.issues]}


class BadValue(Exception):
    """A field could not be used; carries the two messages."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


def data_issue(field_name: str, zh: str, en: str, *, row: int | None = None) -> DataIssue:
    return DataIssue(row=row, field=field_name, message_zh=zh, message_en=en)
