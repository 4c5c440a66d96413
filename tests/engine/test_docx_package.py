"""Documents opened from the once-built template (engine.reports.docx_package) and their tables
(docx_layout.table copies a blank row) are the documents python-docx makes the plain way, file for file
and byte for byte, whether or not a style is touched, from one thread or several."""

import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from io import BytesIO

import pytest
from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Mm, Pt

from engine.reports import docx_layout
from engine.reports.docx_fonts import apply_chinese_styles
from engine.reports.docx_package import open_document, save_document

Build = Callable[[DocumentObject], None]


def set_up(document: DocumentObject) -> None:
    apply_chinese_styles(document)
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.header.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    section.footer.paragraphs[0].text = "第 1 页"


def contents(document: DocumentObject) -> None:
    document.sections[0].header.paragraphs[0].text = "湘峰　|　记录"
    document.core_properties.title = "记录 Record"
    document.core_properties.created = datetime(2026, 1, 2, 3, 4, 5)
    document.add_heading("标题 Title", level=0)
    document.add_heading("一级 Heading", level=1)
    document.add_paragraph("要点 Bullet", style="List Bullet")
    document.add_paragraph("正文\n第二行\t制表")
    table = document.add_table(rows=2, cols=3)
    table.style = "Table Grid"
    table.cell(1, 2).text = "单元格 Cell"
    document.add_page_break()


def restyled(document: DocumentObject) -> None:
    contents(document)
    document.styles["Normal"].font.size = Pt(12)  # styles.xml is parsed, changed and written anew


def files(data: bytes) -> list[tuple[str, int, int, int, int, int, bytes]]:
    with zipfile.ZipFile(BytesIO(data)) as archive:
        assert archive.testzip() is None
        return [
            (
                i.filename,
                i.compress_type,
                i.create_system,
                i.external_attr,
                i.flag_bits,
                i.CRC,
                archive.read(i),
            )
            for i in archive.infolist()
        ]


def plain(build: Build) -> bytes:
    document = Document()
    set_up(document)
    build(document)
    buffer = BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def from_template(build: Build) -> bytes:
    document = open_document(set_up)
    build(document)
    return save_document(document, set_up)


@pytest.mark.parametrize("build", [contents, restyled], ids=["styles untouched", "a style changed"])
def test_a_document_from_the_template_is_python_docx_own(build: Build):
    expected = files(plain(build))
    assert files(from_template(build)) == expected
    assert files(from_template(build)) == expected  # and again, from the template already built


def test_documents_built_on_several_threads_at_once_are_all_the_same():
    expected = files(plain(contents))
    with ThreadPoolExecutor(4) as pool:
        built = list(pool.map(lambda _: files(from_template(contents)), range(12)))
    assert all(document == expected for document in built)


def plain_table(document, header, rows, widths_mm=()):
    """docx_layout.table as it was written first: python-docx adds each row and sets each cell."""
    added = document.add_table(rows=1, cols=len(header))
    added.style = "Table Grid"
    widths = [Mm(width) for width in widths_mm] or [None] * len(header)
    for cell, text, width in zip(added.rows[0].cells, header, widths, strict=True):
        cell.paragraphs[0].add_run(docx_layout.printable(text)).bold = True
        if width is not None:
            cell.width = width
    docx_layout._repeat_as_header(added.rows[0])
    for row in rows:
        for cell, text, width in zip(added.add_row().cells, row, widths, strict=True):
            cell.text = docx_layout.printable(text)
            if width is not None:
                cell.width = width
    for column, width in zip(added.columns, widths, strict=True):
        if width is not None:
            column.width = width


TEXTS = ["李娜", "", "多行\n  原 Before：\r\n\t制表", "\x1b[31m", " 空格 ", "\u3000全角", "尾\t", "\n"]


@pytest.mark.parametrize("widths", [(), (20, 50, 86)], ids=["equal columns", "set widths"])
def test_a_layout_table_is_the_one_python_docx_makes_cell_by_cell(widths):
    """The second table of a shape is copied from the first (also across documents): the same XML."""
    header = ["序号 Seq", "人员 Actor", "变更 Changes"]
    rows = [[str(number), text, TEXTS[-number]] for number, text in enumerate(TEXTS, start=1)]
    for _ in range(2):
        ours = docx_layout.new_document(organization="湘峰", title="表", author="测试")
        theirs = docx_layout.new_document(organization="湘峰", title="表", author="测试")
        for _ in range(2):
            docx_layout.table(ours, header, rows, widths_mm=widths)
            plain_table(theirs, header, rows, widths)
        assert ours.element.body.xml == theirs.element.body.xml


def test_layout_paragraphs_and_headings_are_the_ones_python_docx_makes_run_by_run():
    ours = docx_layout.new_document(organization="湘峰", title="段落", author="测试")
    theirs = docx_layout.new_document(organization="湘峰", title="段落", author="测试")
    for label in ("", "标签 Label：", " 空格："):
        for text in TEXTS:
            docx_layout.paragraph(ours, text, bold_label=label)
            added = theirs.add_paragraph()
            if label:
                added.add_run(label).bold = True
            if text:
                added.add_run(docx_layout.printable(text))
    for level in range(3):
        docx_layout.heading(ours, f"标题 {level}\t", level)
        theirs.add_heading(f"标题 {level}\t", level)
    for style in ("Normal", "List Bullet", "Caption"):
        docx_layout.paragraph(ours, style, bold_label="样式：", style=style)
        added = theirs.add_paragraph(style=style)
        added.add_run("样式：").bold = True
        added.add_run(style)
    assert ours.element.body.xml == theirs.element.body.xml
    assert [p.text for p in ours.paragraphs] == [p.text for p in theirs.paragraphs]
