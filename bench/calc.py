"""Benchmark of the calculator: start-up plus a 1,000-line calculation, as `tanguan calc` runs it.

Run from the repository root: ``python -m bench.calc`` (or ``python bench/calc.py``).
Prints one figure per line, the median of several runs:

    calc_import: N s               importing engine.emissions.cli in a fresh interpreter
    calc_1000_lines: N s           python -m engine.emissions FILE --json, start-up included
    calc_1000_lines_table: N s     the same with the Rich table instead of JSON
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS = 5
LINE_COUNT = 1000

# A realistic mix for a Hunan plant: fuels, grid electricity with fallbacks, heat and process lines.
TEMPLATES: tuple[dict[str, object], ...] = (
    {"category": "combustion", "fuel": "柴油", "quantity": "12.5", "unit": "t", "tier": "measured"},
    {"category": "combustion", "fuel": "天然气", "quantity": "185000", "unit": "Nm3", "tier": "statistical"},
    {"category": "combustion", "fuel": "烟煤", "quantity": "820", "unit": "t", "uncertainty": "3"},
    {
        "category": "purchased_electricity",
        "quantity": "1250000",
        "unit": "kWh",
        "region": "湖南",
        "year": 2023,
    },
    {"category": "purchased_electricity", "quantity": "800", "unit": "MWh", "region": "西藏", "year": 2022},
    {"category": "purchased_heat", "quantity": "3200", "unit": "GJ", "tier": "estimated"},
    {"category": "process", "material": "石灰石", "quantity": "450", "unit": "t", "purity": "0.92"},
    {
        "category": "process",
        "material": "熟料",
        "quantity": "5000",
        "unit": "t",
        "cao_content": "0.65",
        "mgo_content": "0.02",
    },
)


def write_input(directory: Path) -> Path:
    lines = []
    for index in range(LINE_COUNT):
        line = dict(TEMPLATES[index % len(TEMPLATES)])
        line["org_unit"] = f"车间{index % 7 + 1}"
        line["period"] = f"2023-{index % 12 + 1:02d}"
        lines.append(line)
    path = directory / "calc_1000.json"
    document = {"factor_set": "GB/T 32151 表C.1 (2024)", "gwp_set": "AR6", "lines": lines}
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def median_seconds(command: list[str]) -> float:
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def import_seconds() -> float:
    probe = (
        "import time; started = time.perf_counter(); import engine.emissions.cli; "
        "print(time.perf_counter() - started)"
    )
    timings = [
        float(
            subprocess.run(
                [sys.executable, "-c", probe], cwd=REPO, check=True, capture_output=True, text=True
            ).stdout
        )
        for _ in range(RUNS)
    ]
    return statistics.median(timings)


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = write_input(Path(directory))
        command = [sys.executable, "-m", "engine.emissions", str(path)]
        print(f"calc_import: {import_seconds():.3f} s")
        print(f"calc_1000_lines: {median_seconds([*command, '--json']):.3f} s")
        print(f"calc_1000_lines_table: {median_seconds(command):.3f} s")


if __name__ == "__main__":
    main()
