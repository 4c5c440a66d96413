"""Organizations' own Word templates, over HTTP with real files: an accepted template makes the export (its
text equal to the database's figures), an unknown placeholder, a syntax error, a hostile template or a
hostile file is refused with the problem named and nothing kept, versions supersede and are all kept and
audited, going back to the built-in layout needs a reason, only administrators and carbon managers manage
templates, a template that cannot be filled answers a page (not a 500), and the built-in documents carry
their reporting period in the header."""

import hashlib
import io
import json
import re
import zipfile
from decimal import Decimal

import pytest
from docx import Document
from sqlalchemy import text

from engine.carbon_data.reporting import annual_figures
from engine.report_templates.registry import report_type
from engine.reports.pdf import docx_to_pdf, pdf_converter
from tests.web.conftest import csrf_of
from tests.web.documents import all_text, open_docx
from tests.web.test_hostile_files import CORPUS
from tests.web.test_management_review import start
from web import report_exports

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def template(*paragraphs: str, header: str = "", rows: list[list[str]] | None = None) -> bytes:
    """A Word file made as a person would in Word: paragraphs, an optional header and table."""
    document = Document()
    for line in paragraphs:
        document.add_paragraph(line)
    if rows:
        table = document.add_table(rows=0, cols=len(rows[0]))
        for row in rows:
            for cell, value in zip(table.add_row().cells, row, strict=True):
                cell.text = value
    if header:
        document.sections[0].header.paragraphs[0].text = header
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def upload(client, kind: str, content: bytes, *, filename: str = "本厂模板.docx", note: str = ""):
    token = csrf_of(client.get(f"/report-templates/{kind}").text)
    return client.post(
        f"/report-templates/{kind}/upload",
        data={"csrf_token": token, "note": note},
        files={"file": (filename, content, DOCX)},
    )


def rows_of(web, kind: str) -> list[tuple]:
    with web.db.engine.connect() as connection:
        return connection.execute(
            text(
                "SELECT version, filename, sha256, superseded_at IS NOT NULL, retired_at IS NOT NULL, "
                "retired_reason FROM report_template WHERE report_type = :k ORDER BY version"
            ),
            {"k": kind},
        ).all()


def audit_actions(web, kind: str) -> list[str]:
    with web.db.engine.connect() as connection:
        return list(
            connection.execute(
                text(
                    "SELECT action FROM audit_event WHERE subject_type = 'report_template' "
                    "AND subject_id LIKE :k ORDER BY seq"
                ),
                {"k": f"{kind}:%"},
            ).scalars()
        )


