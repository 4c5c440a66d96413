"""The factor library: versioned factor sets read lazily from ``engine/emissions/data/*.csv``.

Every factor carries its :class:`Source` (document, year, confidence tag from the project's
reference file: S2 = two secondary sources agree, S1 = one secondary source, D = derived,
U = unverified). Files are parsed on first use and cached for the life of the process.

Precedence for a grid electricity factor of one data year: a measured factor on the line (handled
by the calculator) > the province's factor > its regional grid's factor > the national factor.
A level is skipped only when it has no factor of the caliber at all; one that lacks just the
requested year is an error, as is a year with no factor at any level (both list the years that exist).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import cache
from pathlib import Path

from engine.emissions.errors import CalcError, suggestion_text
from engine.emissions.units import Unit, parse_energy_per_unit, parse_unit

DATA_DIR = Path(__file__).with_name("data")

# The common fuel table of the GB/T 32151 parts of 2024 (Appendix C Table C.1). Until this release it was
# cited as "GB/T 32151.22-2024" — the livestock-farm part; that id stays an alias (docs/emissions.md).
DEFAULT_FACTOR_SET = "GB/T 32151 表C.1 (2024)"
DEFAULT_GWP_SET = "AR6"
# The confidence tag of a grid factor an organization entered from the published notice (its evidence kept).
ORGANIZATION_CONFIDENCE = "O"
# A grid factor outside (0, MAX_GRID_FACTOR] tCO2/MWh is refused: coal-only power is ≈ 0.8–1.0.
MAX_GRID_FACTOR = Decimal(2)
DEFAULT_GRID_CALIBER = "average"
NATIONAL = "全国"

# Publication year of each IPCC assessment report, recorded as the year of its GWP values.
GWP_SET_YEARS = {"SAR": 1995, "AR4": 2007, "AR5": 2013, "AR6": 2021}


class FactorTier(StrEnum):
    """Where a factor came from, best first (the order the data-quality shares are listed in)."""

    MEASURED = "measured"
    PARTLY_MEASURED = "partly_measured"
    PROVINCIAL = "provincial"
    REGIONAL = "regional"
    NATIONAL = "national"
    STOICHIOMETRIC = "stoichiometric"
    DIRECT = "direct"


@dataclass(frozen=True, slots=True)
class Source:
    document: str
    year: int | None
    confidence: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FactorChoice:
    tier: FactorTier
    reason_zh: str
    reason_en: str


@dataclass(frozen=True, slots=True)
class FuelFactor:
    factor_set: str
    fuel: str
    basis: Unit  # the unit the heating value is per (t or 10^4 Nm3)
    ncv: Decimal  # GJ per basis unit
    carbon_content: Decimal  # tC/GJ
    oxidation_rate: Decimal  # fraction
    source: Source


@dataclass(frozen=True, slots=True)
class FactorSet:
    id: str
    title: str
    document: str
    year: int
    notes: str
    fuels: Mapping[str, FuelFactor]  # by canonical Chinese name
    fuel_aliases: Mapping[str, str]  # folded spelling -> canonical name
    title_en: str = ""
    edition: str = ""
    table_ref: str = ""
    confidence: str = ""
    aliases: tuple[str, ...] = ()  # earlier ids and short spellings that still resolve to this set
    document_zh: str = ""
    notes_zh: str = ""

    def find_fuel(self, name: str) -> FuelFactor | None:
        canonical = self.fuel_aliases.get(_fold(name))
        return self.fuels[canonical] if canonical else None


@dataclass(frozen=True, slots=True)
class GridFactor:
    region: str
    level: str  # provincial | regional | national
    year: int
    value: Decimal  # tCO2/MWh
    caliber: str
    source: Source


@dataclass(frozen=True, slots=True)
class DefaultFactor:
    key: str
    value: Decimal
    unit: str
    source: Source


@dataclass(frozen=True, slots=True)
class Gwp:
    gas: str
    value: Decimal
    gwp_set: str
    source: Source


def _fold(name: str) -> str:
    return name.strip().replace(" ", "").lower()


def _read(name: str) -> list[dict[str, str]]:
    with open(DATA_DIR / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _decimal(text: str) -> Decimal:
    numerator, slash, denominator = text.partition("/")
    return Decimal(numerator) / Decimal(denominator) if slash else Decimal(text)


@cache
def factor_sets() -> Mapping[str, FactorSet]:
    set_rows = {row["id"]: row for row in _read("factor_sets.csv")}
    fuels_by_set: dict[str, dict[str, FuelFactor]] = {set_id: {} for set_id in set_rows}
    aliases_by_set: dict[str, dict[str, str]] = {set_id: {} for set_id in set_rows}
    for row in _read("fuels.csv"):
        set_row = set_rows[row["factor_set"]]
        ncv_unit = parse_energy_per_unit(row["ncv_unit"], field="ncv_unit")
        fuel = FuelFactor(
            factor_set=set_row["id"],
            fuel=row["fuel"],
            basis=parse_unit(row["unit"]),
            ncv=Decimal(row["ncv"]) * ncv_unit.numerator_in_base,
            carbon_content=Decimal(row["carbon_content_tc_per_gj"]),
            oxidation_rate=Decimal(row["oxidation_rate"]),
            source=Source(
                document=set_row["document"],
                year=int(set_row["year"]),
                confidence=row["confidence"],
                detail=row["source"],
            ),
        )
        fuels_by_set[fuel.factor_set][fuel.fuel] = fuel
        aliases = aliases_by_set[fuel.factor_set]
        for spelling in (fuel.fuel, *filter(None, row["aliases"].split("|"))):
            aliases[_fold(spelling)] = fuel.fuel
    return {
        set_id: FactorSet(
            id=set_id,
            title=row["title"],
            document=row["document"],
            year=int(row["year"]),
            notes=row["notes"],
            fuels=fuels_by_set[set_id],
            fuel_aliases=aliases_by_set[set_id],
            title_en=row["title_en"],
            edition=row["edition"],
            table_ref=row["table_ref"],
            confidence=row["confidence"],
            aliases=tuple(filter(None, row["aliases"].split("|"))),
            document_zh=row["document_zh"],
            notes_zh=row["notes_zh"],
        )
        for set_id, row in set_rows.items()
    }


@cache
def _factor_set_aliases() -> Mapping[str, str]:
    aliases: dict[str, str] = {}
    for row in _read("factor_sets.csv"):
        for spelling in (row["id"], *filter(None, row["aliases"].split("|"))):
            aliases[_fold(spelling)] = row["id"]
    return aliases


def canonical_factor_set_id(name: str) -> str:
    """The current id of a set named by its id or any alias (an earlier id kept in a frozen snapshot);
    an unknown name is returned unchanged."""
    return _factor_set_aliases().get(_fold(name), name)


def canonical_id(
    name: str, *, aliases: Mapping[str, str], known: list[str], field: str, what_zh: str, what_en: str
) -> str:
    """The id a set is named by (its id or an alias, spelt loosely); an unknown name is a CalcError on
    ``field`` with close spellings and the ids available."""
    canonical = aliases.get(_fold(name))
    if canonical is None:
        hint_zh, hint_en = suggestion_text(name, known)
        raise CalcError.single(
            field=field,
            zh=f"未知{what_zh}“{name}”{hint_zh}。可用：{'、'.join(known)}",
            en=f"unknown {what_en} '{name}'{hint_en}. Available: {', '.join(known)}",
        )
    return canonical


def factor_set(name: str) -> FactorSet:
    sets = factor_sets()
    aliases = _factor_set_aliases()
    known = list(sets)
    return sets[
        canonical_id(
            name, aliases=aliases, known=known, field="factor_set", what_zh="因子集", what_en="factor set"
        )
    ]


def find_fuel(fuel_set: FactorSet, name: str) -> FuelFactor:
    """The fuel's defaults in ``fuel_set``; unknown names get close spellings and other sets."""
    fuel = fuel_set.find_fuel(name)
    if fuel is not None:
        return fuel
    elsewhere = [
        other.id for other in factor_sets().values() if other is not fuel_set and other.find_fuel(name)
    ]
    if elsewhere:
        raise CalcError.single(
            field="fuel",
            zh=f"因子集 {fuel_set.id} 中没有“{name}”的缺省值（{'、'.join(elsewhere)} 中有）；"
            "请提供实测参数或换用因子集",
            en=(
                f"factor set {fuel_set.id} has no default for '{name}' (it is in {', '.join(elsewhere)}); "
                "give measured parameters or choose that factor set"
            ),
        )
    hint_zh, hint_en = suggestion_text(name, list(fuel_set.fuel_aliases))
    raise CalcError.single(
        field="fuel",
        zh=f"未知燃料“{name}”{hint_zh}。如为其他燃料，请提供 ncv、ncv_unit、carbon_content 和 oxidation_rate",
        en=(
            f"unknown fuel '{name}'{hint_en}. For another fuel give ncv, ncv_unit, carbon_content "
            "and oxidation_rate"
        ),
    )


