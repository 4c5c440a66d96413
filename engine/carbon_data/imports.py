"""Import of activity readings from a spreadsheet (xlsx) or CSV, and its xlsx template.

Columns (header row in Chinese and English; either language, or the key, is accepted):

    排放源编码 Source code | 期间 Period | 数量 Quantity | 单位 Unit | 数据等级 Tier | 备注 Note

``period`` is a month ``YYYY-MM`` (one reading for the month) or a timestamp (a meter reading; a
spreadsheet time without an offset is China Standard Time, UTC+8). ``unit`` may be left empty (the
source's unit) or be any unit of the same dimension (converted exactly, then rounded half-even to 6
decimals). ``tier`` defaults to the source's tier.

Validation is row by row and complete: every problem is reported with its sheet row number (the
header is row 1), column and a Chinese and English message, and nothing is imported when any row
fails.

Re-importing: readings are keyed by (organization, source, period start), the primary key of
``activity_reading``, and an import **upserts** on that key. A row equal to the stored reading
changes nothing; a row with another quantity, tier or note corrects the stored reading (audited old →
new); other rows are inserted. So importing the same file again creates no duplicates and changes
nothing, and a corrected file changes exactly the corrected rows. The file's SHA-256 is recorded on
its ReadingBatch and earlier imports of the same bytes are reported, but the hash is not the guard:
the same rows saved again by Excel (other bytes), or two files that overlap, would slip past it.
"""

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from engine.audit import Actor, append_event
from engine.carbon_data.errors import BadValue, DataIssue, EmissionsDataError
from engine.carbon_data.events import MonthDataChanged
from engine.carbon_data.models import BatchKind, ReadingBatch, from_micro, reading_insert_table
from engine.carbon_data.parsing import (
    LOCAL_TZ,
    local_months,
    micro_quantity,
    parse_instant,
    parse_note,
    parse_tier,
    period_label,
)
from engine.carbon_data.readings import (
    ParsedReading,
    db_instant,
    existing_readings,
    finish_batch,
    insert_rows,
    new_batch,
)
from engine.carbon_data.sources import ReadingContext, list_sources
from engine.carbon_data.versions import bump_for_periods
from engine.emissions.errors import suggestion_text
from engine.emissions.rounding import plain
from engine.events import announce
from engine.identity.models import Organization, OrgUnit
from engine.models.base import table_of
from engine.reports.spreadsheet import UnreadableSheet, read_sheet

# (key, Chinese, English) in template order.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("source_code", "排放源编码", "Source code"),
    ("period", "期间", "Period (YYYY-MM or timestamp)"),
    ("quantity", "数量", "Quantity"),
    ("unit", "单位", "Unit"),
    ("tier", "数据等级", "Tier"),
    ("note", "备注", "Note"),
)
REQUIRED = ("source_code", "period", "quantity")
SHEET_NAME = "readings"
MAX_FILE_BYTES = 50 * 1024 * 1024
CORRECTIONS_PER_EVENT = 1000


def _fold(text: str) -> str:
    return "".join(text.split()).lower()


def _aliases() -> dict[str, str]:
    aliases: dict[str, str] = {}
    for key, zh, en in COLUMNS:
        short_en = en.split("(")[0]
        for spelling in (key, zh, en, short_en, f"{zh} {en}", f"{zh} {short_en}", f"{zh}\n{en}"):
            aliases[_fold(spelling)] = key
    return aliases


_ALIASES = _aliases()


def header_text(key: str) -> str:
    zh, en = next((zh, en) for k, zh, en in COLUMNS if k == key)
    return f"{zh} {en}"


@dataclass(frozen=True, slots=True)
class ImportResult:
    batch_id: int
    rows: int
    inserted: int
    updated: int
    unchanged: int
    sha256: str
    same_file_batches: tuple[int, ...]  # earlier batches that imported these exact bytes
    periods: tuple[str, ...] = ()  # the local months (YYYY-MM) whose data this import changed

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "sha256": self.sha256,
            "same_file_batches": list(self.same_file_batches),
        }


# ---------------------------------------------------------------- template


