"""Registers in bulk: an xlsx sheet whose header is the register's start form (the export's header is
accepted too) becomes one record per row, each created as the form page would create it. Cells name people,
units and linked records as people write them (a name or an e-mail, a unit code or name, a record number);
every row is checked, and nothing is written unless every row passes (ADR 0022)."""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from io import BytesIO
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from engine.forms.spec import FieldSpec, FieldType, FormSpec, Text
from engine.identity.models import Membership, OrgUnit, User
from engine.reports.spreadsheet import UnreadableSheet, put, read_sheet
from engine.workflow.access import ActorRef
from engine.workflow.errors import FormRefused
from engine.workflow.lifecycle import create_record
from engine.workflow.loader import Workflow
from engine.workflow.models import Record

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 5000
SHEET_NAME = "导入 Import"
# The export's own columns (engine.reports.records.records_xlsx): read, never imported.
EXPORT_COLUMNS = (
    "编号 Number",
    "标题 Title",
    "状态 State",
    "创建（北京时间）Created (China time)",
    "期限 Due",
)
NUMBER_COLUMN = EXPORT_COLUMNS[0]
LIST_SEPARATORS = re.compile(r"[、,，;；\n]+")


@dataclass(frozen=True)
class ImportProblem:
    """One problem: ``row`` is the sheet's row (the header is row 1), ``column`` the header as written."""

    row: int | None
    column: str
    message: Text


