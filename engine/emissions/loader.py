"""Reading the calculator input file (JSON, CSV or xlsx) into a :class:`CalcInput`.

The format is public and documented in docs/calc-format.md; keys are stable. Line numbers in
errors are the 1-based position in the JSON ``lines`` array, or the sheet row number for CSV
and xlsx (the header is the first non-empty row, normally row 1). Every problem in the file is
collected before raising.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from engine.emissions.errors import CalcError, Issue, suggestion_text
from engine.emissions.factors import (
    DEFAULT_FACTOR_SET,
    DEFAULT_GRID_CALIBER,
    DEFAULT_GWP_SET,
    GridFactor,
    published_grid_factor,
)
from engine.emissions.model import ActivityTier, CalcInput, CalcLine, Category, Production

TEXT_FIELDS = (
    "name",
    "fuel",
    "material",
    "unit",
    "region",
    "ncv_unit",
    "factor_unit",
    "gas",
    "org_unit",
    "period",
    "mass_balance",
    "flow",
)
DECIMAL_FIELDS = (
    "quantity",
    "ncv",
    "carbon_content",
    "oxidation_rate",
    "factor",
    "purity",
    "calcination_fraction",
    "carbon_fraction",
    "cao_content",
    "mgo_content",
    "cao_noncarbonate",
    "mgo_noncarbonate",
    "kiln_dust",
    "bypass_dust",
    "anode_effect_minutes",
    "kiln_dust_calcination",
    "bypass_dust_calcination",
    "n2o_generation_factor",
    "abatement_efficiency",
    "abatement_use_rate",
    "mcf",
    "b0",
    "sludge_cod",
    "ch4_recovered",
    "fossil_fraction",
    "enthalpy",
    "reference_enthalpy",
)
PERCENT_FIELDS = ("uncertainty", "factor_uncertainty")
LINE_FIELDS = ("category", *TEXT_FIELDS, *DECIMAL_FIELDS, *PERCENT_FIELDS, "year", "tier")
REQUIRED_FIELDS = ("category", "quantity", "unit")
SETTING_FIELDS = ("factor_set", "gwp_set", "grid_caliber", "sector_set")
TOP_LEVEL_FIELDS = (*SETTING_FIELDS, "region", "year", "production", "grid_factors", "lines")
GRID_FACTOR_FIELDS = ("region", "year", "value", "caliber", "document", "detail")
PRODUCTION_FIELDS = ("product", "quantity", "unit", "output_value_10k_cny")

TIER_SPELLINGS: Mapping[str, ActivityTier] = {
    "measured": ActivityTier.MEASURED,
    "实测": ActivityTier.MEASURED,
    "计量": ActivityTier.MEASURED,
    "statistical": ActivityTier.STATISTICAL,
    "统计": ActivityTier.STATISTICAL,
    "estimated": ActivityTier.ESTIMATED,
    "估算": ActivityTier.ESTIMATED,
}

MIN_YEAR, MAX_YEAR = 1990, 2100
# A whole number in a text field is written without its ".0" up to this many digits (an id, a period).
MAX_INTEGER_DIGITS = 30


def load_calc_file(path: Path | str) -> CalcInput:
    """Read a calculator file; the format follows the extension (.json, .csv, .xlsx)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".csv", ".xlsx"):
        raise CalcError.single(
            field="file",
            zh=f"不支持的文件类型“{suffix or path.name}”：请用 .json、.csv 或 .xlsx",
            en=f"unsupported file type '{suffix or path.name}': use .json, .csv or .xlsx",
        )
    if not path.is_file():
        raise CalcError.single(field="file", zh=f"找不到文件：{path}", en=f"file not found: {path}")
    if suffix == ".json":
        return _load_json(path)
    rows = _read_csv(path) if suffix == ".csv" else _read_xlsx(path)
    return calc_input_from_rows(rows, origin=str(path))


