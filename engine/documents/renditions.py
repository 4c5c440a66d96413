"""The generic parts of a document's renditions: Markdown rendered safely (no raw HTML, no script, no
``javascript:`` link), the text of a docx, a line diff between two texts, and the 作废 / OBSOLETE mark
stamped on a docx."""

import difflib
import re
import zipfile
from dataclasses import dataclass
from io import BytesIO

from docx import Document
from docx.opc.exceptions import OpcError
from lxml import etree
from markdown_it import MarkdownIt

from engine.reports.docx_layout import printable, stamp

# CommonMark with raw HTML off (it is shown as text) plus tables; images off (a document in force must not
# pull anything from elsewhere). markdown-it's own link check refuses javascript:, vbscript:, file: and
# data: URLs: such a link stays text.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table").disable("image")
_SAFE_LINK = re.compile(r"^(https?://|mailto:|/|#)", re.IGNORECASE)
# Stricter than markdown-it's own check (which lets data:image through): web, mail and in-app links only.
_MARKDOWN.validateLink = lambda url: bool(_SAFE_LINK.match(url.strip()))  # type: ignore[method-assign]


def markdown_html(text: str) -> str:
    """Safe HTML for a page (the caller marks it safe)."""
    return str(_MARKDOWN.render(printable(text or "")))


class UnreadableDocument(ValueError):
    pass


def docx_text(content: bytes) -> str:
    """The paragraphs and table cells of a docx, one line each (python-docx's parser resolves no
    entities, so XXE and entity bombs in a part are inert)."""
    try:
        document = Document(BytesIO(content))
    except (zipfile.BadZipFile, KeyError, ValueError, etree.LxmlError, OpcError) as error:
        raise UnreadableDocument(str(error)) from None
    lines = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text for cell in row.cells))
    return "\n".join(line for line in lines if line.strip())


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "same", "added", "removed"
    text: str


def line_diff(old: str, new: str) -> list[DiffLine]:
    """Line by line, as a reviewer reads a change: removed lines before the lines that replace them."""
    before, after = (old or "").splitlines(), (new or "").splitlines()
    lines: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            lines.extend(DiffLine("same", text) for text in before[i1:i2])
            continue
        lines.extend(DiffLine("removed", text) for text in before[i1:i2])
        lines.extend(DiffLine("added", text) for text in after[j1:j2])
    return lines


OBSOLETE_MARK = "作废 / OBSOLETE"


def stamp_obsolete(document: object, *, note: str) -> None:
    """A python-docx document marked on its first line and in every page header (red, bold)."""
    stamp(document, mark=OBSOLETE_MARK, note=note)


def stamped_docx(content: bytes, *, note: str) -> bytes:
    """An uploaded docx with the 作废 mark added (the stored file itself is never changed)."""
    try:
        document = Document(BytesIO(content))
    except (zipfile.BadZipFile, KeyError, ValueError, etree.LxmlError, OpcError) as error:
        raise UnreadableDocument(str(error)) from None
    stamp_obsolete(document, note=note)
    buffer = BytesIO()
    document.save(buffer)
    return buffer.getvalue()
