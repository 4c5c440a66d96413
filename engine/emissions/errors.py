"""The one exception type of the calculator, carrying every problem found in the input.

Each problem is an :class:`Issue` with the line number (1-based position in the JSON ``lines``
array, or the sheet row number for CSV/xlsx, header = row 1), the field, and a message in Chinese
and in English. Validation collects all issues before raising, so one run shows every mistake.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Issue:
    line: int | None
    field: str
    message_zh: str
    message_en: str

    def describe(self) -> str:
        where = f"line {self.line}, " if self.line is not None else ""
        return f"{where}{self.field}: {self.message_en} / {self.message_zh}"


class CalcError(Exception):
    """Bad calculator input. ``issues`` holds every problem; the attributes describe the first."""

    issues: tuple[Issue, ...]

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues = tuple(issues)
        if not self.issues:
            raise ValueError("CalcError needs at least one issue")
        super().__init__("; ".join(issue.describe() for issue in self.issues))

    @classmethod
    def single(cls, *, field: str, zh: str, en: str, line: int | None = None) -> CalcError:
        return cls([Issue(line=line, field=field, message_zh=zh, message_en=en)])

    @property
    def line(self) -> int | None:
        return self.issues[0].line

    @property
    def field(self) -> str:
        return self.issues[0].field

    @property
    def message_zh(self) -> str:
        return self.issues[0].message_zh

    @property
    def message_en(self) -> str:
        return self.issues[0].message_en

    def at_line(self, line: int) -> CalcError:
        """The same issues, placed on ``line`` where they had no line yet."""
        return CalcError(
            issue if issue.line is not None else replace(issue, line=line) for issue in self.issues
        )


def suggest(word: str, candidates: Sequence[str], *, limit: int = 3) -> list[str]:
    """Close spellings of ``word`` among ``candidates`` (only computed when reporting an error)."""
    import difflib

    return difflib.get_close_matches(word, list(candidates), n=limit, cutoff=0.4)


def suggestion_text(word: str, candidates: Sequence[str]) -> tuple[str, str]:
    """Chinese and English 'did you mean' fragments, empty when nothing is close."""
    close = suggest(word, candidates)
    if not close:
        return "", ""
    joined = "、".join(close)
    return f"；您是否指：{joined}", f"; did you mean: {', '.join(close)}"