def import_template(session: Session, *, org_id: int) -> bytes:
    """An xlsx workbook: the ``readings`` sheet to fill in (bilingual header), the organization's
    sources for reference, and the instructions."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    from engine.emissions.labels import tier_label
    from engine.emissions.model import CATEGORY_ZH, Category
    from engine.reports.spreadsheet import put

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET_NAME
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    for column, (key, _, _) in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=1, column=column, value=header_text(key))
        cell.font = bold
        cell.fill = fill
        sheet.column_dimensions[cell.column_letter].width = 18 if key != "period" else 30
    sheet.freeze_panes = "A2"
    tiers = DataValidation(
        type="list", formula1='"measured,statistical,estimated,实测,统计,估算"', allow_blank=True
    )
    sheet.add_data_validation(tiers)
    tiers.add("E2:E1048576")

    reference = workbook.create_sheet("排放源 Sources")
    units = dict(session.exec(select(OrgUnit.id, OrgUnit.name).where(OrgUnit.org_id == org_id)).all())
    for column, title in enumerate(
        ("排放源编码 Code", "名称 Name", "单位 Unit", "类别 Category", "设施 Facility", "数据等级 Tier"),
        start=1,
    ):
        reference.cell(row=1, column=column, value=title).font = bold
    for row, source in enumerate(list_sources(session, org_id=org_id, include_inactive=False), start=2):
        for column, value in enumerate(
            (
                source.code,
                source.name,
                source.unit,
                CATEGORY_ZH.get(Category(source.category), source.category),
                units.get(source.org_unit_id),
                tier_label(source.tier),
            ),
            start=1,
        ):
            put(reference, row=row, column=column, value=value)  # the organization's text, never a formula
    for letter, width in zip("ABCDEF", (18, 36, 10, 24, 30, 14), strict=True):
        reference.column_dimensions[letter].width = width

    notes = workbook.create_sheet("说明 Instructions")
    org = session.get(Organization, org_id)
    lines = (
        f"活动数据导入模板 — {org.name if org else ''}",
        "每行一条读数：排放源编码、期间、数量必填。",
        "期间：月度数据填 YYYY-MM（如 2025-03）；计量读数填时间（如 2025-03-01 08:00，按北京时间）。",
        "单位：留空表示排放源的单位；也可填同量纲的其他单位（如 kWh 与 MWh），系统自动换算。",
        "数据等级：measured（实测）、statistical（统计）、estimated（估算）；留空取排放源的等级。",
        "任何一行有错误时整份文件都不导入；同一文件重复导入不会产生重复数据，修改过的行按更正处理。",
        "",
        "Activity data import template. One reading per row; source code, period and quantity are required.",
        "Period: YYYY-MM for a month, or a timestamp for a meter reading (China Standard Time).",
        "Unit: empty = the source's unit, or another unit of the same dimension (converted).",
        "Tier: measured, statistical or estimated; empty = the source's tier.",
        "If any row is wrong nothing is imported. Re-importing a file creates no duplicates; changed rows "
        "are recorded as corrections.",
    )
    for row, text in enumerate(lines, start=1):
        put(notes, row=row, column=1, value=text)
    notes.column_dimensions["A"].width = 110
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------- reading files


def read_rows(filename: str, content: bytes) -> list[list[Any]]:
    """The sheet's rows (xlsx via python-calamine: sheet ``readings`` or the first) or the CSV's rows
    (UTF-8 with or without BOM, else GB18030). Leading empty rows are kept so that row numbers are
    the sheet's."""
    name = filename.lower()
    if len(content) > MAX_FILE_BYTES:
        raise EmissionsDataError.single(
            "file",
            zh=f"文件过大（超过 {MAX_FILE_BYTES // 1024 // 1024} MB）",
            en=f"the file is too large (over {MAX_FILE_BYTES // 1024 // 1024} MB)",
        )
    if name.endswith(".xlsx"):
        try:
            return read_sheet(content, sheet_name=SHEET_NAME)
        except UnreadableSheet as error:
            raise EmissionsDataError.single(
                "file", zh=f"无法读取 xlsx 文件：{error}", en=f"the xlsx file cannot be read: {error}"
            ) from None
    if name.endswith(".csv"):
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = content.decode("gb18030", errors="replace")
        return [list(row) for row in csv.reader(io.StringIO(text))]
    raise EmissionsDataError.single(
        "file",
        zh=f"不支持的文件类型“{filename}”：请上传 .xlsx 或 .csv",
        en=f"unsupported file type '{filename}': upload .xlsx or .csv",
    )


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _code_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a numeric code typed into Excel comes back as 1001.0
    return str(value).strip()


def _header(rows: Sequence[Sequence[Any]]) -> tuple[int, dict[str, int], list[DataIssue]]:
    """(header row index, column index by key, problems)."""
    index = next((i for i, row in enumerate(rows) if any(not _blank(cell) for cell in row)), None)
    if index is None:
        raise EmissionsDataError.single(
            "file", zh="文件为空：缺少表头", en="the file is empty: no header row"
        )
    issues: list[DataIssue] = []
    columns: dict[str, int] = {}
    for position, cell in enumerate(rows[index]):
        if _blank(cell):
            continue
        folded = _fold(str(cell))
        key = _ALIASES.get(folded) or next(
            (k for k, zh, _ in COLUMNS if folded.startswith(_fold(zh)) or folded.startswith(k)), None
        )
        if key is None:
            hint_zh, hint_en = suggestion_text(str(cell), [header_text(k) for k, _, _ in COLUMNS])
            issues.append(
                DataIssue(
                    index + 1, str(cell), f"未知列“{cell}”{hint_zh}", f"unknown column '{cell}'{hint_en}"
                )
            )
        elif key in columns:
            issues.append(
                DataIssue(index + 1, str(cell), f"列“{cell}”重复", f"column '{cell}' appears twice")
            )
        else:
            columns[key] = position
    for key in REQUIRED:
        if key not in columns:
            issues.append(
                DataIssue(
                    index + 1,
                    header_text(key),
                    f"缺少必填列“{header_text(key)}”",
                    f"required column '{header_text(key)}' is missing",
                )
            )
    return index, columns, issues


