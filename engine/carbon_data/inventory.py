"""The annual inventory: SQL aggregation, then the pure calculator with a trace for every number."""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property
from typing import Any

from sqlmodel import Session, col, select

from engine.carbon_data.aggregation import monthly_totals
from engine.carbon_data.editions import EDITION_2015, year_settings
from engine.carbon_data.errors import BadValue, DataIssue, EmissionsDataError, data_issue
from engine.carbon_data.inputs import production_totals
from engine.carbon_data.models import EmissionSource, FactorChoiceKind, MeasuredParameter
from engine.carbon_data.parsing import ELECTRICITY, MAX_YEAR, MIN_YEAR, sha256_of
from engine.carbon_data.sources import latest_grid_year, line_fields, list_sources
from engine.emissions import (
    ActivityTier,
    CalcError,
    CalcInput,
    CalcLine,
    Intensity,
    Inventory,
    Production,
    calculate,
    intensity,
    inventory_to_json,
)
from engine.emissions.factors import (
    DEFAULT_FACTOR_SET,
    DEFAULT_GRID_CALIBER,
    GridFactor,
)
from engine.emissions.report import factor_choices
from engine.emissions.rounding import plain, to_json_number
from engine.factor_library.service import published_for_calculation
from engine.identity.models import OrgUnit, Product

# ---------------------------------------------------------------- inventory


@dataclass(frozen=True)
class InventoryResult:
    """An inventory built from the database: the calculator's result and the exact inputs."""

    org_id: int
    year: int
    inventory: Inventory
    calc_input: CalcInput
    grid_year: int | None  # data year of the grid factors used (None: no electricity lines)
    line_sources: Mapping[int, tuple[int, str]] = field(repr=False)  # line → (source_id, period)
    gbt32150_edition: str = EDITION_2015  # the year's setting (engine.carbon_data.editions)

    @cached_property
    def json(self) -> dict[str, Any]:
        """The calculator's JSON output (engine.emissions.inventory_to_json)."""
        return inventory_to_json(self.inventory)

    @cached_property
    def summary(self) -> dict[str, Any]:
        """The parts of :attr:`json` the inventory page shows: totals, breakdowns and factor choices, not
        the lines (on 6,000 lines, the lines' JSON is a quarter of a recompute)."""
        inventory = self.inventory
        summary: dict[str, Any] = {
            "total_tco2e": to_json_number(inventory.total_tco2e),
            "biomass_co2_t": to_json_number(inventory.biomass_co2_t),
        }
        for name in ("by_category", "by_org_unit", "by_period"):
            summary[name] = {key: to_json_number(value) for key, value in getattr(inventory, name).items()}
        summary["factor_choices"] = factor_choices(inventory)
        lines = {line.line: line for line in inventory.lines}
        summary[
            "warnings"
        ] = [  # what was calculated but is usually a mistake, with the line's source and month
            {
                "field": warning.field,
                "where": " ".join(
                    part
                    for part in (
                        lines[warning.line].name or lines[warning.line].source_name,
                        lines[warning.line].period,
                    )
                    if part
                )
                if warning.line in lines
                else "",
                "message_zh": warning.message_zh,
                "message_en": warning.message_en,
            }
            for warning in inventory.warnings
        ]
        return summary

    @cached_property
    def inputs(self) -> dict[str, Any]:
        """Canonical calculator input: ``calc_input_from_dict(inputs)`` recalculates this inventory."""
        return inputs_document(
            self.calc_input, year=self.year, grid_year=self.grid_year, edition=self.gbt32150_edition
        )

    @cached_property
    def inputs_sha256(self) -> str:
        return sha256_of(self.inputs)

    @property
    def total_tco2e(self) -> Decimal:
        return self.inventory.total_tco2e


_LINE_FIELDS = tuple(name for name in CalcLine.__dataclass_fields__ if name != "line")


