"""Command-line entry: ``python -m engine.emissions FILE [--json]`` (and ``tanguan calc``).

Rich is imported only when a table is printed, so ``--json`` starts as fast as the calculator.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from engine.emissions.balance import balance_totals
from engine.emissions.calc import calculate
from engine.emissions.errors import CalcError, Issue
from engine.emissions.loader import load_calc_file
from engine.emissions.model import CATEGORY_ZH, Category, Inventory
from engine.emissions.performance import intensity
from engine.emissions.quality import inventory_uncertainty
from engine.emissions.report import errors_to_json, factor_choices, inventory_to_json
from engine.emissions.rounding import DISPLAY_DECIMALS, rounded

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

# Above this many lines the table groups them by source; --json always has every line.
MAX_LINE_ROWS = 50
TABLE_WIDTH = 140


def run_calc(path: Path, *, as_json: bool, out: TextIO = sys.stdout) -> int:
    """Calculate ``path`` and print the result; 0 when it worked, 1 when the input has errors."""
    try:
        inventory = calculate(load_calc_file(path))
        document = inventory_to_json(inventory) if as_json else None
    except CalcError as error:
        if as_json:
            _write_json(errors_to_json(error), out)
        else:
            _print_errors(error, out)
        return 1
    if document is not None:
        _write_json(document, out)
    else:
        _print_inventory(inventory, out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m engine.emissions", description="碳排放核算 emissions calculator"
    )
    parser.add_argument("file", type=Path, help="calculator input (.json, .csv or .xlsx)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    arguments = parser.parse_args(argv)
    return run_calc(arguments.file, as_json=arguments.json, out=sys.stdout)


def _write_json(document: object, out: TextIO) -> None:
    # Indented for a person at a terminal; compact otherwise, where json.dumps uses its C encoder.
    out.write(json.dumps(document, ensure_ascii=False, indent=2 if out.isatty() else None))
    out.write("\n")


def _console(out: TextIO) -> Console:
    from rich.console import Console

    return Console(file=out, width=None if out.isatty() else TABLE_WIDTH, highlight=False)


def _safe(text: str) -> str:
    """User text with Rich markup escaped, so '锅炉[1号]' prints as written."""
    from rich.markup import escape

    return escape(text)


def _number(value: Decimal) -> str:
    return f"{rounded(value, DISPLAY_DECIMALS):,}"


def _print_errors(error: CalcError, out: TextIO) -> None:
    rows = (("—" if issue.line is None else str(issue.line), issue) for issue in error.issues)
    _console(out).print(_issues_table(f"输入有误 Input errors ({len(error.issues)})", "bold red", rows))


def _issues_table(title: str, style: str, rows: Iterable[tuple[str, Issue]]) -> Table:
    """Errors or warnings: where (line numbers), field, and the message in Chinese and English."""
    from rich.table import Table

    table = Table(title=title, title_style=style)
    table.add_column("行 Line", justify="right")
    table.add_column("字段 Field", overflow="fold")
    table.add_column("说明", overflow="fold")
    table.add_column("Message", overflow="fold")
    for where, issue in rows:
        table.add_row(where, _safe(issue.field), _safe(issue.message_zh), _safe(issue.message_en))
    return table


def _print_inventory(inventory: Inventory, out: TextIO) -> None:
    from rich.table import Table

    console = _console(out)
    console.print(
        f"[bold]碳排放核算 Emissions inventory[/bold]  {_safe(inventory.origin)}\n"
        f"因子集 factor set: {inventory.factor_set} · GWP: {inventory.gwp_set} · "
        f"电网口径 grid caliber: {inventory.grid_caliber}"
    )
    console.print(
        _lines_table(inventory) if len(inventory.lines) <= MAX_LINE_ROWS else _sources_table(inventory)
    )

    totals = Table(title="分类合计 Totals by category")
    totals.add_column("类别 Category")
    totals.add_column("tCO2e", justify="right")
    for category, value in inventory.by_category.items():
        totals.add_row(f"{CATEGORY_ZH[Category(category)]} {category}", _number(value))
        if category == Category.PROCESS:  # the carbon balance groups within it
            for group, net in balance_totals(inventory.lines).items():
                totals.add_row(f"  其中碳平衡 of which carbon balance “{_safe(group)}”", _number(net))
    totals.add_row("[bold]合计 Total[/bold]", f"[bold]{_number(inventory.total_tco2e)}[/bold]")
    if inventory.biomass_co2_t:
        totals.add_row(
            f"{CATEGORY_ZH[Category.BIOMASS]} biomass CO2 (not in total)", _number(inventory.biomass_co2_t)
        )
    console.print(totals)
    for note in _summary_notes(inventory):
        console.print(note)

    choices = Table(title="因子选择 Factor choices")
    choices.add_column("层级 Tier")
    choices.add_column("原因 Reason")
    choices.add_column("行 Lines")
    for choice in factor_choices(inventory):
        choices.add_row(
            choice["tier"], _safe(f"{choice['reason_zh']}\n{choice['reason_en']}"), _ranges(choice["lines"])
        )
    console.print(choices)
    if inventory.warnings:
        console.print(_warnings_table(inventory))


def _warnings_table(inventory: Inventory) -> Table:
    """The warnings, one row per message with its lines (a long file repeats one message often)."""
    grouped: dict[Issue, list[int]] = {}
    for warning in inventory.warnings:
        lines = grouped.setdefault(replace(warning, line=None), [])
        if warning.line is not None:
            lines.append(warning.line)
    rows = ((_ranges(lines) or "—", warning) for warning, lines in grouped.items())
    return _issues_table(f"提示 Warnings ({len(inventory.warnings)})", "bold yellow", rows)


def _summary_notes(inventory: Inventory) -> list[str]:
    notes = []
    if inventory.production is not None:
        result = intensity(inventory)
        if result.per_product is not None:
            notes.append(
                f"排放强度 Intensity: {_number(result.per_product)} tCO2e/{_safe(result.product_unit or '')}"
                + (f" {_safe(result.product)}" if result.product else "")
            )
        if result.per_output_value is not None:
            notes.append(f"排放强度 Intensity: {_number(result.per_output_value)} tCO2e/万元 (10^4 CNY)")
    uncertainty = inventory_uncertainty(inventory)
    if uncertainty is not None and uncertainty.relative_pct is not None:
        missing = (
            f"; {len(uncertainty.lines_without)} lines without uncertainty"
            if uncertainty.lines_without
            else ""
        )
        notes.append(
            f"不确定度 Uncertainty: ±{_number(uncertainty.relative_pct)} % "
            f"(±{_number(uncertainty.absolute_tco2e)} tCO2e, 95 %{missing})"
        )
    return notes


def _ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7] → '1–3, 7'."""
    spans: list[list[int]] = []
    for number in numbers:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return ", ".join(str(start) if start == end else f"{start}–{end}" for start, end in spans)


