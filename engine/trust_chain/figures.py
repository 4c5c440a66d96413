"""The top of the trust chain: the figures people report — the year's inventory total, a carbon
performance parameter's value, a management review's frozen figures — and what each is made of."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlmodel import Session, select

from engine.carbon_data.inputs import production_of_year
from engine.carbon_data.inventory import build_inventory
from engine.carbon_data.models import EmissionSource, InventorySnapshot, ProductionOutput
from engine.carbon_data.parsing import sha256_of
from engine.carbon_data.snapshots import latest_snapshot
from engine.carbon_data.sources import list_sources
from engine.emissions.formula import names_in
from engine.forms.spec import Text
from engine.identity.models import Product
from engine.planning.models import PerformanceParameter
from engine.planning.performance import ParameterValue, evaluate_parameters, quantities
from engine.trust_chain.checks import (
    CheckedFile,
    CheckedRecord,
    HashCheck,
    Keys,
    checked_files,
    checked_record,
)
from engine.trust_chain.registry import FrozenFigures, readers
from engine.workflow.models import Record


@dataclass(frozen=True)
class SourceShare:
    source: EmissionSource
    quantity: Decimal
    unit: str
    tco2e: Decimal
    months: int


@dataclass(frozen=True)
class InventoryStep:
    year: int
    total_tco2e: Decimal
    sources: list[SourceShare]
    snapshot: InventorySnapshot | None
    checks: list[HashCheck]


def _shares(session: Session, *, org_id: int, year: int) -> tuple[Decimal, list[SourceShare], str]:
    result = build_inventory(session, org_id=org_id, year=year)
    sources = {s.id: s for s in list_sources(session, org_id=org_id)}
    sums: dict[int, list[Decimal]] = {}
    months: dict[int, set[str]] = {}
    for line in result.inventory.lines:
        source_id, period = result.line_sources[line.line]
        row = sums.setdefault(source_id, [Decimal(0), Decimal(0)])
        row[0] += line.quantity
        row[1] += line.tco2e if line.counted_in_total else Decimal(0)
        months.setdefault(source_id, set()).add(period)
    shares = [
        SourceShare(sources[i], quantity, sources[i].unit, tco2e, len(months[i]))
        for i, (quantity, tco2e) in sums.items()
    ]
    shares.sort(key=lambda share: -share.tco2e)
    return result.total_tco2e, shares, result.inputs_sha256


def inventory_step(session: Session, *, org_id: int, year: int) -> InventoryStep:
    """The year's total as computed from the stored data now, each source's part, and — when the year was
    frozen — the snapshot's hash computed again and compared with the data as it stands.
    Raises EmissionsDataError when the year cannot be computed."""
    total, shares, live_sha256 = _shares(session, org_id=org_id, year=year)
    snapshot = latest_snapshot(session, org_id=org_id, year=year)
    checks: list[HashCheck] = []
    if snapshot is not None:
        checks.append(
            HashCheck(
                Text(zh="冻结快照的输入（重新计算哈希）", en="the frozen snapshot's inputs (hashed again)"),
                snapshot.inputs_sha256,
                sha256_of(snapshot.inputs),
            )
        )
        checks.append(
            HashCheck(
                Text(zh="现行数据与冻结快照一致", en="the data as it stands equals the frozen snapshot"),
                snapshot.inputs_sha256,
                live_sha256,
                Text(
                    zh="冻结后数据已变动：报告值以快照为准，需说明原因或重新冻结",
                    en="the data changed after freezing: the snapshot's figures stand; explain or re-freeze",
                ),
            )
        )
    return InventoryStep(year, total, shares, snapshot, checks)


@dataclass(frozen=True)
class QuantityUse:
    name: str  # as the formula writes it: total, category.X, unit.CODE, production.CODE
    value: Decimal | None
    product_id: int | None = None  # production.CODE: the product whose monthly output it sums


@dataclass(frozen=True)
class ParameterStep:
    year: int
    value: ParameterValue
    uses: list[QuantityUse]
    frozen_value: str | None  # the value a management review froze, when reached from one
    checks: list[HashCheck] = field(default_factory=list)

    @property
    def shown_value(self) -> str | None:
        """At the precision a management review freezes it (4 decimal places)."""
        return _same_number(None if self.value.value is None else str(self.value.value))


def parameter_step(
    session: Session, *, org_id: int, parameter_id: int, year: int, frozen_value: str | None = None
) -> ParameterStep | None:
    values = {v.parameter.id: v for v in evaluate_parameters(session, org_id=org_id, year=year)}
    value = values.get(parameter_id)
    if value is None:
        return None
    try:
        known = quantities(session, org_id=org_id, year=year)
    except ValueError:
        known = {}
    products = {p.code: p.id for p in session.exec(select(Product).where(Product.org_id == org_id)).all()}
    uses = []
    for name in sorted(names_in(value.parameter.formula)):
        code = name.removeprefix("production.") if name.startswith("production.") else None
        uses.append(QuantityUse(name, known.get(name), products.get(code) if code else None))
    checks = []
    if frozen_value is not None:
        now = None if value.value is None else format(value.value.normalize(), "f")
        checks.append(
            HashCheck(
                Text(
                    zh="评审冻结值与现行数据重算值",
                    en="the review's frozen value against a recalculation now",
                ),
                _same_number(frozen_value),
                _same_number(now),
                Text(zh="冻结后数据已变动", en="the data changed after the review froze it"),
            )
        )
    return ParameterStep(year, value, uses, frozen_value, checks)


def _same_number(text: str | None) -> str | None:
    """Numbers compared at the review's precision: both rounded to 4 decimal places."""
    if text is None:
        return None
    try:
        return format(Decimal(text).quantize(Decimal("0.0001")), "f")
    except ArithmeticError:
        return text