def parse_rows(
    context: ReadingContext, rows: Sequence[Sequence[Any]]
) -> tuple[list[ParsedReading], list[DataIssue]]:
    """Validated readings and every problem (sheet row, column header, zh, en)."""
    header_index, columns, issues = _header(rows)
    if any(key not in columns for key in REQUIRED):
        return [], issues
    column_names = {key: header_text(key) for key in columns}
    get = {key: columns.get(key) for key, _, _ in COLUMNS}
    parsed: list[ParsedReading] = []
    seen: dict[tuple[int, datetime], int] = {}
    width = max(columns.values()) + 1

    def cell(row: Sequence[Any], key: str) -> Any:
        position = get[key]
        return row[position] if position is not None and position < len(row) else None

    for number, row in enumerate(rows[header_index + 1 :], start=header_index + 2):
        if len(row) < width:
            row = list(row) + [None] * (width - len(row))
        if all(_blank(value) for value in row):
            continue
        problems: list[DataIssue] = []

        def bad(
            key: str, error: BadValue, number: int = number, problems: list[DataIssue] = problems
        ) -> None:
            problems.append(DataIssue(number, column_names[key], error.zh, error.en))

        source = None
        code = cell(row, "source_code")
        try:
            if _blank(code):
                raise BadValue("缺少排放源编码", "the source code is missing")
            source = context.source(source_code=_code_text(code))
        except BadValue as error:
            bad("source_code", error)
        moment = None
        period = cell(row, "period")
        try:
            if _blank(period):
                raise BadValue("缺少期间", "the period is missing")
            if isinstance(period, float | int) and not isinstance(period, bool):
                if not float(period).is_integer():  # 2024.1 could be January or October
                    raise BadValue(
                        f"期间“{period}”是数字，无法区分月份：请把单元格设为文本，写成 YYYY-MM",
                        f"period {period} is a number and the month is ambiguous: format the cell as "
                        "text and write YYYY-MM",
                    )
                period = str(int(period))  # 202403
            if isinstance(period, date) and not isinstance(period, datetime):
                period = datetime(period.year, period.month, period.day)
            moment = parse_instant(period, allow_month=True)
        except BadValue as error:
            bad("period", error)
        factor = None
        if source is not None and "unit" in columns:
            try:
                unit = cell(row, "unit")
                factor = context.unit_factor(source, None if _blank(unit) else str(unit).strip())
            except BadValue as error:
                bad("unit", error)
        micro = None
        try:
            quantity = cell(row, "quantity")
            if _blank(quantity):
                raise BadValue("缺少数量", "the quantity is missing")
            micro = micro_quantity(quantity, factor=factor, negative_ok=False)
        except BadValue as error:
            bad("quantity", error)
        tier = None
        try:
            tier = parse_tier(cell(row, "tier"), default=source.tier if source else "statistical")
        except BadValue as error:
            bad("tier", error)
        note = None
        try:
            note = parse_note(cell(row, "note"))
        except BadValue as error:
            bad("note", error)
        if problems or source is None or moment is None or micro is None or tier is None:
            issues += problems
            continue
        assert source.id is not None
        key = (source.id, moment)
        first = seen.setdefault(key, number)
        if first != number:
            issues.append(
                DataIssue(
                    number,
                    column_names["period"],
                    f"与第 {first} 行的排放源和期间相同",
                    f"same source and period as row {first}",
                )
            )
            continue
        parsed.append(ParsedReading(source, moment, micro, tier, None, note))
    if not parsed and not issues:
        issues.append(DataIssue(header_index + 1, "file", "文件中没有数据行", "the file has no data rows"))
    return parsed, issues


# ---------------------------------------------------------------- import