def inputs_document(
    calc_input: CalcInput, *, year: int, grid_year: int | None, edition: str = EDITION_2015
) -> dict[str, Any]:
    lines = []
    for line in calc_input.lines:
        item: dict[str, Any] = {}
        for name in _LINE_FIELDS:
            value = getattr(line, name)
            if value is None or (name == "tier" and value == ActivityTier.UNSPECIFIED):
                continue
            item[name] = (
                plain(value) if isinstance(value, Decimal) else str(value) if name != "year" else value
            )
        lines.append(item)
    document: dict[str, Any] = {
        "_inventory_year": year,
        "_grid_year": grid_year,
        "_gbt32150_edition": edition,  # "_": a comment to the calculator; recorded, and covered by the hash
        "factor_set": calc_input.factor_set,
        "gwp_set": calc_input.gwp_set,
        "grid_caliber": calc_input.grid_caliber,
        "lines": lines,
    }
    if calc_input.grid_factors:  # the organization's entries that were used (none: the key is absent)
        document["grid_factors"] = [
            {
                "region": factor.region,
                "year": factor.year,
                "value": plain(factor.value),
                "caliber": factor.caliber,
                "document": factor.source.document,
                "detail": factor.source.detail,
            }
            for factor in calc_input.grid_factors
        ]
    production = calc_input.production
    if production is not None:
        document["production"] = {
            key: plain(value) if isinstance(value, Decimal) else value
            for key, value in (
                ("product", production.product),
                ("quantity", production.quantity),
                ("unit", production.unit),
                ("output_value_10k_cny", production.output_value_10k_cny),
            )
            if value is not None
        }
    return document