def demo_org(web) -> int:
    with web.db.engine.connect() as connection:
        return connection.execute(
            text("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
        ).scalar()


def problems(response) -> str:
    return " ".join(re.findall(r"<li data-problem>(.*?)</li>", response.text, re.S))


GHG_TEMPLATE = template(
    "{{ title }}",
    "报告期：{{ period }}",
    "排放总量：{{ total_tco2e }} tCO2e",
    rows=[
        ["{%tr for item in sources %}", ""],
        ["{{ item.code }}", "{{ item.name }}"],
        ["{%tr endfor %}", ""],
    ],
    header="{{ organization }}　{{ period }}",
)


def test_an_accepted_template_makes_the_ghg_report_with_the_databases_figures(web):
    client = web.as_role("carbon_manager")
    accepted = upload(client, "ghg_report", GHG_TEMPLATE, note="本厂版式")
    assert accepted.status_code == 303, problems(accepted)
    report = client.get("/emissions/report.docx?year=2025")
    assert report.status_code == 200 and report.headers["X-Report-Template"] == "ghg_report v1"
    document = open_docx(report.content)
    org_id = demo_org(web)
    with web.db.read_session(org_id=org_id) as session:
        figures = annual_figures(session, org_id=org_id, year=2025)
    with web.db.engine.connect() as connection:
        sources = connection.execute(
            text("SELECT code, name FROM emission_source WHERE org_id = :o ORDER BY id"), {"o": org_id}
        ).all()
    body = [p.text for p in document.paragraphs]
    assert body[0] == "湖南湘峰水泥有限公司 2025 年度温室气体排放报告"
    assert body[1] == "报告期：2025年1月1日至2025年12月31日"
    assert body[2] == f"排放总量：{Decimal(str(figures.inventory['total_tco2e'])):,.2f} tCO2e"
    shown = [(row.cells[0].text, row.cells[1].text) for row in document.tables[0].rows]
    assert sorted(shown) == sorted(tuple(source) for source in sources) and len(shown) >= 3
    header = document.sections[0].header.paragraphs[0].text
    assert header == "湖南湘峰水泥有限公司　2025年1月1日至2025年12月31日"


def test_the_example_template_is_accepted_and_fills_every_placeholder_of_the_record(web):
    client = web.as_role("admin")
    example = client.get("/report-templates/record/example.docx")
    assert example.status_code == 200 and example.content.startswith(b"PK")
    assert upload(client, "record", example.content, filename="example-record.docx").status_code == 303
    with web.db.engine.connect() as connection:
        record_id, number, title, data = connection.execute(
            text(
                "SELECT id, number, title, data FROM record "
                "WHERE workflow_key = 'nonconformity' AND state = 'closed'"
            )
        ).one()
    data = json.loads(data) if isinstance(data, str) else data
    exported = client.get(f"/r/{record_id}/export.docx")
    assert exported.status_code == 200 and exported.headers["X-Report-Template"] == "record v1"
    document = open_docx(exported.content)
    shown = all_text(document)
    assert number in shown and title in shown and data["description"] in shown
    assert "{{" not in shown and "{%" not in shown and "示例模板" not in shown  # the comment left out
    items = {row.cells[0].text: row.cells[1].text for row in document.tables[0].rows}
    assert items["记录编号 Record number"] == number
    fields = {row.cells[1].text: row.cells[3].text for row in document.tables[2].rows[1:]}
    assert fields["不符合描述"] == data["description"], fields
    assert "湖南湘峰水泥有限公司" in document.sections[0].header.paragraphs[0].text


def test_the_management_review_template_shows_the_frozen_pack_and_its_period(web):
    review, _ = start(web)
    client = web.as_role("carbon_manager")
    example = client.get("/report-templates/management_review/example.docx").content
    assert upload(client, "management_review", example).status_code == 303
    exported = client.get(f"/management-review/{review}/export.docx")
    assert exported.headers["X-Report-Template"] == "management_review v1"
    with web.db.engine.connect() as connection:
        number, data = connection.execute(
            text("SELECT number, data FROM record WHERE id = :i"), {"i": review}
        ).one()
    data = json.loads(data) if isinstance(data, str) else data
    shown = all_text(open_docx(exported.content))
    assert number in shown and data["pack_sha256"] in shown
    assert all(row["summary_zh"] in shown for row in data["input_summaries"])
    since, until = (data["review_since"], data["review_until"])
    header = open_docx(exported.content).sections[0].header.paragraphs[0].text
    assert f"{int(since[:4])}年{int(since[5:7])}月{int(since[8:10])}日至{int(until[:4])}年" in header


def test_an_unknown_placeholder_is_refused_naming_it_and_where_placeholders_are_allowed(web):
    client = web.as_role("carbon_manager")
    refused = upload(
        client,
        "ghg_report",
        template(
            "总量 {{ total_tco2e }}",
            "{{ totl_emissions }}",
            rows=[["{%tr for s in sources %}"], ["{{ s.colour }}"], ["{%tr endfor %}"]],
        ),
    )
    assert refused.status_code == 422
    said = problems(refused)
    assert "未知的占位符 totl_emissions" in said and "正文" in said and "total_tco2e" in said
    assert "未知的占位符 s.colour" in said and "此处可用：code、name、category、fuel、meter" in said
    assert rows_of(web, "ghg_report") == [] and audit_actions(web, "ghg_report") == []
    english = web.as_role("carbon_manager")
    english.cookies.set("tanguan_locale", "en")
    said = problems(upload(english, "ghg_report", template("{{ perod }}")))
    assert "unknown placeholder perod" in said and "allowed here: organization, title, period" in said


def test_a_template_syntax_error_is_refused(web):
    client = web.as_role("carbon_manager")
    for broken, expected in (
        ("{{ total_tco2e }", "模板语法错误"),
        ("{% if total_tco2e %}无结束", "模板语法错误"),
    ):
        refused = upload(client, "ghg_report", template(broken))
        assert refused.status_code == 422 and expected in problems(refused), problems(refused)
    assert rows_of(web, "ghg_report") == []


HOSTILE_TEMPLATES = {
    "mro": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "globals": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "hidden": "{% if false %}{{ organization.__class__ }}{% endif %}",
    "self": "{{ self._TemplateReference__context }}",
    "format": "{{ '{0.__class__}'.format(organization) }}",
    "repeat": "{{ 'x' * 100000000 }}",
    "percent": "{{ '%999999999d' % 1 }}",
    "range": "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "set": "{% set a = organization ~ organization %}{{ a }}",
    "macro": "{% macro m(s) %}{{ m(s ~ s) }}{% endmacro %}{{ m(organization) }}",
    "include": "{% include '/etc/passwd' %}",
    "autoescape": "{% autoescape false %}{{ organization }}{% endautoescape %}",
    "filter": "{{ organization|center(999999999) }}",
    "method": "{{ organization.center(999999999) }}",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_TEMPLATES))