def calc_input_from_dict(data: Any, *, origin: str = "<memory>") -> CalcInput:
    """Build the input from the JSON structure (already parsed; numbers may be Decimal or int)."""
    if not isinstance(data, dict):
        raise CalcError.single(
            field="file", zh="JSON 顶层必须是对象", en="the JSON top level must be an object"
        )
    issues: list[Issue] = list(_unknown_keys(data, TOP_LEVEL_FIELDS, line=None))
    issues += _repeated_keys(data, line=None)
    settings = {name: _text(data.get(name), name, issues, line=None) for name in SETTING_FIELDS}
    region = _text(data.get("region"), "region", issues, line=None)
    year = _year(data.get("year"), issues, line=None)
    production = _production(data.get("production"), issues)
    grid_factors = _grid_factors(
        data.get("grid_factors"), issues, caliber=settings["grid_caliber"] or DEFAULT_GRID_CALIBER
    )
    raw_lines = data.get("lines")
    if not isinstance(raw_lines, list):
        issues.append(
            Issue(
                line=None,
                field="lines",
                message_zh="缺少 lines 数组",
                message_en="the 'lines' array is missing",
            )
        )
        raw_lines = []
    parsed: list[_ParsedLine] = []
    for index, raw in enumerate(raw_lines, start=1):
        if not isinstance(raw, dict):
            issues.append(
                Issue(
                    line=index,
                    field="lines",
                    message_zh="每一行必须是对象",
                    message_en="each line must be an object",
                )
            )
            continue
        issues.extend(_unknown_keys(raw, LINE_FIELDS, line=index))
        issues += _repeated_keys(raw, line=index)
        parsed.append(_parse_line(raw, line=index))
    return _finish(
        parsed,
        issues,
        factor_set=settings["factor_set"] or DEFAULT_FACTOR_SET,
        gwp_set=settings["gwp_set"] or DEFAULT_GWP_SET,
        grid_caliber=settings["grid_caliber"] or DEFAULT_GRID_CALIBER,
        region=region,
        year=year,
        production=production,
        origin=origin,
        grid_factors=grid_factors,
        sector_set=settings["sector_set"],
    )


def calc_input_from_rows(rows: Sequence[Sequence[Any]], *, origin: str = "<memory>") -> CalcInput:
    """Build the input from sheet rows: the first non-empty row is the header; lines keep their row number."""
    header_index = next(
        (index for index, row in enumerate(rows) if any(_cell_text(cell) for cell in row)), None
    )
    if header_index is None:
        raise CalcError.single(
            field="file", zh="文件为空：缺少表头（列名）", en="the file is empty: no header row"
        )
    header = [_cell_text(cell).lower() for cell in rows[header_index]]
    header_line = header_index + 1
    known = (*LINE_FIELDS, *SETTING_FIELDS)
    issues: list[Issue] = [
        issue for name in header if name for issue in _unknown_keys({name: None}, known, line=header_line)
    ]
    issues += [
        Issue(
            line=header_line,
            field=name,
            message_zh=f"列 {name} 出现了不止一次；请只保留一列",
            message_en=f"column {name} appears more than once; keep one",
        )
        for name in dict.fromkeys(name for name in header if name and header.count(name) > 1)
    ]
    # An unknown column is reported once, on the header, and its cells are ignored; a required column
    # that is absent is also reported once there, not on every row. The rows are still checked.
    header = [name if name in known else "" for name in header]
    absent = [name for name in REQUIRED_FIELDS if name not in header]
    issues += [
        Issue(
            line=header_line,
            field=name,
            message_zh=f"缺少必填列 {name}",
            message_en=f"required column {name} is missing",
        )
        for name in absent
    ]
    settings: dict[str, str | None] = dict.fromkeys(SETTING_FIELDS)
    parsed: list[_ParsedLine] = []
    for row_number, row in enumerate(rows[header_index + 1 :], start=header_index + 2):
        cells = {name: row[column] for column, name in enumerate(header) if name and column < len(row)}
        if not any(_cell_text(value) for value in cells.values()):
            continue  # blank rows separate groups in spreadsheets; they are not lines
        for name in SETTING_FIELDS:
            value = _text(cells.pop(name, None), name, issues, line=row_number)
            if value is None:
                continue
            if settings[name] is None:
                settings[name] = value
            elif settings[name] != value:
                issues.append(
                    Issue(
                        line=row_number,
                        field=name,
                        message_zh=f"{name} 与前面的行不一致（{settings[name]} ≠ {value}）",
                        message_en=f"{name} differs from earlier rows ({settings[name]} ≠ {value})",
                    )
                )
        parsed.append(_parse_line(cells, line=row_number, absent=absent))
    return _finish(
        parsed,
        issues,
        factor_set=settings["factor_set"] or DEFAULT_FACTOR_SET,
        gwp_set=settings["gwp_set"] or DEFAULT_GWP_SET,
        grid_caliber=settings["grid_caliber"] or DEFAULT_GRID_CALIBER,
        region=None,
        year=None,
        production=None,
        origin=origin,
        absent=absent,
        sector_set=settings["sector_set"],
    )