def build_inventory(
    session: Session,
    *,
    org_id: int,
    year: int,
    factor_set: str | None = None,
    gwp_set: str | None = None,
    grid_caliber: str | None = None,
    grid_year: int | None = None,
    product_id: int | None = None,
) -> InventoryResult:
    """The organization's inventory for ``year`` from its sources and readings.

    One calculator line per source and month with readings (org_unit = the facility's name, period
    = YYYY-MM, quantity = the SQL monthly total in the source's unit). Sources whose factor choice is
    ``measured`` take that month's MeasuredParameter (a month without one is an error); ``direct``
    sources take their factor. The GWP set is the year's (engine.carbon_data.editions) unless ``gwp_set``
    is given. Electricity uses the grid factors of ``grid_year``, by default the
    latest data year up to ``year`` that has factors for the source's region (the trace names it).
    With ``product_id`` the inventory carries that product's annual output, so it has an intensity;
    no output recorded for the year is an error. Calculator problems are raised as
    :class:`EmissionsDataError` naming the source and month."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise EmissionsDataError.single("year", zh="年份超出范围", en=f"year must be {MIN_YEAR}–{MAX_YEAR}")
    caliber = grid_caliber or DEFAULT_GRID_CALIBER
    published = published_for_calculation(session, caliber=caliber)
    settings = year_settings(session, org_id=org_id, year=year)  # the year's edition and GWP set
    sources = {source.id: source for source in list_sources(session, org_id=org_id) if source.id is not None}
    units = dict(session.exec(select(OrgUnit.id, OrgUnit.name).where(OrgUnit.org_id == org_id)).all())
    totals = monthly_totals(session, org_id=org_id, year=year)
    measured_ids = {sid for sid, s in sources.items() if s.factor_choice == FactorChoiceKind.measured}
    measured: dict[tuple[int, str], MeasuredParameter] = {}
    row: MeasuredParameter | None
    if measured_ids:
        for row in session.exec(
            select(MeasuredParameter).where(
                MeasuredParameter.org_id == org_id,
                col(MeasuredParameter.source_id).in_(sorted(measured_ids)),
                col(MeasuredParameter.period).like(f"{year:04d}-%"),
            )
        ).all():
            measured[(row.source_id, row.period)] = row
    issues: list[DataIssue] = []
    grid_years: dict[str, int | None] = {}
    used_grid_years: set[int] = set()
    lines: list[CalcLine] = []
    line_sources: dict[int, tuple[int, str]] = {}
    templates: dict[int, dict[str, Any]] = {}
    ordered = sorted(totals, key=lambda total: (sources[total.source_id].code, total.period))
    for total in ordered:
        source = sources[total.source_id]
        assert source.id is not None
        line_grid_year = None
        if source.category in ELECTRICITY:
            region = source.region or ""
            if grid_year is not None:
                line_grid_year = grid_year
            else:
                if region not in grid_years:
                    grid_years[region] = latest_grid_year(
                        region, year=year, caliber=caliber, published=published
                    )
                line_grid_year = grid_years[region] or year  # none found: the calculator says which exist
            used_grid_years.add(line_grid_year)
        parameters = None
        if source.id in measured_ids:
            row = measured.get((source.id, total.period))
            if row is None:
                issues.append(
                    DataIssue(
                        row=None,
                        field="measured_parameter",
                        message_zh=f"排放源 {source.code} 采用实测参数，但 {total.period} 没有实测参数",
                        message_en=(
                            f"source {source.code} uses measured parameters but has none for {total.period}"
                        ),
                        source_code=source.code,
                        period=total.period,
                    )
                )
                continue
            parameters = {
                "ncv": row.ncv,
                "ncv_unit": row.ncv_unit,
                "carbon_content": row.carbon_content,
                "oxidation_rate": row.oxidation_rate,
            }
        number = len(lines) + 1
        try:
            if parameters is None:  # the same for every month of the source
                if source.id not in templates:
                    templates[source.id] = line_fields(
                        source, org_unit=units.get(source.org_unit_id), grid_year=line_grid_year
                    )
                fields = templates[source.id]
            else:
                fields = line_fields(
                    source,
                    org_unit=units.get(source.org_unit_id),
                    grid_year=line_grid_year,
                    measured=parameters,
                )
            lines.append(CalcLine(line=number, quantity=total.quantity, period=total.period, **fields))
        except BadValue as bad:
            issues.append(DataIssue(None, "parameters", bad.zh, bad.en, source.code, total.period))
            continue
        line_sources[number] = (source.id, total.period)
    production = None
    if product_id is not None:
        product = session.exec(
            select(Product).where(Product.org_id == org_id, Product.id == product_id)
        ).first()
        if product is None:
            issues.append(
                data_issue("product_id", "产品不存在", "the product does not exist in this organization")
            )
        else:
            produced = production_totals(session, org_id=org_id, year=year).get(product_id)
            if produced is None:
                issues.append(
                    data_issue(
                        "production",
                        f"{year} 年没有产品 {product.code}（{product.name}）的产量数据，无法计算排放强度",
                        f"no output of product {product.code} is recorded for {year}, so intensity "
                        "cannot be calculated",
                    )
                )
            else:
                production = Production(
                    product=product.name,
                    quantity=produced.quantity,
                    unit=product.unit,
                    output_value_10k_cny=produced.output_value_10k_cny,
                )
    if not lines and not issues:
        issues.append(
            data_issue("readings", f"{year} 年没有任何活动数据", f"there is no activity data for {year}")
        )
    if issues:
        raise EmissionsDataError(issues)
    calc_input = CalcInput(
        lines=tuple(lines),
        factor_set=factor_set or DEFAULT_FACTOR_SET,
        gwp_set=gwp_set or settings.gwp_set,
        grid_caliber=caliber,
        production=production,
        origin=f"tanguan org {org_id} year {year}",
        grid_factors=published,
    )
    try:
        inventory = calculate(calc_input)
    except CalcError as error:
        raise EmissionsDataError(_calc_issues(error, sources=sources, line_sources=line_sources)) from None
    # Only the entries a line used stay in the inputs (and so in a snapshot's hash): an entry for another
    # year or region changes nothing here.
    calc_input = replace(calc_input, grid_factors=_used_grid_factors(inventory, published))
    return InventoryResult(
        org_id=org_id,
        year=year,
        inventory=inventory,
        calc_input=calc_input,
        grid_year=max(used_grid_years) if used_grid_years else None,
        line_sources=line_sources,
        gbt32150_edition=settings.gbt32150_edition,
    )


def _used_grid_factors(inventory: Inventory, published: tuple[GridFactor, ...]) -> tuple[GridFactor, ...]:
    if not published:
        return ()
    used = {
        factor.source
        for line in inventory.lines
        for factor in line.trace.factors
        if factor.name == "EF_grid" and factor.source is not None
    }
    return tuple(factor for factor in published if factor.source in used)


def _calc_issues(
    error: CalcError, *, sources: Mapping[int, EmissionSource], line_sources: Mapping[int, tuple[int, str]]
) -> list[DataIssue]:
    issues = []
    for issue in error.issues:
        where = line_sources.get(issue.line) if issue.line is not None else None
        if where is None:
            issues.append(data_issue(issue.field, issue.message_zh, issue.message_en))
            continue
        code = sources[where[0]].code
        issues.append(
            DataIssue(
                row=None,
                field=issue.field,
                message_zh=f"排放源 {code}（{where[1]}）：{issue.message_zh}",
                message_en=f"source {code} ({where[1]}): {issue.message_en}",
                source_code=code,
                period=where[1],
            )
        )
    return issues


def emission_intensity(
    session: Session, *, org_id: int, year: int, product_id: int, **options: Any
) -> Intensity:
    """Emissions per unit of the product (and per 10⁴ CNY of its output value) for ``year``."""
    result = build_inventory(session, org_id=org_id, year=year, product_id=product_id, **options)
    return intensity(result.inventory)