def test_a_hostile_template_is_refused(web, name):
    refused = upload(web.as_role("carbon_manager"), "ghg_report", template(HOSTILE_TEMPLATES[name]))
    assert refused.status_code == 422, name
    assert problems(refused) and "uid=" not in refused.text
    assert rows_of(web, "ghg_report") == []


def test_hostile_files_are_refused_before_any_template_is_read(web):
    client = web.as_role("carbon_manager")
    hostile = {name: content for name, content in CORPUS.items() if name.endswith(".docx")}
    hostile["report.pdf.docx"] = b"%PDF-1.4\n%\xe2\xe3\n"
    hostile["模板.pdf"] = GHG_TEMPLATE
    hostile["big.docx"] = GHG_TEMPLATE + b"0" * (5 * 1024 * 1024)
    assert len(hostile) >= 9
    for name, content in hostile.items():
        refused = upload(client, "ghg_report", content, filename=name)
        assert refused.status_code == 422 and problems(refused), name
    assert rows_of(web, "ghg_report") == []


def test_values_are_escaped_for_the_xml_they_land_in(web):
    with web.db.engine.begin() as connection:
        connection.execute(
            text("UPDATE emission_source SET name = :n WHERE code = 'PLANT-ELEC'"),
            {"n": '外购电力 <w:p>&amp; "]]>\x01'},
        )
    client = web.as_role("carbon_manager")
    assert upload(client, "ghg_report", GHG_TEMPLATE).status_code == 303
    document = open_docx(client.get("/emissions/report.docx?year=2025").content)
    names = [row.cells[1].text for row in document.tables[0].rows]
    assert '外购电力 <w:p>&amp; "]]>\ufffd' in names