@cache
def _grid_table() -> Mapping[tuple[str, str, int], GridFactor]:
    table: dict[tuple[str, str, int], GridFactor] = {}
    for row in _read("grid_factors.csv"):
        year = int(row["year"])
        table[(row["caliber"], row["region"], year)] = GridFactor(
            region=row["region"],
            level=row["level"],
            year=year,
            value=Decimal(row["factor_tco2_per_mwh"]),
            caliber=row["caliber"],
            source=Source(
                document=row["document"],
                year=year,
                confidence=row["confidence"],
                detail=f"{row['caliber_zh']}; {row['source_url']}; {row['secondary_sources']}",
            ),
        )
    return table


def shipped_grid_factors() -> list[GridFactor]:
    """Every grid factor shipped with this release: by caliber, level (national, regional, provincial),
    region and data year (newest first)."""
    order = {"national": 0, "regional": 1, "provincial": 2}
    return sorted(
        _grid_table().values(),
        key=lambda f: (GRID_CALIBERS.index(f.caliber), order.get(f.level, 3), f.region, -f.year),
    )


@cache
def province_regions() -> Mapping[str, str]:
    return {row["province"]: row["region"] for row in _read("grid_regions.csv")}


GRID_CALIBERS = ("average", "excl_market_non_fossil", "fossil", "ets", "ndrc_regional")

