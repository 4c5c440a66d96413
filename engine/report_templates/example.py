"""An example template for a report type, to download and change in Word: the house A4 layout (header with
the organization, the title and the reporting period; page X of Y in the footer), every placeholder in
place — text in a two-column table, each list as a table whose row repeats (docxtpl's ``{%tr for %}``) —
and the approval block. It passes the check it would meet on upload."""

from typing import Any

from engine.report_templates.registry import COMMON, Placeholder, ReportType
from engine.reports.docx_layout import docx_bytes, heading, new_document, paragraph, table

LOOP = ("item", "sub")  # the loop variable at each depth


def example_docx(kind: ReportType) -> bytes:
    document = new_document(
        organization="{{ organization }}", title="{{ title }}", author="{{ exported_by }}"
    )
    for section in document.sections:
        header = section.header.paragraphs[0]
        header.add_run().add_break()
        header.add_run("{% if period %}报告期：{{ period }}　Reporting period: {{ period_en }}{% endif %}")
    paragraph(
        document,
        f"{{#p 这是“{kind.title.zh}”的示例模板：可改动版式、文字和表格；双花括号中的占位符显示数值，"
        "表格中 for 与 endfor 之间的行按列表逐行重复。本段不会出现在导出的文档中。"
        "可用的占位符及其说明见系统的“报告模板”页面。"
        f" This is an example template for “{kind.title.en}”: change its layout and text freely; the "
        "placeholders are listed on the Report templates page. This paragraph is left out of the documents."
        " #}",
    )
    heading(document, "{{ title }}", level=0)
    common = {p.name for p in COMMON}
    scalars = [p for p in kind.placeholders if not p.fields and p.name not in common - {"period"}]
    table(
        document,
        ["项目 Item", "内容 Content"],
        [[f"{p.zh} {p.en}", f"{{{{ {p.name} }}}}"] for p in scalars],
        widths_mm=(60, 96),
    )
    for placeholder in kind.placeholders:
        if placeholder.fields:
            heading(document, f"{placeholder.zh} {placeholder.en}", level=2)
            _list(document, placeholder, placeholder.name, depth=0)
    paragraph(document, "导出：{{ exported_at }}（北京时间）{{ exported_by }}")
    return docx_bytes(document)


def _list(document: Any, placeholder: Placeholder, source: str, *, depth: int) -> None:
    """A list whose rows have only text: a table with a repeating row. Rows with a list of their own: a
    repeating group of paragraphs, each with its inner table."""
    var = LOOP[depth]
    flat = [f for f in placeholder.fields if not f.fields]
    nested = [f for f in placeholder.fields if f.fields]
    if not nested:
        table(
            document,
            [f.zh for f in flat],
            [[f"{{%tr for {var} in {source} %}}", *[""] * (len(flat) - 1)]]
            + [[f"{{{{ {var}.{f.name} }}}}" for f in flat]]
            + [["{%tr endfor %}", *[""] * (len(flat) - 1)]],
        )
        return
    paragraph(document, f"{{%p for {var} in {source} %}}")
    paragraph(document, "　".join(f"{{{{ {var}.{f.name} }}}}" for f in flat))
    for inner in nested:
        _list(document, inner, f"{var}.{inner.name}", depth=depth + 1)
    paragraph(document, "{%p endfor %}")
