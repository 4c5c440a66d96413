"""Loading JSON, CSV and xlsx files, and the command-line entry."""

import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from engine.emissions import CalcError, calculate, load_calc_file
from engine.emissions.cli import main, run_calc

D = Decimal
REPO = Path(__file__).resolve().parents[2]

HEADER = ["category", "fuel", "material", "quantity", "unit", "region", "year", "tier", "org_unit", "period"]
ROWS = [
    # 10 t diesel = 30.959096373… tCO2
    ["combustion", "柴油", "", "10", "t", "", "", "measured", "一车间", "2023"],
    # 1000 MWh × 湖南 2023 0.4976 = 497.6
    ["purchased_electricity", "", "", "1000", "MWh", "湖南", "2023", "statistical", "二车间", "2023"],
    # 100 t CaCO3 × 0.439711…= 43.971184…
    ["process", "", "碳酸钙", "100", "t", "", "", "", "", "2023"],
]
# 30.959096373333… + 497.6 + 43.971184… = 572.530281…
EXPECTED_TOTAL = 572.530281


def write_json(path: Path, document: dict) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def test_json_keeps_decimal_numbers_exact(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "in.json",
        {
            "factor_set": "GB/T 32151.22-2024",
            "gwp_set": "AR5",
            "production": {"product": "熟料", "quantity": 1000, "unit": "t"},
            "lines": [
                {
                    "category": "purchased_heat",
                    "quantity": 0.1,
                    "unit": "GJ",
                    "name": "门卫取暖",
                    "_note": "comment",
                }
            ],
        },
    )
    calc_input = load_calc_file(path)
    assert calc_input.lines[0].quantity == D("0.1")
    assert calc_input.lines[0].name == "门卫取暖"
    assert (calc_input.gwp_set, calc_input.production.quantity) == ("AR5", D("1000"))
    assert calculate(calc_input).total_tco2e == D("0.011")  # 0.1 GJ × 0.11


