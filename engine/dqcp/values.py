"""The month values the plan's rows point at, read from the carbon-data tables: an activity datum is the
month's total of its source's readings, a factor parameter the source's measured value of the month, a
production datum the product's output. Keyed by (kind, subject code, YYYY-MM)."""

from collections.abc import Iterable
from decimal import Decimal

from sqlmodel import Session

from engine.carbon_data.aggregation import monthly_totals
from engine.carbon_data.inputs import measured_parameters_of_year, production_of_year
from engine.carbon_data.sources import list_sources
from engine.dqcp.plan import FACTOR_KINDS
from engine.identity.organizations import list_products

MonthValues = dict[tuple[str, str, str], Decimal]


def month_values(session: Session, *, org_id: int, years: Iterable[int]) -> MonthValues:
    sources = {source.id: source.code for source in list_sources(session, org_id=org_id)}
    products = {product.id: product.code for product in list_products(session)}
    values: MonthValues = {}
    for year in sorted(set(years)):
        for total in monthly_totals(session, org_id=org_id, year=year):
            if total.quantity is not None and total.source_id in sources:
                values[("activity", sources[total.source_id], total.period)] = total.quantity
        for measured in measured_parameters_of_year(session, year=year):
            code = sources.get(measured.source_id)
            for kind in FACTOR_KINDS:
                value = getattr(measured, kind)
                if code and value is not None:
                    values[(kind, code, measured.period)] = value
        for output in production_of_year(session, year=year):
            code = products.get(output.product_id)
            if code:
                values[("production", code, output.period)] = output.quantity
    return values


def previous_months(period: str, count: int = 12) -> list[str]:
    year, month = int(period[:4]), int(period[5:7])
    months = []
    for _ in range(count):
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        months.append(f"{year}-{month:02d}")
    return months