def import_readings(
    session: Session, *, org_id: int, actor: Actor, filename: str, content: bytes, reason: str = ""
) -> ImportResult:
    """Validate the whole file, then upsert its readings (see the module docstring); audited. The months
    it changed are announced (:class:`MonthDataChanged`) for the processes that govern them."""
    sha256 = hashlib.sha256(content).hexdigest()
    rows = read_rows(filename, content)
    context = ReadingContext(session, org_id=org_id)
    parsed, issues = parse_rows(context, rows)
    if issues:
        raise EmissionsDataError(issues)
    connection = session.connection()
    same_file = tuple(
        connection.execute(
            sa.select(table_of(ReadingBatch).c.id)
            .where(table_of(ReadingBatch).c.org_id == org_id, table_of(ReadingBatch).c.sha256 == sha256)
            .order_by(table_of(ReadingBatch).c.id)
        ).scalars()
    )
    batch = new_batch(
        session,
        org_id=org_id,
        kind=BatchKind.import_,
        label=filename,
        actor=actor,
        rows=len(parsed),
        sha256=sha256,
    )
    assert batch.id is not None
    existing = existing_readings(connection, org_id=org_id, readings=parsed)
    inserts: list[tuple[Any, ...]] = []
    changed: list[datetime] = []  # period starts of inserted or corrected readings
    to_db = db_instant(connection.dialect.name)
    updates: list[dict[str, Any]] = []
    corrections: dict[str, list[Any]] = {}
    for reading in parsed:
        assert reading.source.id is not None
        old = existing.get((reading.source.id, reading.period_start))
        if old is None:
            inserts.append(reading.insert_row(to_db))
            changed.append(reading.period_start)
            continue
        if (old["quantity"], old["tier"], old["note"]) == (
            reading.quantity_micro,
            reading.tier,
            reading.note,
        ):
            continue
        changed.append(reading.period_start)
        updates.append(
            {
                "b_org": org_id,
                "b_source": reading.source.id,
                "b_start": reading.period_start,
                "b_quantity": reading.quantity_micro,
                "b_tier": reading.tier,
                "b_note": reading.note,
                "b_entered_by": actor.id,
                "b_batch_id": batch.id,
            }
        )
        label = f"{reading.source.code}@{_local_text(reading.period_start)}"
        for name, before, after in (
            ("quantity", plain(from_micro(old["quantity"])), plain(reading.quantity)),
            ("tier", old["tier"], reading.tier),
            ("note", old["note"], reading.note),
        ):
            if before != after:
                corrections[f"{label}.{name}"] = [before, after]
    insert_rows(connection, org_id=org_id, entered_by=actor.id, batch_id=batch.id, rows=inserts)
    if updates:
        connection.execute(_UPDATE_READING, updates)
    finish_batch(connection, batch_id=batch.id, inserted=len(inserts), updated=len(updates))
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="reading_batch",
        subject_id=batch.id,
        action="imported",
        changes={
            "file": [None, filename],
            "sha256": [None, sha256],
            "rows": [None, len(parsed)],
            "inserted": [None, len(inserts)],
            "updated": [None, len(updates)],
        },
    )
    # Every correction is in the trail, old → new, in events of at most CORRECTIONS_PER_EVENT fields.
    items = sorted(corrections.items())
    for start in range(0, len(items), CORRECTIONS_PER_EVENT):
        append_event(
            session,
            org_id=org_id,
            actor=actor,
            subject_type="reading_batch",
            subject_id=batch.id,
            action="corrected",
            changes=dict(items[start : start + CORRECTIONS_PER_EVENT]),
            reason=f"import {filename}",
        )
    if changed:
        periods = frozenset(local_months(changed))
        bump_for_periods(session, org_id=org_id, periods=periods)
        announce(session, MonthDataChanged(org_id=org_id, periods=periods, actor=actor, reason=reason))
    return ImportResult(
        batch_id=batch.id,
        rows=len(parsed),
        inserted=len(inserts),
        updated=len(updates),
        unchanged=len(parsed) - len(inserts) - len(updates),
        sha256=sha256,
        same_file_batches=same_file,
        periods=local_months(changed),
    )


_UPDATE_READING = (
    sa.update(reading_insert_table)
    .where(
        reading_insert_table.c.org_id == sa.bindparam("b_org"),
        reading_insert_table.c.source_id == sa.bindparam("b_source"),
        reading_insert_table.c.period_start == sa.bindparam("b_start", type_=sa.DateTime(timezone=True)),
    )
    .values(
        quantity=sa.bindparam("b_quantity"),
        tier=sa.bindparam("b_tier"),
        note=sa.bindparam("b_note"),
        entered_by=sa.bindparam("b_entered_by"),
        batch_id=sa.bindparam("b_batch_id"),
    )
)


def _local_text(moment: datetime) -> str:
    local = moment.astimezone(LOCAL_TZ)
    if (local.day, local.hour, local.minute, local.second) == (1, 0, 0, 0):
        return period_label(moment)
    return local.strftime("%Y-%m-%dT%H:%M:%S+08:00")