@dataclass(frozen=True, slots=True)
class _ParsedLine:
    line: CalcLine | None  # None when a required field is unusable
    issues: tuple[Issue, ...]  # problems found while reading the fields
    # Stands in for the line when checking a file that already has errors: a field that was given
    # but could not be read holds a harmless value, so that it counts as given and the other checks
    # still run (no "ncv_unit without ncv" after "ncv must be a number"). Never calculated.
    probe: CalcLine
    category_read: bool  # False: the method is unknown, only method-independent checks apply


def _finish(
    parsed: Sequence[_ParsedLine],
    issues: list[Issue],
    *,
    factor_set: str,
    gwp_set: str,
    grid_caliber: str,
    region: str | None,
    year: int | None,
    production: Production | None,
    origin: str,
    absent: Sequence[str] = (),
    grid_factors: tuple[GridFactor, ...] = (),
    sector_set: str | None = None,
) -> CalcInput:
    lines = tuple(item.line for item in parsed if item.line is not None)
    calc_input = CalcInput(
        grid_factors=grid_factors,
        sector_set=sector_set,
        lines=lines,
        factor_set=factor_set,
        gwp_set=gwp_set,
        grid_caliber=grid_caliber,
        region=region,
        year=year,
        production=production,
        origin=origin,
    )
    issues = issues + [issue for item in parsed for issue in item.issues]
    if not issues:
        return calc_input
    # Also run the calculation checks on every line, including those with unreadable fields, so one
    # run reports every problem in the file; a field already reported is not reported again.
    from engine.emissions.calc import validate

    probe = replace(calc_input, lines=tuple(item.probe for item in parsed))
    unknown_method = [item.probe.line for item in parsed if not item.category_read]
    reported = {(issue.line, issue.field) for issue in issues}
    reported |= {(item.probe.line, name) for item in parsed for name in absent}  # on the header
    lines_reported = any(issue.field == "lines" for issue in issues)  # missing, or a line not an object
    # A bad top-level region/year is not reported again as missing on each line that inherits it.
    inherited = {name for name in ("region", "year") if (None, name) in reported}
    by_number = {line.line: line for line in probe.lines}

    def is_new(issue: Issue) -> bool:
        if (issue.line, issue.field) in reported or (lines_reported and issue.field == "lines"):
            return False
        line = by_number.get(issue.line) if issue.line is not None else None
        return not (issue.field in inherited and line is not None and getattr(line, issue.field) is None)

    issues += filter(is_new, validate(probe, unknown_method=unknown_method))
    raise CalcError(sorted(issues, key=lambda issue: issue.line or 0))


