"""Registers in bulk over HTTP (ADR 0022): the template, a sheet written as people write it (labels, names,
unit codes, record numbers), row-and-column errors with nothing written, an export imported back, roles."""

from datetime import date
from io import BytesIO

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import text

from tests.web.conftest import csrf_of

NC = "nonconformity"
NC_COLUMNS = ["标题 Title", "来源", "Description", "发现日期 Found on", "责任部门/设施 Responsible unit"]


def _sheet(header: list[str], *rows: list[object]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _upload(client, key: str, content: bytes, filename: str = "register.xlsx"):
    token = csrf_of(client.get(f"/records/{key}/import").text)
    return client.post(
        f"/records/{key}/import",
        data={"csrf_token": token},
        files={"file": (filename, content, "application/octet-stream")},
    )


def _count(web, key: str) -> int:
    with web.db.engine.connect() as connection:
        return connection.execute(
            text("SELECT count(*) FROM record WHERE workflow_key = :k"), {"k": key}
        ).scalar_one()


def _labels(web) -> dict[str, str]:
    """The start form's column headers, as the template writes them (required ones end with " *")."""
    client = web.as_role("carbon_manager")
    template = client.get(f"/records/{NC}/import/template.xlsx")
    assert template.status_code == 200 and template.content[:2] == b"PK"
    header = [cell.value for cell in next(load_workbook(BytesIO(template.content)).active.iter_rows())]
    return {value.rstrip(" *").split(" ")[0]: value for value in header}


def test_the_template_names_every_column_and_marks_the_required_ones(web):
    labels = _labels(web)
    assert labels["标题"].endswith("*") and labels["来源"].endswith("*")
    assert not labels["关联记录"].endswith("*")
    guide = load_workbook(
        BytesIO(web.as_role("carbon_manager").get(f"/records/{NC}/import/template.xlsx").content)
    )["说明 Guide"]
    text_of_guide = " ".join(str(cell.value) for row in guide.iter_rows() for cell in row if cell.value)
    assert "内部审核" in text_of_guide and "记录编号" in text_of_guide


def test_a_sheet_of_names_and_numbers_becomes_records(web):
    client = web.as_role("carbon_manager")
    with web.db.engine.connect() as connection:
        linked = connection.execute(text("SELECT number FROM record ORDER BY id LIMIT 1")).scalar_one()
    before = _count(web, NC)
    header = [*NC_COLUMNS, "指派给 Assign to", "关联记录 Related record"]
    content = _sheet(
        header,
        ["窑头煤秤读数偏差", "监视测量", "皮带秤月度比对偏差 2.5%", date(2026, 11, 3), "QC", "周强", linked],
        [
            "2026 年 10 月电量未签字",
            "内部审核",
            "月度电量台账缺少复核签字",
            "2026-11-04",
            "安全环保部（碳管理办公室）",
            "kiln@xiangfeng.example",
            "",
        ],
    )
    response = _upload(client, NC, content)
    assert response.status_code == 200, response.text
    assert "已导入 2 条记录" in response.text
    assert _count(web, NC) == before + 2
    listing = client.get(f"/records/{NC}?q=窑头煤秤")
    assert "窑头煤秤读数偏差" in listing.text
    record_id = int(response.text.split('href="/r/')[1].split('"')[0])
    page = client.get(f"/r/{record_id}")
    assert "周强" in page.text and "质量控制部" in page.text and linked in page.text


def test_every_problem_is_named_by_row_and_column_and_nothing_is_written(web):
    client = web.as_role("carbon_manager")
    fingerprint = web.table_fingerprint()
    content = _sheet(
        [*NC_COLUMNS, "指派给 Assign to", "关联记录 Related record", "颜色"],
        ["好的一行", "监视测量", "说明", "2026-11-03", "QC", "周强", "", ""],
        ["", "不存在的来源", "说明", "2026-13-40", "NOPE", "无名氏", "XX-0000-9999", ""],
    )
    response = _upload(client, NC, content)
    assert response.status_code == 422
    assert web.table_fingerprint() == fingerprint
    body = response.text
    assert "未导入任何数据" in body
    assert "颜色" in body and "不是此登记表的列" in body  # the header first: an unknown column
    response = _upload(
        client,
        NC,
        _sheet(
            NC_COLUMNS + ["指派给 Assign to", "关联记录 Related record"],
            *[
                ["好的一行", "监视测量", "说明", "2026-11-03", "QC", "周强", ""],
                ["", "不存在的来源", "说明", "2026-13-40", "NOPE", "无名氏", "XX-0000-9999"],
            ],
        ),
    )
    assert response.status_code == 422 and web.table_fingerprint() == fingerprint
    problems = response.text.split('id="import-problems"')[1]
    for expected in (
        "不存在的来源”不是可选项",
        "本组织没有此部门/设施：NOPE",
        "本组织没有此人：无名氏",
        "本组织没有编号为 XX-0000-9999 的记录",
    ):
        assert expected in problems, expected
    assert "<td>3</td>" in problems and "<td>2</td>" not in problems  # row 2 was fine
    # Once the references are right, the form's own checks run: a missing title, a date that is no date.
    response = _upload(
        client,
        NC,
        _sheet(NC_COLUMNS, ["", "监视测量", "说明", "2026-13-40", "QC"]),
    )
    assert response.status_code == 422 and web.table_fingerprint() == fingerprint
    problems = response.text.split('id="import-problems"')[1]
    assert "此项必填" in problems and "日期格式应为 YYYY-MM-DD" in problems
    assert "标题 Title" in problems and "发现日期 Found on" in problems


def test_an_export_imports_back_once(web):
    client = web.as_role("carbon_manager")
    exported = client.get(f"/records/{NC}/export.xlsx")
    workbook = load_workbook(BytesIO(exported.content))
    rows = [[cell.value for cell in row] for row in workbook.active.iter_rows()]
    assert len(rows) >= 2
    again = _upload(client, NC, _sheet(rows[0], rows[1]))
    assert again.status_code == 422 and "导入只新建记录" in again.text  # the number would duplicate it
    before = _count(web, NC)
    copy = list(rows[1])
    copy[0] = None  # cleared number: a new record
    response = _upload(client, NC, _sheet(rows[0], copy))
    assert response.status_code == 200, response.text.split('id="import-problems"')[-1][:2000]
    assert _count(web, NC) == before + 1
    assert "已读取但未导入的列" in response.text and "状态 State" in response.text


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"not a workbook", "x.xlsx", "无法读取 xlsx 文件"),
        (b"", "x.xlsx", "请选择要导入的 xlsx 文件"),
        (_sheet(NC_COLUMNS), "x.xlsx", "没有数据行"),
        (_sheet(["标题 Title"], ["只有标题"]), "x.xlsx", "缺少必填列"),
    ],
)
def test_unusable_files_are_refused_with_a_reason(web, content, filename, message):
    client = web.as_role("carbon_manager")
    response = _upload(client, NC, content, filename)
    assert response.status_code == 422 and message in response.text


