"""What a value from outside may be — an id, a year, a piece of text — with one rule for every boundary:
the pages, the API, the imports and the command line. Ids fit PostgreSQL's ``integer`` (and SQLite's), years
are the reporting years the factor tables can cover, and text carries no control characters (tab and line
breaks excepted) and no bidirectional overrides, which would let a title read differently than it is."""

import re
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

ID_MAX = 2**31 - 1  # PostgreSQL's integer
YEAR_MIN, YEAR_MAX = 1990, 2100

Id = Annotated[int, Field(ge=1, le=ID_MAX)]
Year = Annotated[int, Field(ge=YEAR_MIN, le=YEAR_MAX)]

# C0 controls but tab, LF and the CR of CRLF; DEL and C1; the bidi embeddings, overrides and isolates.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]|\r(?!\n)")


def forbidden_character(value: str) -> str | None:
    """The first character text may not hold, as ``U+XXXX``; None when the text is clean."""
    match = _FORBIDDEN.search(value)
    return f"U+{ord(match.group()[0]):04X}" if match else None


def control_character_message(character: str) -> tuple[str, str]:
    """(zh, en) of the refusal of a text holding ``character``."""
    return (
        f"不能包含控制字符或双向文本控制符（{character}）",
        f"Must not contain control or bidirectional-override characters ({character})",
    )


def _clean(value: str) -> str:
    character = forbidden_character(value)
    if character:
        raise PydanticCustomError(
            "control_character",
            "Must not contain control or bidirectional-override characters ({character})",
            {"character": character},
        )
    return value


CleanText = Annotated[str, AfterValidator(_clean)]


def parse_id(text: str) -> int | None:
    """The id a form field holds, or None when it is not one (not digits, 0, or past ID_MAX)."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if 1 <= value <= ID_MAX else None


def parse_year(text: str) -> int | None:
    """The year a form field holds, or None when it is not a year between YEAR_MIN and YEAR_MAX."""
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) == 4):
        return None
    value = int(text)
    return value if YEAR_MIN <= value <= YEAR_MAX else None