_REGION_SUFFIXES = (
    "壮族自治区",
    "回族自治区",
    "维吾尔自治区",
    "自治区",
    "区域电网",
    "电网",
    "区域",
    "省",
    "市",
)
_NATIONAL_SPELLINGS = {"全国", "中国", "national", "china", "全国电网"}


def normalize_region(text: str) -> str:
    """'湖南省' → '湖南', '华中区域电网' → '华中', 'national' → '全国'; unknown names are an error."""
    name = text.strip()
    if name.lower() in _NATIONAL_SPELLINGS:
        return NATIONAL
    for suffix in _REGION_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name.removesuffix(suffix)
            break
    known = _known_regions()
    if name not in known:
        hint_zh, hint_en = suggestion_text(name, sorted(known))
        raise CalcError.single(
            field="region",
            zh=f"未知地区“{text}”{hint_zh}；请填写省份（如 湖南）、区域电网（如 华中）或 全国",
            en=f"unknown region '{text}'{hint_en}; give a province (e.g. 湖南), "
            "a regional grid (e.g. 华中) or 全国",
        )
    return name


@cache
def _known_regions() -> frozenset[str]:
    return frozenset(
        {region for (_, region, _) in _grid_table()}
        | set(province_regions())
        | set(province_regions().values())
    )


def check_grid_caliber(caliber: str) -> str:
    if caliber not in GRID_CALIBERS:
        hint_zh, hint_en = suggestion_text(caliber, GRID_CALIBERS)
        raise CalcError.single(
            field="grid_caliber",
            zh=f"未知电网因子口径“{caliber}”{hint_zh}。可用：{'、'.join(GRID_CALIBERS)}",
            en=f"unknown grid caliber '{caliber}'{hint_en}. Available: {', '.join(GRID_CALIBERS)}",
        )
    return caliber


def grid_level(region: str) -> str:
    """provincial, regional or national: the level of a (normalized) region name."""
    if region == NATIONAL:
        return "national"
    regional = set(province_regions().values()) | {
        factor.region for factor in _grid_table().values() if factor.level == "regional"
    }
    return "regional" if region in regional else "provincial"


def published_grid_factor(
    *,
    region: str,
    year: int,
    value: Decimal,
    caliber: str = DEFAULT_GRID_CALIBER,
    document: str,
    detail: str = "",
) -> GridFactor:
    """A grid factor published after this release (entered by the organization, or given in a calculator
    file), checked like the shipped ones; the calculator uses it ahead of the shipped one of the same
    region, data year and caliber. CalcError names the field at fault."""
    place = normalize_region(region)
    check_grid_caliber(caliber)
    if not 1990 <= year <= 2100:
        raise CalcError.single(
            field="year", zh="数据年份应在 1990–2100 之间", en="the data year must be 1990–2100"
        )
    if not Decimal(0) < value <= MAX_GRID_FACTOR:
        raise CalcError.single(
            field="value",
            zh=f"电网排放因子应大于 0 且不超过 {MAX_GRID_FACTOR} tCO2/MWh（{value}）",
            en=f"a grid emission factor must be above 0 and at most {MAX_GRID_FACTOR} tCO2/MWh ({value})",
        )
    if not document.strip():
        raise CalcError.single(
            field="document", zh="请填写发布文件", en="the publishing document is required"
        )
    return GridFactor(
        region=place,
        level=grid_level(place),
        year=year,
        value=value,
        caliber=caliber,
        source=Source(
            document=document.strip(), year=year, confidence=ORGANIZATION_CONFIDENCE, detail=detail
        ),
    )


