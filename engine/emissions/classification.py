"""One inventory, three classifications (issue 14 item 3; docs/emissions.md, "Classifications"): the
GB/T 32150 categories the calculator computes, ISO 14064-1:2018 categories and GHG Protocol scopes. Each view
regroups the same signed category totals, so its reconciled total is the GB/T 32150 total exactly; what a
standard does not net (exported energy, recovered CO2, carbon fixed in products) is shown apart as a
deduction, and biogenic CO2 as a memo item outside every total."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from engine.emissions.model import CATEGORY_ZH, Category


class RowKind(StrEnum):
    EMISSION = "emission"  # counted, part of the gross emissions
    DEDUCTION = "deduction"  # counted (negative): a GB/T 32150 deduction the view lists apart
    NOT_QUANTIFIED = "not_quantified"  # a category of the standard that the calculator has no source for
    MEMO = "memo"  # reported apart, in no total (biogenic CO2)


@dataclass(frozen=True, slots=True)
class Part:
    category: str  # the calculator's category
    zh: str
    en: str
    tco2e: Decimal


@dataclass(frozen=True, slots=True)
class Row:
    code: (
        str  # "1" … "6" (ISO 14064-1), "S1" … "S3" (GHG Protocol), a GB/T 32150 symbol ("E_燃烧"), "biogenic"
    )
    zh: str
    en: str
    kind: RowKind
    tco2e: Decimal | None  # None: not quantified
    parts: tuple[Part, ...] = ()  # the calculator's categories in the row (two or more)

    @property
    def counted(self) -> bool:
        return self.kind in (RowKind.EMISSION, RowKind.DEDUCTION)


@dataclass(frozen=True, slots=True)
class View:
    key: str  # gbt32150 | iso14064 | ghg_protocol
    zh: str
    en: str
    basis_zh: str
    basis_en: str
    rows: tuple[Row, ...]

    @property
    def gross_tco2e(self) -> Decimal:
        return sum((r.tco2e for r in self.rows if r.kind == RowKind.EMISSION and r.tco2e), Decimal(0))

    @property
    def total_tco2e(self) -> Decimal:
        """Gross emissions less the deductions listed apart: the GB/T 32150 total."""
        return sum((r.tco2e for r in self.rows if r.counted and r.tco2e is not None), Decimal(0))


CATEGORY_EN = {
    Category.COMBUSTION: "Fossil fuel combustion",
    Category.PROCESS: "Industrial processes",
    Category.PURCHASED_ELECTRICITY: "Purchased electricity",
    Category.PURCHASED_HEAT: "Purchased heat",
    Category.EXPORTED_ELECTRICITY: "Exported electricity",
    Category.EXPORTED_HEAT: "Exported heat",
    Category.RECOVERED: "Recovered CO2",
    Category.FIXED_IN_PRODUCTS: "Carbon fixed in products (deducted)",
    Category.BIOMASS: "Biomass CO2 (not in the total)",
}

DIRECT = (Category.COMBUSTION, Category.PROCESS)
IMPORTED_ENERGY = (Category.PURCHASED_ELECTRICITY, Category.PURCHASED_HEAT)
REMOVALS = (Category.RECOVERED, Category.FIXED_IN_PRODUCTS)
EXPORTED_ENERGY = (Category.EXPORTED_ELECTRICITY, Category.EXPORTED_HEAT)
VIEW_KEYS = ("gbt32150", "iso14064", "ghg_protocol")


def classify(by_category: Mapping[str, Decimal], *, biomass_co2_t: Decimal) -> tuple[View, ...]:
    """The three views of an inventory from its signed ``by_category`` totals (biomass not in them) and its
    biomass CO2 (t, reported apart)."""
    values = {Category(key): Decimal(value) for key, value in by_category.items()}
    return (
        _gbt32150(values, biomass_co2_t),
        _iso14064(values, biomass_co2_t),
        _ghg_protocol(values, biomass_co2_t),
    )


def _part(category: Category, values: Mapping[Category, Decimal]) -> Part:
    return Part(category.value, CATEGORY_ZH[category], CATEGORY_EN[category], values[category])


def _group(
    code: str, zh: str, en: str, kind: RowKind, cats: tuple[Category, ...], values: Mapping[Category, Decimal]
) -> Row:
    present = tuple(_part(c, values) for c in cats if c in values)
    total = sum((p.tco2e for p in present), Decimal(0))
    return Row(code, zh, en, kind, total, present if len(present) > 1 else ())


# Each category's symbol in the GB/T 32150 total (carbon_reference.md §1.2: E_CO2_燃烧 … R_CO2_回收): the
# rows' codes in every view, so that no view names a calculator key.
SYMBOL = {
    Category.COMBUSTION: "E_燃烧",
    Category.PROCESS: "E_过程",
    Category.PURCHASED_ELECTRICITY: "E_购入电",
    Category.PURCHASED_HEAT: "E_购入热",
    Category.EXPORTED_ELECTRICITY: "E_输出电",
    Category.EXPORTED_HEAT: "E_输出热",
    Category.RECOVERED: "R_回收",
    Category.FIXED_IN_PRODUCTS: "R_固碳",
}

# The deductions' names without the "(deducted)" of the GB/T view: each view says how it treats them.
SHORT = {
    Category.RECOVERED: ("回收利用 CO2", "Recovered CO2"),
    Category.FIXED_IN_PRODUCTS: ("产品固碳", "Carbon fixed in products"),
    Category.EXPORTED_ELECTRICITY: ("输出电力", "Exported electricity"),
    Category.EXPORTED_HEAT: ("输出热力", "Exported heat"),
}


def _deductions(
    values: Mapping[Category, Decimal], cats: tuple[Category, ...], zh: str, en: str
) -> list[Row]:
    return [
        Row(SYMBOL[c], f"{SHORT[c][0]}（{zh}）", f"{SHORT[c][1]} ({en})", RowKind.DEDUCTION, values[c])
        for c in cats
        if c in values
    ]


def _biogenic(biomass: Decimal, zh: str, en: str) -> list[Row]:
    return [Row("biogenic", zh, en, RowKind.MEMO, biomass)] if biomass else []


def _gbt32150(values: Mapping[Category, Decimal], biomass: Decimal) -> View:
    rows = [
        Row(
            SYMBOL[c],
            CATEGORY_ZH[c],
            CATEGORY_EN[c],
            RowKind.DEDUCTION if c in REMOVALS + EXPORTED_ENERGY else RowKind.EMISSION,
            values[c],
        )
        for c in Category
        if c in values and c is not Category.BIOMASS
    ]
    rows += _biogenic(
        biomass, "生物质燃烧 CO2（单独报告，不计入总量）", "Biomass CO2 (reported apart, not in the total)"
    )
    return View(
        "gbt32150",
        "GB/T 32150 排放类别",
        "GB/T 32150 categories",
        "燃烧 + 过程 − 回收利用 − 产品固碳 + 购入电力与热力 − 输出电力与热力",
        "combustion + process − recovered − fixed in products + purchased − exported electricity and heat",
        tuple(rows),
    )


def _iso14064(values: Mapping[Category, Decimal], biomass: Decimal) -> View:
    rows = [
        _group(
            "1",
            "类别1：直接温室气体排放",
            "Category 1: direct GHG emissions",
            RowKind.EMISSION,
            DIRECT,
            values,
        ),
        _group(
            "2",
            "类别2：输入能源的间接温室气体排放",
            "Category 2: indirect GHG emissions from imported energy",
            RowKind.EMISSION,
            IMPORTED_ENERGY,
            values,
        ),
        Row(
            "3",
            "类别3：运输产生的间接排放",
            "Category 3: indirect emissions from transportation",
            RowKind.NOT_QUANTIFIED,
            None,
        ),
        Row(
            "4",
            "类别4：组织使用的产品产生的间接排放",
            "Category 4: indirect emissions from products used by the organization",
            RowKind.NOT_QUANTIFIED,
            None,
        ),
        Row(
            "5",
            "类别5：与组织产品使用相关的间接排放",
            "Category 5: indirect emissions associated with the use of the organization's products",
            RowKind.NOT_QUANTIFIED,
            None,
        ),
        Row(
            "6",
            "类别6：其他来源的间接排放",
            "Category 6: indirect emissions from other sources",
            RowKind.NOT_QUANTIFIED,
            None,
        ),
    ]
    rows += _deductions(
        values, REMOVALS, "直接清除与扣减，单独列示", "direct removals and deductions, listed apart"
    )
    rows += _deductions(
        values,
        EXPORTED_ENERGY,
        "GB/T 32150 扣减项，不从类别2扣减",
        "a GB/T 32150 deduction, not netted from category 2",
    )
    rows += _biogenic(biomass, "生物源 CO2 排放（单独报告）", "Biogenic CO2 emissions (reported separately)")
    return View(
        "iso14064",
        "ISO 14064-1:2018 类别",
        "ISO 14064-1:2018 categories",
        "燃烧与过程 → 类别1；购入电力与热力 → 类别2；类别3–6 本系统未核算；清除、扣减与生物源 CO2 单独列示",
        "combustion and process → category 1; purchased electricity and heat → category 2; categories 3–6 "
        "are not quantified here; removals, deductions and biogenic CO2 listed apart",
        tuple(rows),
    )


def _ghg_protocol(values: Mapping[Category, Decimal], biomass: Decimal) -> View:
    rows = [
        _group("S1", "范围1：直接排放", "Scope 1: direct emissions", RowKind.EMISSION, DIRECT, values),
        _group(
            "S2",
            "范围2：外购能源间接排放（基于位置）",
            "Scope 2: indirect emissions from purchased energy (location-based)",
            RowKind.EMISSION,
            IMPORTED_ENERGY,
            values,
        ),
        Row("S3", "范围3：其他间接排放", "Scope 3: other indirect emissions", RowKind.NOT_QUANTIFIED, None),
    ]
    rows += _deductions(values, REMOVALS, "不计入范围1，单独列示", "not in scope 1, listed apart")
    rows += _deductions(
        values,
        EXPORTED_ENERGY,
        "GB/T 32150 扣减项，不从范围2扣减",
        "a GB/T 32150 deduction, not netted from scope 2",
    )
    rows += _biogenic(biomass, "生物源 CO2（范围之外单独报告）", "Biogenic CO2 (reported outside the scopes)")
    return View(
        "ghg_protocol",
        "温室气体核算体系（GHG Protocol）范围",
        "GHG Protocol scopes",
        "燃烧与过程 → 范围1；购入电力与热力 → 范围2（基于位置，电网平均因子）；范围3 本系统未核算",
        "combustion and process → scope 1; purchased electricity and heat → scope 2 (location-based, grid "
        "average factors); scope 3 is not quantified here",
        tuple(rows),
    )