def test_a_new_version_supersedes_the_old_both_kept_and_audited_and_retiring_needs_a_reason(web):
    client = web.as_role("carbon_manager")
    first = GHG_TEMPLATE
    second = template("第二版 {{ title }}", "{{ total_tco2e }}")
    assert upload(client, "ghg_report", first, filename="v1.docx").status_code == 303
    assert upload(client, "ghg_report", second, filename="v2.docx", note="简化").status_code == 303
    kept = rows_of(web, "ghg_report")
    assert [(v, name, superseded, retired) for v, name, _sha, superseded, retired, _r in kept] == [
        (1, "v1.docx", True, False),
        (2, "v2.docx", False, False),
    ]
    for version, content in ((1, first), (2, second)):
        download = client.get(f"/report-templates/ghg_report/versions/{version}")
        assert download.status_code == 200 and download.content == content
        assert download.headers["X-Content-SHA256"] == hashlib.sha256(content).hexdigest()
        assert "sandbox" in download.headers["Content-Security-Policy"]
    assert (
        open_docx(client.get("/emissions/report.docx?year=2025").content)
        .paragraphs[0]
        .text.startswith("第二版")
    )
    page = client.get("/report-templates/ghg_report").text
    assert (
        'data-version="1" data-state="superseded"' in page and 'data-version="2" data-state="in_use"' in page
    )
    token = csrf_of(page)
    refused = client.post("/report-templates/ghg_report/retire", data={"csrf_token": token, "reason": " "})
    assert refused.status_code == 422 and "请填写原因" in refused.text
    retired = client.post(
        "/report-templates/ghg_report/retire", data={"csrf_token": token, "reason": "改回内置版式"}
    )
    assert retired.status_code == 303
    builtin = client.get("/emissions/report.docx?year=2025")
    assert "X-Report-Template" not in builtin.headers
    assert open_docx(builtin.content).tables  # the built-in layout again
    assert [row[4:] for row in rows_of(web, "ghg_report")] == [(False, None), (True, "改回内置版式")]
    assert audit_actions(web, "ghg_report") == ["template_uploaded", "template_uploaded", "template_retired"]
    trail = web.as_role("admin").get("/audit").text
    assert "报告模板" in trail and "上传报告模板" in trail


@pytest.mark.parametrize(
    "role", ["staff", "quality_manager", "process_owner", "internal_auditor", "top_management"]
)
def test_only_administrators_and_carbon_managers_manage_templates(web, role):
    client = web.as_role(role)
    assert client.get("/report-templates").status_code == 403
    assert client.get("/report-templates/ghg_report/example.docx").status_code == 403
    token = csrf_of(client.get("/").text)
    refused = client.post(
        "/report-templates/ghg_report/upload",
        data={"csrf_token": token},
        files={"file": ("t.docx", GHG_TEMPLATE, DOCX)},
    )
    assert refused.status_code == 403 and rows_of(web, "ghg_report") == []
    assert 'id="nav-report-templates"' not in client.get("/").text


def test_a_template_that_cannot_be_filled_answers_a_page_not_a_server_error(web):
    """A template accepted earlier whose placeholder a later version of the product no longer has (put in
    the database directly: the upload would refuse it), and one whose bytes were changed on disk."""
    client = web.as_role("carbon_manager")
    assert upload(client, "record", template("{{ number }}")).status_code == 303
    stale = template("{{ number }} {{ placeholder_of_an_older_release }}")
    with web.db.engine.begin() as connection:
        connection.execute(
            text("UPDATE report_template SET content = :c, sha256 = :s WHERE report_type = 'record'"),
            {"c": stale, "s": hashlib.sha256(stale).hexdigest()},
        )
        record_id = connection.execute(text("SELECT min(id) FROM record")).scalar()
    failed = client.get(f"/r/{record_id}/export.docx")
    assert failed.status_code == 422 and "placeholder_of_an_older_release" in failed.text
    assert 'href="/report-templates/record"' in failed.text
    staff = web.as_role("staff").get(f"/r/{record_id}/export.docx")
    assert staff.status_code == 422 and "请联系管理员或碳管理专员" in staff.text
    with web.db.engine.begin() as connection:
        connection.execute(
            text("UPDATE report_template SET content = :c WHERE report_type = 'record'"), {"c": stale + b"x"}
        )
    altered = client.get(f"/r/{record_id}/export.docx")
    assert altered.status_code == 422 and "模板文件已被改动" in altered.text


def test_an_unknown_report_type_is_not_found(web):
    client = web.as_role("admin")
    assert client.get("/report-templates/no_such_report").status_code == 404
    assert client.get("/report-templates/ghg_report/versions/1").status_code == 404