def _parse_line(raw: Mapping[str, Any], *, line: int, absent: Sequence[str] = ()) -> _ParsedLine:
    """Read one line; ``absent`` lists required columns missing from the header (reported there)."""
    issues: list[Issue] = []
    for name in REQUIRED_FIELDS:
        if name not in absent and _is_blank(raw.get(name)):
            issues.append(
                Issue(
                    line=line,
                    field=name,
                    message_zh=f"缺少必填字段 {name}",
                    message_en=f"required field {name} is missing",
                )
            )
    category = _category(raw.get("category"), issues, line=line)
    texts: dict[str, Any] = {name: _text(raw.get(name), name, issues, line=line) for name in TEXT_FIELDS}
    numbers: dict[str, Any] = {
        name: _decimal(raw.get(name), name, issues, line=line) for name in DECIMAL_FIELDS
    }
    numbers.update(
        (name, _decimal(raw.get(name), name, issues, line=line, percent=True)) for name in PERCENT_FIELDS
    )
    year = _year(raw.get("year"), issues, line=line)
    tier = _tier(raw.get("tier"), issues, line=line)
    quantity = numbers.pop("quantity")
    unit = texts.pop("unit")
    calc_line = None
    if category is not None and quantity is not None and unit is not None:
        calc_line = CalcLine(
            line=line,
            category=category,
            quantity=quantity,
            unit=unit,
            year=year,
            tier=tier,
            **texts,
            **numbers,
        )
        if not issues:
            return _ParsedLine(line=calc_line, issues=(), probe=calc_line, category_read=True)
    unreadable = {
        name: _STAND_INS.get(name, Decimal(0))
        for name, value in numbers.items()
        if value is None and not _is_blank(raw.get(name))
    }
    probe = CalcLine(
        line=line,
        category=category or Category.COMBUSTION,  # any; its method is not checked
        quantity=quantity if quantity is not None else Decimal(0),
        unit=unit or "",  # reported already; every unit check reports under "unit"
        year=year,
        tier=tier,
        **texts,
        **(numbers | unreadable),
    )
    return _ParsedLine(line=calc_line, issues=tuple(issues), probe=probe, category_read=category is not None)


# Stand-ins for given but unreadable numbers (default 0): chosen so that no check of another field
# compares against them (CaO_nc ≤ CaO holds for any CaO_nc when CaO is 1).
_STAND_INS: Mapping[str, Decimal] = {"cao_content": Decimal(1), "mgo_content": Decimal(1)}


def _unknown_keys(raw: Mapping[str, Any], known: Sequence[str], *, line: int | None) -> Iterable[Issue]:
    for key in raw:
        if key in known or str(key).startswith("_"):
            continue  # keys starting with "_" are comments
        hint_zh, hint_en = suggestion_text(str(key), known)
        yield Issue(
            line=line,
            field=str(key),
            message_zh=f"未知字段“{key}”{hint_zh}",
            message_en=f"unknown field '{key}'{hint_en}",
        )