def _table(title: str, headings: tuple[str, ...], *, numeric: tuple[str, ...]) -> Table:
    from rich.table import Table

    table = Table(title=title)
    for heading in headings:
        table.add_column(heading, justify="right" if heading in numeric else "left")
    return table


def _lines_table(inventory: Inventory) -> Table:
    table = _table(
        "排放源 Source lines",
        (
            "行 Line",
            "名称 Name",
            "类别 Category",
            "燃料/物料 Source",
            "数量 Quantity",
            "因子 Factor",
            "tCO2e",
        ),
        numeric=("行 Line", "数量 Quantity", "tCO2e"),
    )
    for line in inventory.lines:
        emissions = _number(line.tco2e) if line.counted_in_total else f"({_number(line.tco2e)})"
        table.add_row(
            str(line.line),
            _safe(line.name or ""),
            line.category.value,
            _safe(line.source_name or ""),
            _safe(f"{line.quantity:,f} {line.unit}"),
            line.trace.choice.tier.value,
            emissions,
        )
    return table


def _sources_table(inventory: Inventory) -> Table:
    grouped: dict[tuple[str, str, str], tuple[int, Decimal, Decimal]] = {}
    for line in inventory.lines:
        key = (line.category.value, line.source_name or "", line.unit)
        count, quantity, emissions = grouped.get(key, (0, Decimal(0), Decimal(0)))
        grouped[key] = (count + 1, quantity + line.quantity, emissions + line.tco2e)
    table = _table(
        f"排放源（按来源汇总，共 {len(inventory.lines)} 行）Sources, grouped; --json lists every line",
        ("类别 Category", "燃料/物料 Source", "行数 Lines", "数量 Quantity", "tCO2e"),
        numeric=("行数 Lines", "数量 Quantity", "tCO2e"),
    )
    for (category, source, unit), (count, quantity, emissions) in grouped.items():
        table.add_row(category, _safe(source), str(count), _safe(f"{quantity:,f} {unit}"), _number(emissions))
    return table
