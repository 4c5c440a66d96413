"""Reading the documents the app produces, as a person (or an auditor's tool) would."""

import re
from datetime import UTC, datetime, timedelta
from io import BytesIO

from docx import Document
from docx.shared import Mm

WORD_NS = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
RAW_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def open_docx(content: bytes):
    return Document(BytesIO(content))


def all_text(document) -> str:
    """Body paragraphs, every table cell (nested too), headers and footers."""
    parts = [p.text for p in document.paragraphs]

    def cells(tables):
        for table in tables:
            for row in table.rows:
                for cell in row.cells:
                    parts.append(cell.text)
                    cells(cell.tables)

    cells(document.tables)
    for section in document.sections:
        for part in (section.header, section.footer):
            parts += [p.text for p in part.paragraphs]
            cells(part.tables)
    return "\n".join(parts)


def assert_a4_with_header_footer_and_metadata(document, *, header_has: list[str], author: str, title: str):
    for section in document.sections:
        assert abs(section.page_width - Mm(210)) < Mm(1) and abs(section.page_height - Mm(297)) < Mm(1)
        assert section.left_margin >= Mm(20) and section.top_margin >= Mm(20)
        header = "\n".join(p.text for p in section.header.paragraphs)
        for text in header_has:
            assert text in header, (text, header)
        footer_xml = section.footer._element.xml
        assert "PAGE" in footer_xml and "NUMPAGES" in footer_xml, footer_xml  # page X / Y as fields
    properties = document.core_properties
    assert properties.author == author and properties.author != "python-docx"
    assert properties.title == title
    app = next(p for p in document.part.package.iter_parts() if str(p.partname) == "/docProps/app.xml")
    assert b"Microsoft" not in app.blob and "碳管 Tanguan".encode() in app.blob
    now = datetime.now(UTC)
    for moment in (properties.created, properties.modified):
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        assert now - timedelta(minutes=10) < moment <= now + timedelta(minutes=1)