class _RepeatedKeys(dict[str, Any]):
    """A JSON object whose text gives a key twice: ``json`` would silently keep the last value."""

    repeated: tuple[str, ...] = ()


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for :func:`json.load` that remembers repeated keys."""
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    counted: dict[str, int] = {}
    for key, _ in pairs:
        counted[key] = counted.get(key, 0) + 1
    marked = _RepeatedKeys(result)
    marked.repeated = tuple(key for key, count in counted.items() if count > 1)
    return marked


def _repeated_keys(raw: Mapping[str, Any], *, line: int | None, prefix: str = "") -> list[Issue]:
    if not isinstance(raw, _RepeatedKeys):
        return []
    where_zh, where_en = ("本行", "on this line") if line is not None else ("文件顶层", "at the top level")
    if prefix:
        where_zh, where_en = " production 中", "in production"
    return [
        Issue(
            line=line,
            field=f"{prefix}{key}",
            message_zh=f"{key} 在{where_zh}出现了不止一次；请只保留一个",
            message_en=f"{key} is given more than once {where_en}; keep one",
        )
        for key in raw.repeated
    ]


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _cell_text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _text(value: Any, name: str, issues: list[Issue], *, line: int | None) -> str | None:
    if _is_blank(value):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal | date):
        issues.append(
            Issue(line=line, field=name, message_zh=f"{name} 应为文本", message_en=f"{name} must be text")
        )
        return None
    if isinstance(value, float | Decimal):
        number = Decimal(repr(value)) if isinstance(value, float) else value
        if not number.is_finite():  # JSON's NaN and Infinity
            issues.append(
                Issue(
                    line=line,
                    field=name,
                    message_zh=f"{name} 应为文本，实际为 {number}",
                    message_en=f"{name} must be text, got {number}",
                )
            )
            return None
        if number == number.to_integral_value() and number.adjusted() < MAX_INTEGER_DIGITS:
            return str(int(number))  # a spreadsheet stores a period such as 2023 as 2023.0
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value).strip()


def _decimal(
    value: Any, name: str, issues: list[Issue], *, line: int | None, percent: bool = False
) -> Decimal | None:
    if _is_blank(value):
        return None
    text = value.strip() if isinstance(value, str) else value
    if percent and isinstance(text, str) and text.endswith("%"):
        text = text[:-1].strip()
    try:
        if isinstance(text, bool):
            raise InvalidOperation
        number = Decimal(repr(text)) if isinstance(text, float) else Decimal(text)
        if not number.is_finite():
            raise InvalidOperation
    except (InvalidOperation, TypeError, ValueError):
        issues.append(
            Issue(
                line=line,
                field=name,
                message_zh=f"{name} 应为数字，实际为“{value}”",
                message_en=f"{name} must be a number, got '{value}'",
            )
        )
        return None
    return number


def _year(value: Any, issues: list[Issue], *, line: int | None) -> int | None:
    number = _decimal(value, "year", issues, line=line)
    if number is None:
        return None
    if number != number.to_integral_value() or not MIN_YEAR <= number <= MAX_YEAR:
        issues.append(
            Issue(
                line=line,
                field="year",
                message_zh=f"年份无效：{value}",
                message_en=f"invalid year: {value}",
            )
        )
        return None
    return int(number)


def _category(value: Any, issues: list[Issue], *, line: int) -> Category | None:
    if _is_blank(value):
        return None
    text = str(value).strip().lower()
    try:
        return Category(text)
    except ValueError:
        names = [category.value for category in Category]
        hint_zh, hint_en = suggestion_text(text, names)
        issues.append(
            Issue(
                line=line,
                field="category",
                message_zh=f"未知类别“{value}”{hint_zh}。可用：{'、'.join(names)}",
                message_en=f"unknown category '{value}'{hint_en}. Allowed: {', '.join(names)}",
            )
        )
        return None


def _tier(value: Any, issues: list[Issue], *, line: int) -> ActivityTier:
    if _is_blank(value):
        return ActivityTier.UNSPECIFIED
    tier = TIER_SPELLINGS.get(str(value).strip().lower())
    if tier is None:
        issues.append(
            Issue(
                line=line,
                field="tier",
                message_zh=f"未知数据层级“{value}”；可用：measured（实测）、statistical（统计）、estimated（估算）",
                message_en=f"unknown tier '{value}'; allowed: measured, statistical, estimated",
            )
        )
        return ActivityTier.UNSPECIFIED
    return tier


def _production(value: Any, issues: list[Issue]) -> Production | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        issues.append(
            Issue(
                line=None,
                field="production",
                message_zh="production 必须是对象",
                message_en="production must be an object",
            )
        )
        return None
    issues.extend(_unknown_keys(value, PRODUCTION_FIELDS, line=None))
    issues += _repeated_keys(value, line=None, prefix="production.")
    quantity = _decimal(value.get("quantity"), "production.quantity", issues, line=None)
    output_value = _decimal(
        value.get("output_value_10k_cny"), "production.output_value_10k_cny", issues, line=None
    )
    return Production(
        product=_text(value.get("product"), "production.product", issues, line=None),
        quantity=quantity,
        unit=_text(value.get("unit"), "production.unit", issues, line=None),
        output_value_10k_cny=output_value,
    )


def _grid_factors(value: Any, issues: list[Issue], *, caliber: str) -> tuple[GridFactor, ...]:
    """``grid_factors``: factors published after this release, e.g. a frozen inventory's factor-library
    entries: [{"region", "year", "value", "document", "caliber"?, "detail"?}, …]."""
    if value is None:
        return ()
    if not isinstance(value, list):
        issues.append(Issue(None, "grid_factors", "grid_factors 必须是数组", "grid_factors must be an array"))
        return ()
    found: list[GridFactor] = []
    for index, item in enumerate(value, start=1):
        field = f"grid_factors[{index}]"
        if not isinstance(item, dict):
            issues.append(Issue(None, field, "每一项必须是对象", "each entry must be an object"))
            continue
        issues.extend(_unknown_keys(item, GRID_FACTOR_FIELDS, line=None))
        known: list[Issue] = []
        factor_value = _decimal(item.get("value"), f"{field}.value", known, line=None)
        year = _year(item.get("year"), known, line=None)
        region = _text(item.get("region"), f"{field}.region", known, line=None)
        document = _text(item.get("document"), f"{field}.document", known, line=None)
        entry_caliber = _text(item.get("caliber"), f"{field}.caliber", known, line=None) or caliber
        detail = _text(item.get("detail"), f"{field}.detail", known, line=None) or ""
        missing = [
            name
            for name, given in (
                ("region", region),
                ("year", year),
                ("value", factor_value),
                ("document", document),
            )
            if given is None
        ]
        known += [Issue(None, f"{field}.{name}", f"缺少 {name}", f"{name} is missing") for name in missing]
        if known:
            issues += known
            continue
        assert region is not None and year is not None and factor_value is not None and document is not None
        try:
            found.append(
                published_grid_factor(
                    region=region,
                    year=year,
                    value=factor_value,
                    caliber=entry_caliber,
                    document=document,
                    detail=detail,
                )
            )
        except CalcError as error:
            issues += [replace(issue, field=f"{field}.{issue.field}") for issue in error.issues]
    return tuple(found)


def _load_json(path: Path) -> CalcInput:
    try:
        with open(path, encoding="utf-8-sig") as handle:
            data = json.load(handle, parse_float=Decimal, object_pairs_hook=_json_object)
    except json.JSONDecodeError as error:
        raise CalcError.single(
            field="file",
            zh=f"JSON 格式错误（第 {error.lineno} 行第 {error.colno} 列）：{error.msg}",
            en=f"invalid JSON (text line {error.lineno}, column {error.colno}): {error.msg}",
        ) from None
    except UnicodeDecodeError:
        raise CalcError.single(
            field="file", zh="JSON 文件必须是 UTF-8 编码", en="the JSON file must be UTF-8 encoded"
        ) from None
    return calc_input_from_dict(data, origin=str(path))


def _read_csv(path: Path) -> list[list[str]]:
    import csv
    import io

    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")  # Excel on Chinese Windows saves CSV as GBK
        except UnicodeDecodeError:
            raise CalcError.single(
                field="file",
                zh="CSV 文件编码无法识别：请保存为 UTF-8",
                en="unreadable CSV encoding: save the file as UTF-8",
            ) from None
    return list(csv.reader(io.StringIO(text, newline="")))


def _read_xlsx(path: Path) -> list[list[Any]]:
    from python_calamine import CalamineWorkbook

    workbook = CalamineWorkbook.from_path(str(path))
    names = workbook.sheet_names
    sheet = workbook.get_sheet_by_name("lines" if "lines" in names else names[0])
    # Keep leading empty rows so that line numbers are the sheet's row numbers.
    return sheet.to_python(skip_empty_area=False)