def grid_factor(
    *,
    region: str,
    year: int,
    caliber: str = DEFAULT_GRID_CALIBER,
    published: Sequence[GridFactor] = (),
) -> tuple[GridFactor, FactorChoice]:
    """The grid factor for ``region`` and data ``year`` by precedence province > region > national.

    A level is passed over only when it has no factor of ``caliber`` for any year (no provincial row
    for 西藏, no regional ones in a national-only caliber). A level that lacks just this year is an
    error: the next level's factor is no substitute (national 2023 is 2.3 × 西南 2022), so the input
    must ask for it by naming that level as its region. ``published`` factors (entered by the
    organization) stand in the table ahead of a shipped one of the same key.
    """
    check_grid_caliber(caliber)
    place = normalize_region(region)
    table: Mapping[tuple[str, str, int], GridFactor] = _grid_table()
    if published:
        table = {**table, **{(factor.caliber, factor.region, factor.year): factor for factor in published}}

    def years_of(regions: tuple[str, ...]) -> tuple[int, ...]:
        if not published:
            return _grid_years(caliber, regions)
        return tuple(sorted({key[2] for key in table if key[0] == caliber and key[1] in regions}))

    regional_grid = province_regions().get(place)
    chain = _precedence(place, regional_grid)
    misses_zh: list[str] = []
    misses_en: list[str] = []
    for index, candidate in enumerate(chain):
        found = table.get((caliber, candidate, year))
        if found is not None:
            return found, _describe_choice(found, misses_zh=misses_zh, misses_en=misses_en)
        years = years_of((candidate,))
        if years and candidate != NATIONAL:
            substitute = next(
                (other for other in chain[index + 1 :] if (caliber, other, year) in table), None
            )
            raise _no_grid_factor(place, candidate, year, caliber, years=years, substitute=substitute)
        misses_zh.append(f"无{candidate}{year}年因子")
        misses_en.append(f"no {candidate} factor for {year}")
        if candidate == place and place in _provinces() and regional_grid is None:
            misses_zh.append(f"{place}未归入区域电网")
            misses_en.append(f"{place} has no regional grid mapping")
    raise _no_grid_factor(place, place, year, caliber, years=years_of(chain), substitute=None)


