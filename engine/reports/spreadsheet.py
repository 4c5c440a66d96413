"""Cells of the spreadsheets the app exports. Text that a spreadsheet would run as a formula (starting with
=, +, -, @, tab or carriage return: OWASP "CSV injection") is written as a text cell, shown as it was
typed and never evaluated; control characters XML cannot hold are shown as U+FFFD."""

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from engine.reports.docx_layout import printable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def write_only_workbook(title: str) -> tuple[Workbook, WriteOnlyWorksheet]:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(printable(title))
    return workbook, sheet


def safe_cell(sheet: WriteOnlyWorksheet, value: Any) -> Any:
    """The value for a row of a write-only sheet: numbers and dates as they are; text printable, and
    formula-like text as a text cell with Excel's quote prefix (kept as text when edited)."""
    if not isinstance(value, str):
        return value
    text = printable(value)
    if not text.startswith(FORMULA_STARTS):
        return text
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell


def put(sheet: Any, *, row: int, column: int, value: Any) -> Any:
    """Set a cell of a normal (not write-only) sheet the same way: printable, formula-like text as text."""
    cell = sheet.cell(row=row, column=column, value=printable(value) if isinstance(value, str) else value)
    if isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS):
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell


class UnreadableSheet(ValueError):
    """The upload is not an xlsx workbook the reader can open (the message names why)."""


def read_sheet(content: bytes, *, sheet_name: str | None = None) -> list[list[Any]]:
    """The rows of the sheet ``sheet_name`` (else the first) of an xlsx file, read by python-calamine.
    Leading empty rows are kept, so that row numbers are the sheet's."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(content))
        names = workbook.sheet_names
        sheet = workbook.get_sheet_by_name(sheet_name if sheet_name in names else names[0])
        return sheet.to_python(skip_empty_area=False)
    except (CalamineError, IndexError, ValueError, OSError) as error:
        raise UnreadableSheet(str(error)) from None