def test_the_headers_of_the_built_in_documents_carry_the_reporting_period(web):
    client = web.as_role("carbon_manager")
    ghg = open_docx(client.get("/emissions/report.docx?year=2025").content)
    assert "报告期：2025年1月1日至2025年12月31日" in ghg.sections[0].header.paragraphs[0].text
    assert "Reporting period: 1 January 2025 – 31 December 2025" in ghg.sections[0].header.paragraphs[0].text
    with web.db.engine.connect() as connection:
        batch, data = connection.execute(
            text("SELECT id, data FROM record WHERE workflow_key = 'carbon_data_batch' ORDER BY id")
        ).first()
        nc = connection.execute(text("SELECT id FROM record WHERE workflow_key = 'nonconformity'")).scalar()
    month = (json.loads(data) if isinstance(data, str) else data)["period"]
    header = open_docx(client.get(f"/r/{batch}/export.docx").content).sections[0].header.paragraphs[0].text
    year, number = int(month[:4]), int(month[5:])
    assert f"报告期：{year}年{number}月1日至{year}年{number}月" in header, header
    assert (
        "报告期"
        not in open_docx(client.get(f"/r/{nc}/export.docx").content).sections[0].header.paragraphs[0].text
    )
    review, _ = start(web)
    mr = open_docx(client.get(f"/management-review/{review}/export.docx").content)
    assert "报告期：" in mr.sections[0].header.paragraphs[0].text


def test_each_exports_values_are_the_placeholders_it_documents(web, monkeypatch):
    """The registry is the documentation: what each export route hands a template has exactly the documented
    names, and each list's rows exactly the documented fields."""
    seen = {}
    original = report_exports.export_docx

    def capture(session, *, report_type, context, builtin, mark=None):
        seen[report_type] = context()
        return original(session, report_type=report_type, context=context, builtin=builtin, mark=mark)

    monkeypatch.setattr(report_exports, "export_docx", capture)
    client = web.as_role("carbon_manager")
    with web.db.engine.connect() as connection:
        signed_nc = connection.execute(
            text(
                "SELECT min(record_id) FROM signature JOIN record ON record.id = record_id "
                "WHERE workflow_key = 'nonconformity'"
            )
        ).scalar()
    review, _ = start(web)
    for url in (
        "/emissions/report.docx?year=2025",
        f"/r/{signed_nc}/export.docx",
        f"/management-review/{review}/export.docx",
    ):
        assert client.get(url).status_code == 200, url
    assert set(seen) == {"ghg_report", "record", "management_review"}
    for kind, values in seen.items():
        described = report_type(kind)
        names = [p.name for p in described.placeholders]
        assert len(names) == len(set(names)) and all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in names)
        assert_shape(values, described.placeholders)
    assert (
        seen["record"]["signatures"]
        and seen["ghg_report"]["sources"]
        and seen["management_review"]["sections"]
    )


def assert_shape(values, placeholders) -> None:
    assert set(values) == {p.name for p in placeholders}
    for p in placeholders:
        if p.fields:
            rows = values[p.name] if p.many else [values[p.name]]
            for row in rows:
                assert_shape(row, p.fields)
        else:
            assert isinstance(values[p.name], str), p.name


@pytest.mark.skipif(pdf_converter() is None, reason="LibreOffice is not installed")
def test_a_templated_report_converts_to_pdf_through_libreoffice(web, tmp_path):
    client = web.as_role("carbon_manager")
    assert upload(client, "ghg_report", GHG_TEMPLATE).status_code == 303
    source = tmp_path / "ghg-2025.docx"
    source.write_bytes(client.get("/emissions/report.docx?year=2025").content)
    pdfs = docx_to_pdf([source], out_dir=tmp_path / "pdf")
    assert pdfs[source].read_bytes().startswith(b"%PDF-")
    assert zipfile.is_zipfile(source)