@cache
def _grid_years(caliber: str, regions: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(
        sorted(
            {
                key_year
                for (key_caliber, key_region, key_year) in _grid_table()
                if key_caliber == caliber and key_region in regions
            }
        )
    )


def _no_grid_factor(
    place: str, level: str, year: int, caliber: str, *, years: tuple[int, ...], substitute: str | None
) -> CalcError:
    """The error for a year without a factor at ``level`` (``place`` or its regional grid)."""
    where_zh = where_en = level
    if level != place:
        where_zh, where_en = f"{level}（{place}所属区域电网）", f"{level} (the regional grid of {place})"
    hint_zh = hint_en = ""
    if substitute is not None:
        label_zh = "全国" if substitute == NATIONAL else substitute
        label_en = "national" if substitute == NATIONAL else substitute
        hint_zh = f"；不会自动改用{label_zh}因子，如需采用请将 region 填 {substitute}"
        hint_en = f"; the {label_en} factor is not used in its place: to use it, give region {substitute}"
    return CalcError.single(
        field="year",
        zh=f"{where_zh} 没有 {year} 年的电网排放因子（口径 {caliber}）；"
        f"已有年份：{'、'.join(map(str, years)) or '无'}{hint_zh}",
        en=f"no grid emission factor for {where_en} in {year} (caliber {caliber}); years available: "
        f"{', '.join(map(str, years)) or 'none'}{hint_en}",
    )


@cache
def _provinces() -> frozenset[str]:
    return frozenset(
        {factor.region for factor in _grid_table().values() if factor.level == "provincial"}
        | set(province_regions())
    )


def _precedence(place: str, regional_grid: str | None) -> tuple[str, ...]:
    chain = [place]
    if regional_grid is not None:
        chain.append(regional_grid)
    if place != NATIONAL:
        chain.append(NATIONAL)
    return tuple(chain)


def _describe_choice(found: GridFactor, *, misses_zh: list[str], misses_en: list[str]) -> FactorChoice:
    tier = {"provincial": FactorTier.PROVINCIAL, "regional": FactorTier.REGIONAL}.get(
        found.level, FactorTier.NATIONAL
    )
    if found.level == "national":
        found_zh = f"采用全国{found.year}年因子"
        found_en = f"national {found.year} factor found"
    else:
        level_zh = "省级" if found.level == "provincial" else "区域电网"
        level_en = "province" if found.level == "provincial" else "regional grid"
        found_zh = f"采用{level_zh}{found.region}{found.year}年因子"
        found_en = f"{level_en} {found.region} {found.year} factor found"
    if found.source.confidence == ORGANIZATION_CONFIDENCE:
        found_zh += f"（本组织录入：{found.source.document}）"
        found_en += f" (entered by the organization: {found.source.document})"
    if not misses_en:
        return FactorChoice(tier=tier, reason_zh=found_zh, reason_en=found_en)
    return FactorChoice(
        tier=tier,
        reason_zh=f"{'，'.join(misses_zh)} → {found_zh}",
        reason_en=f"{'; '.join(misses_en)} → {found_en}",
    )


@cache
def defaults() -> Mapping[str, DefaultFactor]:
    return {
        row["key"]: DefaultFactor(
            key=row["key"],
            value=_decimal(row["value"]),
            unit=row["unit"],
            source=Source(
                document=row["document"],
                year=int(row["year"]),
                confidence=row["confidence"],
                detail=row["source"],
            ),
        )
        for row in _read("defaults.csv")
    }


@cache
def _gwp_table() -> tuple[Mapping[str, Mapping[str, Decimal]], Mapping[str, str], Mapping[str, Source]]:
    values: dict[str, dict[str, Decimal]] = {name: {} for name in GWP_SET_YEARS}
    aliases: dict[str, str] = {}
    sources: dict[str, Source] = {}
    for row in _read("gwp.csv"):
        gas = row["gas"]
        for spelling in (gas, *filter(None, row["aliases"].split("|"))):
            aliases[_fold(spelling)] = gas
        for set_name in GWP_SET_YEARS:
            if row[set_name]:
                values[set_name][gas] = Decimal(row[set_name])
        sources[gas] = Source(document="IPCC", year=None, confidence=row["confidence"], detail=row["source"])
    return values, aliases, sources


def check_gwp_set(name: str) -> str:
    canonical = name.strip().upper()
    if canonical not in GWP_SET_YEARS:
        hint_zh, hint_en = suggestion_text(canonical, list(GWP_SET_YEARS))
        raise CalcError.single(
            field="gwp_set",
            zh=f"未知 GWP 集“{name}”{hint_zh}。可用：{'、'.join(GWP_SET_YEARS)}",
            en=f"unknown GWP set '{name}'{hint_en}. Available: {', '.join(GWP_SET_YEARS)}",
        )
    return canonical


def canonical_gas(name: str) -> str:
    _, aliases, _ = _gwp_table()
    gas = aliases.get(_fold(name))
    if gas is None:
        hint_zh, hint_en = suggestion_text(name, sorted(set(aliases.values())))
        raise CalcError.single(
            field="gas",
            zh=f"未知温室气体“{name}”{hint_zh}",
            en=f"unknown greenhouse gas '{name}'{hint_en}",
        )
    return gas


def gwp(*, gwp_set: str, gas: str) -> Gwp:
    values, _, sources = _gwp_table()
    set_name = check_gwp_set(gwp_set)
    canonical = canonical_gas(gas)
    value = values[set_name].get(canonical)
    if value is None:
        having = [name for name in GWP_SET_YEARS if canonical in values[name]]
        raise CalcError.single(
            field="gas",
            zh=f"{set_name} 中没有 {canonical} 的 GWP 值（{'、'.join(having)} 中有）",
            en=f"{set_name} has no GWP value for {canonical} (available in {', '.join(having)})",
        )
    source = sources[canonical]
    return Gwp(
        gas=canonical,
        value=value,
        gwp_set=set_name,
        source=Source(
            document=f"IPCC {set_name}",
            year=GWP_SET_YEARS[set_name],
            confidence=source.confidence,
            detail=source.detail,
        ),
    )