def parameter_by_name(session: Session, *, org_id: int, name: str) -> PerformanceParameter | None:
    return session.exec(
        select(PerformanceParameter).where(
            PerformanceParameter.org_id == org_id, PerformanceParameter.name == name
        )
    ).first()


@dataclass(frozen=True)
class ProductMonth:
    row: ProductionOutput
    files: list[CheckedFile]


@dataclass(frozen=True)
class ProductStep:
    product: Product
    year: int
    months: list[ProductMonth]
    total: Decimal


def product_step(
    session: Session, *, org_id: int, product_id: int, year: int, keys: Keys
) -> ProductStep | None:
    product = session.exec(select(Product).where(Product.org_id == org_id, Product.id == product_id)).first()
    if product is None:
        return None
    rows = [row for row in production_of_year(session, year=year) if row.product_id == product_id]
    files = checked_files(session, org_id=org_id, keys=keys, hashes=[row.evidence_sha256 for row in rows])
    by_hash = {file.check.recorded: file for file in files}
    months = [
        ProductMonth(row, [by_hash[row.evidence_sha256]] if row.evidence_sha256 in by_hash else [])
        for row in sorted(rows, key=lambda r: r.period)
    ]
    return ProductStep(product, year, months, sum((row.quantity for row in rows), Decimal(0)))


@dataclass(frozen=True)
class TracedFigure:
    label: str
    value: str | None
    unit: str
    parameter: PerformanceParameter | None
    year: int | None


@dataclass(frozen=True)
class ReviewStep:
    record: CheckedRecord
    frozen: FrozenFigures
    figures: list[TracedFigure]
    checks: list[HashCheck]


def review_step(session: Session, *, org_id: int, record: Record, keys: Keys) -> ReviewStep | None:
    """A record whose process freezes figures (a management review): the frozen pack's hash computed
    again, its signatures verified, and each figure that is a parameter's value linked to its trace."""
    reader = readers().frozen_figures.get(record.workflow_key)
    if reader is None:
        return None
    frozen = reader(record)
    parameters = {
        p.name: p
        for p in session.exec(select(PerformanceParameter).where(PerformanceParameter.org_id == org_id)).all()
    }
    figures = [
        TracedFigure(f.label, f.value, f.unit, parameters.get(f.parameter_name or ""), f.year)
        for f in frozen.figures
    ]
    checks = [
        HashCheck(
            Text(zh="冻结的评审输入包（重新计算哈希）", en="the frozen review pack (hashed again)"),
            frozen.recorded_sha256,
            frozen.computed_sha256,
        )
    ]
    return ReviewStep(checked_record(session, record=record, keys=keys), frozen, figures, checks)


def frozen_figure_value(figures: Sequence[TracedFigure], *, parameter_id: int, year: int) -> str | None:
    return next(
        (
            f.value
            for f in figures
            if f.parameter is not None and f.parameter.id == parameter_id and f.year == year
        ),
        None,
    )
