"""python-docx's ``Font.name`` sets only the Latin font; Chinese text needs ``w:eastAsia`` set too, or
Word and LibreOffice fall back to another font."""

from typing import Any

from docx.document import Document
from docx.oxml.ns import qn
from docx.shared import Pt

BODY_FONT = ("Times New Roman", "宋体")
HEADING_FONT = ("Arial", "黑体")


def set_fonts(style_or_run: Any, *, latin: str, east_asian: str, size_pt: float | None = None) -> None:
    font = style_or_run.font
    font.name = latin
    if size_pt:
        font.size = Pt(size_pt)
    properties = style_or_run.element.get_or_add_rPr()
    fonts = properties.find(qn("w:rFonts"))
    if fonts is None:
        fonts = properties.makeelement(qn("w:rFonts"), {})
        properties.append(fonts)
    for attribute in ("w:ascii", "w:hAnsi"):
        fonts.set(qn(attribute), latin)
    fonts.set(qn("w:eastAsia"), east_asian)


def apply_chinese_styles(document: Document) -> None:
    set_fonts(document.styles["Normal"], latin=BODY_FONT[0], east_asian=BODY_FONT[1], size_pt=10.5)
    for name in ("Title", "Heading 1", "Heading 2", "Heading 3"):
        set_fonts(document.styles[name], latin=HEADING_FONT[0], east_asian=HEADING_FONT[1])