class ImportRefused(Exception):
    def __init__(self, problems: Sequence[ImportProblem]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = list(problems)


@dataclass(frozen=True)
class ImportResult:
    created: list[tuple[int, str, str]]  # (record id, number, title) in the sheet's order
    ignored_columns: list[str] = field(default_factory=list)


def column_header(spec: FieldSpec) -> str:
    return f"{spec.label.zh} {spec.label.en}"


def importable_fields(workflow: Workflow) -> list[FieldSpec]:
    """The start form's fields a cell can hold (a table or a file is filled in on the record's page)."""
    return [f for f in workflow.create_form.fields if f.type not in (FieldType.table, FieldType.evidence)]


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


# ---------------------------------------------------------------- the template


def import_template(*, workflow: Workflow) -> bytes:
    """The sheet to fill in (one row per record, required columns marked, choices as drop-downs) and a
    second sheet that says what each column takes."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    fields = importable_fields(workflow)
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = SHEET_NAME
    required_fill = PatternFill("solid", fgColor="FCE4D6")
    for number, spec in enumerate(fields, start=1):
        cell = put(sheet, row=1, column=number, value=column_header(spec) + (" *" if spec.required else ""))
        cell.font = Font(bold=True)
        if spec.required:
            cell.fill = required_fill
        sheet.column_dimensions[cell.column_letter].width = max(14, len(cell.value or "") + 4)
        if spec.type == FieldType.choice and spec.choices:
            labels = ",".join(choice.zh for choice in spec.choices)
            if len(labels) < 250:  # Excel's limit for an inline list
                validation = DataValidation(type="list", formula1=f'"{labels}"', allow_blank=True)
                validation.add(f"{cell.column_letter}2:{cell.column_letter}{MAX_ROWS + 1}")
                sheet.add_data_validation(validation)
    sheet.freeze_panes = "A2"
    guide = workbook.create_sheet("说明 Guide")
    for column, title in enumerate(("列 Column", "必填 Required", "填写 What to write"), start=1):
        put(guide, row=1, column=column, value=title).font = Font(bold=True)
    for row, spec in enumerate(fields, start=2):
        put(guide, row=row, column=1, value=column_header(spec))
        put(guide, row=row, column=2, value="是 Yes" if spec.required else "")
        put(guide, row=row, column=3, value=_what_to_write(spec))
    guide.column_dimensions["A"].width = 36
    guide.column_dimensions["C"].width = 90
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _what_to_write(spec: FieldSpec) -> str:
    match spec.type:
        case FieldType.choice | FieldType.multi_choice:
            options = "、".join(f"{c.zh}（{c.en}）" for c in spec.choices)
            many = (
                "，多项以顿号或逗号分隔 several, separated by 、 or ,"
                if spec.type == FieldType.multi_choice
                else ""
            )
            return f"其中之一 One of: {options}{many}"
        case FieldType.user:
            return "本组织成员的姓名或电子邮箱 A member's name or e-mail"
        case FieldType.org_unit:
            return "部门/设施的代码或名称 A unit's code or name"
        case FieldType.record_link:
            return "记录编号，如 NC-2026-0001 A record number"
        case FieldType.date:
            return "日期 YYYY-MM-DD（或 Excel 日期）A date"
        case FieldType.number:
            limits = [
                f"≥ {spec.min}" if spec.min is not None else "",
                f"≤ {spec.max}" if spec.max is not None else "",
            ]
            return " ".join(filter(None, ["数字 A number", spec.unit or "", *limits]))
    return (spec.help.zh if spec.help else "") or "文本 Text"


# ---------------------------------------------------------------- reading a sheet


@dataclass
class _References:
    """The organization's people, units and records, looked up once per import."""

    users: dict[str, set[int]]
    units: dict[str, set[int]]
    records: dict[str, tuple[int, str]]  # number → (id, workflow key)

    @classmethod
    def load(cls, session: Session, *, org_id: int, fields: Iterable[FieldSpec]) -> "_References":
        kinds = {spec.type for spec in fields}
        users: dict[str, set[int]] = {}
        units: dict[str, set[int]] = {}
        records: dict[str, tuple[int, str]] = {}
        if FieldType.user in kinds:
            for user_id, name, email in session.execute(
                select(col(User.id), col(User.display_name), col(User.email))
                .join(Membership, col(Membership.user_id) == User.id)
                .where(col(Membership.org_id) == org_id)
            ):
                for key in (name, email):
                    users.setdefault(_fold(key), set()).add(user_id)
        if FieldType.org_unit in kinds:
            for unit_id, code, name, name_en in session.execute(
                select(col(OrgUnit.id), col(OrgUnit.code), col(OrgUnit.name), col(OrgUnit.name_en)).where(
                    col(OrgUnit.org_id) == org_id
                )
            ):
                for key in (code, name, name_en):
                    if key:
                        units.setdefault(_fold(key), set()).add(unit_id)
        if FieldType.record_link in kinds:
            for record_id, number, workflow_key in session.execute(
                select(col(Record.id), col(Record.number), col(Record.workflow_key)).where(
                    col(Record.org_id) == org_id
                )
            ):
                records[_fold(number)] = (record_id, workflow_key)
        return cls(users=users, units=units, records=records)


_NOT_FOUND = {
    FieldType.user: Text(zh="本组织没有此人：{value}", en="No member of the organization is called {value}"),
    FieldType.org_unit: Text(
        zh="本组织没有此部门/设施：{value}", en="No unit of the organization is {value}"
    ),
    FieldType.record_link: Text(
        zh="本组织没有编号为 {value} 的记录", en="No record of the organization is numbered {value}"
    ),
}
_AMBIGUOUS = Text(
    zh="“{value}”不止一个，请改写电子邮箱或代码",
    en="More than one match for {value}: write the e-mail or code",
)
_WRONG_PROCESS = Text(zh="记录 {value} 不属于“{process}”", en="Record {value} is not a {process} record")
_NOT_A_CHOICE = Text(
    zh="“{value}”不是可选项（{options}）", en="{value} is not one of the choices ({options})"
)


class _CellError(Exception):
    def __init__(self, message: Text) -> None:
        super().__init__(message.en)
        self.message = message


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a code typed into Excel as a number comes back as 1001.0
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _formatted(message: Text, **values: str) -> Text:
    return Text(zh=message.zh.format(**values), en=message.en.format(**values))


class _Reader:
    def __init__(self, workflow: Workflow, references: _References, catalog_titles: dict[str, Text]) -> None:
        self.workflow = workflow
        self.references = references
        self.catalog_titles = catalog_titles

    def value(self, spec: FieldSpec, cell: Any) -> Any:
        """The cell as the form page would post it."""
        match spec.type:
            case FieldType.choice:
                return self._choice(spec, _text(cell))
            case FieldType.multi_choice:
                return [
                    self._choice(spec, part) for part in LIST_SEPARATORS.split(_text(cell)) if part.strip()
                ]
            case FieldType.number:
                return self._number(spec, cell)
            case FieldType.date:
                return _text(cell)[:10] if isinstance(cell, (date, datetime)) else _text(cell)
            case FieldType.user:
                return self._one(FieldType.user, self.references.users, _text(cell))
            case FieldType.org_unit:
                return self._one(FieldType.org_unit, self.references.units, _text(cell))
            case FieldType.record_link:
                return self._record(spec, _text(cell))
        return _text(cell) if not isinstance(cell, str) else cell

    def _choice(self, spec: FieldSpec, text: str) -> str:
        folded = _fold(text)
        for choice in spec.choices:
            if folded in (_fold(choice.value), _fold(choice.zh), _fold(choice.en)):
                return choice.value
        options = "、".join(choice.zh for choice in spec.choices)
        raise _CellError(_formatted(_NOT_A_CHOICE, value=text, options=options))

    @staticmethod
    def _number(spec: FieldSpec, cell: Any) -> Any:
        if isinstance(cell, (int, float)) and not isinstance(cell, bool):
            return _text(cell)
        text = _text(cell).replace(",", "")
        if spec.unit and text.endswith(spec.unit):  # the export writes "12.5 t"
            text = text[: -len(spec.unit)].strip()
        return text  # the form says what is wrong with it, if anything

    @staticmethod
    def _one(kind: FieldType, table: dict[str, set[int]], text: str) -> int:
        found = table.get(_fold(text), set())
        if len(found) > 1:
            raise _CellError(_formatted(_AMBIGUOUS, value=text))
        if not found:
            raise _CellError(_formatted(_NOT_FOUND[kind], value=text))
        return next(iter(found))

    def _record(self, spec: FieldSpec, text: str) -> int:
        number = re.split(r"\s+·\s+|\s", text, maxsplit=1)[0]  # the export writes "number · title"
        found = self.references.records.get(_fold(number))
        if found is None:
            raise _CellError(_formatted(_NOT_FOUND[FieldType.record_link], value=number))
        record_id, workflow_key = found
        if spec.records_of and workflow_key != spec.records_of:
            process = self.catalog_titles.get(spec.records_of)
            raise _CellError(
                Text(
                    zh=_WRONG_PROCESS.zh.format(
                        value=number, process=process.zh if process else spec.records_of
                    ),
                    en=_WRONG_PROCESS.en.format(
                        value=number, process=process.en if process else spec.records_of
                    ),
                )
            )
        return record_id


def _columns(
    workflow: Workflow, header: Sequence[Any]
) -> tuple[dict[int, FieldSpec], int | None, list[str], list[ImportProblem]]:
    """Which column holds which start-form field; the export's number column; columns read but not
    imported (the export's own, and fields of later steps); problems with the header."""
    names: dict[str, FieldSpec] = {}
    for spec in importable_fields(workflow):
        for key in (spec.name, spec.label.zh, spec.label.en, column_header(spec)):
            names[_fold(key)] = spec
    later = {
        _fold(key)
        for form in workflow.forms_in_order
        for spec in form.fields
        for key in (spec.name, spec.label.zh, spec.label.en, column_header(spec))
    } | {_fold(key) for spec in workflow.create_form.fields for key in (column_header(spec), spec.name)}
    own = {_fold(text) for text in EXPORT_COLUMNS}
    columns: dict[int, FieldSpec] = {}
    number_column: int | None = None
    ignored: list[str] = []
    problems: list[ImportProblem] = []
    for index, cell in enumerate(header):
        text = _text(cell) if cell is not None else ""
        key = _fold(text.rstrip("* ").strip())
        if not key:
            continue
        if key in names:
            spec = names[key]
            earlier = next((i for i, known in columns.items() if known == spec), None)
            if earlier is not None and key in own:  # the export's own title column, then the form's
                ignored.append(_text(header[earlier]))
                del columns[earlier]
            elif earlier is not None:
                problems.append(ImportProblem(1, text, Text(zh="此列重复", en="This column appears twice")))
            columns[index] = spec
        elif key == _fold(NUMBER_COLUMN):
            number_column = index
        elif key in own or key in later:
            ignored.append(text)
        else:
            problems.append(
                ImportProblem(1, text, Text(zh="不是此登记表的列", en="Not a column of this register"))
            )
    missing = [spec for spec in importable_fields(workflow) if spec.required and spec not in columns.values()]
    problems += [
        ImportProblem(1, column_header(spec), Text(zh="缺少必填列", en="A required column is missing"))
        for spec in missing
    ]
    return columns, number_column, ignored, problems


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def import_records(
    session: Session,
    *,
    workflow: Workflow,
    org_id: int,
    actor: ActorRef,
    content: bytes,
    catalog_titles: dict[str, Text],
    today: date | None = None,
) -> ImportResult:
    """One record per filled row, created in the caller's unit of work. ImportRefused lists every problem
    by row and column; the caller then rolls back, so nothing is written."""
    if not content:
        raise ImportRefused(
            [
                ImportProblem(
                    None, "", Text(zh="请选择要导入的 xlsx 文件", en="Choose the xlsx file to import")
                )
            ]
        )
    if len(content) > MAX_FILE_BYTES:
        raise ImportRefused(
            [ImportProblem(None, "", Text(zh="文件超过 20 MB", en="The file is larger than 20 MB"))]
        )
    try:
        rows = read_sheet(content, sheet_name=SHEET_NAME)
    except UnreadableSheet as error:
        raise ImportRefused(
            [
                ImportProblem(
                    None,
                    "",
                    Text(zh=f"无法读取 xlsx 文件：{error}", en=f"The xlsx file cannot be read: {error}"),
                )
            ]
        ) from None
    if not rows:
        raise ImportRefused([ImportProblem(None, "", Text(zh="文件是空的", en="The file is empty"))])
    columns, number_column, ignored, problems = _columns(workflow, rows[0])
    filled = [(number, row) for number, row in enumerate(rows[1:], start=2) if not all(map(_blank, row))]
    if len(filled) > MAX_ROWS:
        problems.append(
            ImportProblem(None, "", Text(zh=f"最多 {MAX_ROWS} 行", en=f"At most {MAX_ROWS} rows"))
        )
    if not filled and not problems:
        problems.append(ImportProblem(None, "", Text(zh="没有数据行", en="There are no rows to import")))
    if problems:
        raise ImportRefused(problems)
    references = _References.load(session, org_id=org_id, fields=columns.values())
    reader = _Reader(workflow, references, catalog_titles)
    headers = {index: _text(rows[0][index]) for index in columns}
    created: list[tuple[int, str, str]] = []
    for row_number, row in filled:
        row_problems = _already_a_record(row_number, row, number_column)
        raw: dict[str, Any] = {}
        for index, spec in columns.items():
            cell = row[index] if index < len(row) else None
            if _blank(cell):
                continue
            try:
                raw[spec.name] = reader.value(spec, cell)
            except _CellError as error:
                row_problems.append(ImportProblem(row_number, headers[index], error.message))
        if row_problems:
            problems += row_problems
            continue
        try:
            record = create_record(
                session, workflow=workflow, org_id=org_id, actor=actor, form_data=raw, today=today
            )
        except FormRefused as refused:
            problems += _form_problems(row_number, refused, workflow.create_form, columns, headers)
            continue
        assert record.id is not None
        created.append((record.id, record.number, record.title))
    if problems:
        raise ImportRefused(problems)
    return ImportResult(created=created, ignored_columns=ignored)


def _already_a_record(row_number: int, row: Sequence[Any], number_column: int | None) -> list[ImportProblem]:
    """A row of an export that names an existing record would create it a second time."""
    if number_column is None or number_column >= len(row) or _blank(row[number_column]):
        return []
    return [
        ImportProblem(
            row_number,
            NUMBER_COLUMN,
            Text(
                zh="导入只新建记录：请清空编号列，已有记录请在其页面修订",
                en="Import creates new records only: clear the number; revise an existing record on its page",
            ),
        )
    ]


def _form_problems(
    row_number: int,
    refused: FormRefused,
    form: FormSpec,
    columns: dict[int, FieldSpec],
    headers: dict[int, str],
) -> list[ImportProblem]:
    """The form's messages, each under the column as the sheet names it (else the field's label)."""
    by_name = {spec.name: column_header(spec) for spec in form.fields}
    by_name |= {spec.name: headers[index] for index, spec in columns.items()}
    if not refused.field_errors:
        return [ImportProblem(row_number, "", refused.reason)]
    return [
        ImportProblem(
            row_number,
            by_name.get(path.split(".")[0], path),
            Text(zh=message["zh"], en=message["en"]),
        )
        for path, message in refused.field_errors.items()
    ]