def test_only_the_roles_that_may_start_a_record_may_import(web):
    verifier = web.signed_in("verifier@cert.example")
    assert verifier.get(f"/records/{NC}/import").status_code == 403
    assert verifier.get(f"/records/{NC}").status_code == 200
    assert 'id="import-link"' not in verifier.get(f"/records/{NC}").text
    assert 'id="import-link"' in web.as_role("carbon_manager").get(f"/records/{NC}").text
    assert web.as_role("carbon_manager").get("/records/no_such_register/import").status_code == 404


def test_a_code_that_must_be_unique_is_checked_against_the_rows_above_it(web):
    client = web.as_role("carbon_manager")
    header = [
        "器具编号",
        "器具名称",
        "器具类别",
        "所属设施",
        "测量参数",
        "计量级别（GB 17167）",
        "准确度等级",
        "检定/校准周期",
    ]
    template = load_workbook(BytesIO(client.get("/records/metering_instrument/import/template.xlsx").content))
    written = [str(cell.value).rstrip(" *") for cell in next(template.active.iter_rows())]
    header = [next(h for h in written if h.startswith(short)) for short in header]
    row = ["JL-IMP-001", "入窑煤皮带秤", "皮带秤", "QC", "入窑煤消耗量", "主要用能设备", "0.5", 12]
    fingerprint = web.table_fingerprint()
    response = _upload(client, "metering_instrument", _sheet(header, row, ["JL-IMP-002", *row[1:]], row))
    assert response.status_code == 422 and web.table_fingerprint() == fingerprint
    problems = response.text.split('id="import-problems"')[1]
    assert "<td>4</td>" in problems and "此项在本组织内不能重复" in problems
    assert "<td>2</td>" not in problems and "<td>3</td>" not in problems
    response = _upload(client, "metering_instrument", _sheet(header, row, ["JL-IMP-002", *row[1:]]))
    assert response.status_code == 200 and "已导入 2 条记录" in response.text
