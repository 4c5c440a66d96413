"""Runs of text and repeated table parts as python-docx writes them, but written with lxml directly or copied:
python-docx's element classes place each new child by searching its siblings' names, about 50 µs an
element, and a record document has a few thousand (issue 13). tests/engine/test_docx_package.py compares
the XML with python-docx's own."""

import re
import threading
from collections.abc import Hashable
from copy import deepcopy
from typing import Any

from docx.oxml.ns import qn
from lxml.etree import SubElement

_BREAKS = re.compile("([\t\r\n])")
_R, _RPR, _B, _T, _TAB, _BR, _SPACE = (
    qn("w:r"), qn("w:rPr"), qn("w:b"), qn("w:t"), qn("w:tab"), qn("w:br"), qn("xml:space")
)  # fmt: skip
_PPR, _PSTYLE, _VAL = qn("w:pPr"), qn("w:pStyle"), qn("w:val")


def style_paragraph(new: Any, style_id: str | None) -> None:
    """python-docx's ``paragraph.style = …`` on a new, empty paragraph: its w:pPr, holding the style's id
    unless the style is the default one (None)."""
    properties = SubElement(new, _PPR)
    if style_id is not None:
        SubElement(properties, _PSTYLE).set(_VAL, style_id)


def add_run(parent: Any, text: str, *, bold: bool = False) -> Any:
    """python-docx's ``add_run(text)`` on a paragraph (with ``.bold = True``): a tab as w:tab, a line
    break as w:br, the rest as w:t, kept as typed where it starts or ends with white space."""
    run = SubElement(parent, _R)
    if bold:
        SubElement(SubElement(run, _RPR), _B)
    for piece in _BREAKS.split(text):
        if piece == "\t":
            SubElement(run, _TAB)
        elif piece in ("\r", "\n"):
            SubElement(run, _BR)
        elif piece:
            element = SubElement(run, _T)
            element.text = piece
            if len(piece.strip()) < len(piece):
                element.set(_SPACE, "preserve")
    return run


class Parts:
    """XML built once by python-docx and copied after, by what it was built from (a table's header and
    widths): the app's tables are a few dozen shapes. Bounded all the same."""

    def __init__(self, limit: int = 256) -> None:
        self._built: dict[Hashable, tuple[Any, ...]] = {}
        self._limit = limit
        self._lock = threading.Lock()  # an lxml tree is read by one thread at a time

    def get(self, key: Hashable) -> tuple[Any, ...] | None:
        """Copies of the elements kept for ``key``, or None."""
        with self._lock:
            kept = self._built.get(key)
            return None if kept is None else tuple(deepcopy(element) for element in kept)

    def put(self, key: Hashable, elements: tuple[Any, ...]) -> None:
        """Keeps copies of ``elements`` for ``key``."""
        copies = tuple(deepcopy(element) for element in elements)
        with self._lock:
            if len(self._built) >= self._limit:
                self._built.clear()
            self._built[key] = copies