def test_invalid_json_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"lines": [', encoding="utf-8")
    with pytest.raises(CalcError) as caught:
        load_calc_file(path)
    assert caught.value.field == "file"
    assert "invalid JSON" in caught.value.message_en


def test_missing_and_unsupported_files(tmp_path: Path) -> None:
    with pytest.raises(CalcError, match="file not found"):
        load_calc_file(tmp_path / "missing.json")
    with pytest.raises(CalcError, match="unsupported file type"):
        load_calc_file(tmp_path / "data.txt")


def write_csv(path: Path, rows: list[list[str]], *, encoding: str = "utf-8-sig") -> Path:
    text = "\n".join(",".join(row) for row in rows) + "\n"
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gb18030"])
def test_csv_lines(tmp_path: Path, encoding: str) -> None:
    path = write_csv(tmp_path / "in.csv", [HEADER, *ROWS], encoding=encoding)
    calc_input = load_calc_file(path)
    assert [line.line for line in calc_input.lines] == [2, 3, 4]  # sheet rows; the header is row 1
    inventory = calculate(calc_input)
    assert round(float(inventory.total_tco2e), 6) == EXPECTED_TOTAL
    assert inventory.by_org_unit["二车间"] == D("497.6")


def test_csv_errors_carry_sheet_row_numbers(tmp_path: Path) -> None:
    rows = [
        HEADER,
        ROWS[0],
        ["", "", "", "", "", "", "", "", "", ""],
        ["combustion", "柴油", "", "-5", "t", "", "", "", "", ""],
        ["combustion", "汽由", "", "1", "t", "", "", "sometimes", "", ""],
    ]
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(CalcError) as caught:
        load_calc_file(path)
    # row 3 is blank and skipped; rows 4 and 5 keep their numbers
    assert [(issue.line, issue.field) for issue in caught.value.issues] == [
        (4, "quantity"),
        (5, "tier"),
        (5, "fuel"),
    ]


def test_csv_settings_columns_must_agree(tmp_path: Path) -> None:
    header = [*HEADER[:5], "gwp_set"]
    rows = [header, [*ROWS[0][:5], "AR5"], [*ROWS[2][:5], "AR6"]]
    with pytest.raises(CalcError) as caught:
        load_calc_file(write_csv(tmp_path / "in.csv", rows))
    assert (caught.value.line, caught.value.field) == (3, "gwp_set")


def test_csv_unknown_column(tmp_path: Path) -> None:
    with pytest.raises(CalcError) as caught:
        load_calc_file(write_csv(tmp_path / "in.csv", [["category", "quantity", "units"], ["x", "1", "t"]]))
    assert (caught.value.line, caught.value.field) == (1, "units")
    assert "did you mean: unit" in caught.value.message_en


def write_xlsx(
    path: Path, rows: list[list[object]], *, blank_rows_before: int = 0, sheet: str = "lines"
) -> Path:
    workbook = openpyxl.Workbook()
    intro = workbook.active
    intro.title = "说明"
    intro.append(["this sheet is ignored when a sheet named 'lines' exists"])
    worksheet = workbook.create_sheet(sheet)
    for _ in range(blank_rows_before):
        worksheet.append([])
    for row in rows:
        worksheet.append(row)
    workbook.save(path)
    return path


def test_xlsx_lines_with_numeric_cells(tmp_path: Path) -> None:
    rows = [
        HEADER,
        *[[float(cell) if cell.replace(".", "").isdigit() else cell for cell in row] for row in ROWS],
    ]
    path = write_xlsx(tmp_path / "in.xlsx", rows)
    calc_input = load_calc_file(path)
    assert [line.line for line in calc_input.lines] == [2, 3, 4]
    assert calc_input.lines[1].year == 2023 and calc_input.lines[1].period == "2023"
    assert round(float(calculate(calc_input).total_tco2e), 6) == EXPECTED_TOTAL


def test_xlsx_errors_use_the_sheet_row(tmp_path: Path) -> None:
    rows = [
        ["category", "fuel", "quantity", "unit"],
        ["combustion", "柴油", 1, "t"],
        ["combustion", "天然气", 5, "t"],
    ]
    path = write_xlsx(tmp_path / "bad.xlsx", rows, blank_rows_before=2)
    with pytest.raises(CalcError) as caught:
        calculate(load_calc_file(path))
    assert (caught.value.line, caught.value.field) == (5, "unit")  # two blank rows, header on row 3


def test_cli_json_output(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", [HEADER, *ROWS])
    out = io.StringIO()
    assert run_calc(path, as_json=True, out=out) == 0
    document = json.loads(out.getvalue())
    assert document["total_tco2e"] == EXPECTED_TOTAL
    assert [line["line"] for line in document["lines"]] == [2, 3, 4]


def test_cli_table_output(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", [HEADER, *ROWS])
    out = io.StringIO()
    assert run_calc(path, as_json=False, out=out) == 0
    text = out.getvalue()
    assert "572.53" in text  # total, 2 decimals
    assert "合计 Total" in text
    assert "province 湖南 2023 factor found" in text


def test_cli_errors_exit_1_with_line_field_and_both_messages(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "bad.json",
        {"lines": [{"category": "combustion", "fuel": "柴油", "quantity": -1, "unit": "t"}]},
    )
    out = io.StringIO()
    assert run_calc(path, as_json=True, out=out) == 1
    assert json.loads(out.getvalue())["errors"] == [
        {
            "line": 1,
            "field": "quantity",
            "message_zh": "quantity 不能为负数（-1）；输出电力/热力和回收量请用对应类别并填正数",
            "message_en": "quantity must not be negative (-1); exports and recovery have their own "
            "categories and take positive numbers",
        }
    ]
    table = io.StringIO()
    assert run_calc(path, as_json=False, out=table) == 1
    assert "Input errors (1)" in table.getvalue()
    assert "不能为负数" in table.getvalue()


def test_main_parses_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_json(
        tmp_path / "in.json", {"lines": [{"category": "purchased_heat", "quantity": 10, "unit": "GJ"}]}
    )
    assert main([str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_tco2e"] == 1.1


def test_module_entry_point_and_lazy_imports(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "in.json", {"lines": [{"category": "purchased_heat", "quantity": 10, "unit": "GJ"}]}
    )
    run = subprocess.run(
        [sys.executable, "-m", "engine.emissions", str(path), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["total_tco2e"] == 1.1
    probe = (
        "import sys, engine.emissions.cli\n"
        "print(sorted(m for m in ('rich', 'python_calamine', 'openpyxl', 'pandas') if m in sys.modules))"
    )
    imported = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert imported.stdout.strip() == "[]"


def test_cli_table_prints_user_text_as_written_and_groups_long_files(tmp_path: Path) -> None:
    named = write_json(
        tmp_path / "named.json",
        {"lines": [{"category": "purchased_heat", "quantity": 1, "unit": "GJ", "name": "锅炉[1号] [bold]"}]},
    )
    out = io.StringIO()
    assert run_calc(named, as_json=False, out=out) == 0
    assert "锅炉[1号] [bold]" in out.getvalue()

    # 60 lines of 10 GJ heat: grouped into one source row of 600 GJ and 66 tCO2e (600 × 0.11)
    many = write_json(
        tmp_path / "many.json", {"lines": [{"category": "purchased_heat", "quantity": 10, "unit": "GJ"}] * 60}
    )
    out = io.StringIO()
    assert run_calc(many, as_json=False, out=out) == 0
    text = out.getvalue()
    assert "Sources, grouped" in text
    assert "600 GJ" in text and "66.00" in text
