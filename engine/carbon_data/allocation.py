"""Allocation units (issue 14 item 7): the year's inventory of every node of the organization tree, with
purchased electricity and heat shared by several production lines or processes allocated to them by a
recorded key — each line's sub-meter, or each line's share of a named product's output.

Arithmetic: each allocated amount is the source's emissions × the line's quantity ÷ the key's base,
rounded half-even to 6 decimals (the JSON output's precision); under ``output_share`` the last line takes
what the others leave, so the whole source is allocated; under ``submeter`` the unmetered rest stays on the
source's own unit as the unallocated remainder. Every sum runs in a 80-digit context, so the lines' totals
plus the remainder equal the unit's total exactly (no rounding of sums at all)."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any

from sqlmodel import Session, col, delete, select

from engine.audit import Actor, append_event
from engine.carbon_data.cache import cached_inventory
from engine.carbon_data.errors import BadValue, DataIssue, EmissionsDataError, data_issue
from engine.carbon_data.inputs import production_totals
from engine.carbon_data.models import (
    AllocationKey,
    AllocationMethod,
    AllocationShare,
    EmissionSource,
    SourceCategory,
    from_micro,
    to_micro,
)
from engine.carbon_data.parsing import MAX_YEAR, MIN_YEAR, parse_decimal
from engine.emissions.rounding import plain
from engine.forms.spec import Text
from engine.identity.models import OrgUnit, OrgUnitKind, Product
from engine.identity.org_tree import TreeNode, flatten, unit_tree
from engine.models.base import utcnow
from engine.values import control_character_message, forbidden_character
from engine.verification.locks import refuse_locked

SHARED_CATEGORIES = (SourceCategory.purchased_electricity, SourceCategory.purchased_heat)
ALLOCATION_UNIT_KINDS = (OrgUnitKind.production_line, OrgUnitKind.process)
MAX_BASIS = 500
MAX_QUANTITY = Decimal(10) ** 12
METHOD_LABELS = {
    AllocationMethod.submeter: Text(zh="按分表计量", en="By sub-meter"),
    AllocationMethod.output_share: Text(zh="按产量比例", en="By output share"),
}
_EXACT = Context(prec=80)  # sums of 28-digit amounts ≤ 10¹⁵ stay exact
_MICRO = Decimal("0.000001")
_SHOWN = Context(prec=28)


# ---------------------------------------------------------------- recording a key


@dataclass(frozen=True)
class ShareInput:
    """One row of a key as submitted: the line or process, and its sub-meter quantity or its product."""

    org_unit_id: Any
    metered_quantity: Any = None
    product_id: Any = None


def _descendants(units: Sequence[OrgUnit], unit_id: int) -> set[int]:
    node = next((n for n in flatten(unit_tree(units)) if n.unit.id == unit_id), None)
    return (node.unit_ids() - {unit_id}) if node else set()


def set_allocation(
    session: Session,
    *,
    org_id: int,
    actor: Actor,
    source_id: int,
    year: int,
    method: str,
    basis: str,
    shares: Sequence[ShareInput],
) -> AllocationKey:
    """Record (or replace) how ``source_id``'s emissions of ``year`` are allocated; every problem is named by
    row and field at once (EmissionsDataError) and nothing is written. Audited."""
    issues: list[DataIssue] = []
    source = session.exec(
        select(EmissionSource).where(EmissionSource.org_id == org_id, EmissionSource.id == source_id)
    ).first()
    if source is None:
        issues.append(data_issue("source_id", "排放源不存在", "no such source in the organization"))
    elif source.category not in SHARED_CATEGORIES:
        issues.append(
            data_issue(
                "source_id",
                f"只有外购电力或外购热力可以分摊，排放源 {source.code} 不是",
                f"only purchased electricity or heat is allocated; source {source.code} is neither",
            )
        )
    if not MIN_YEAR <= year <= MAX_YEAR:
        issues.append(data_issue("year", "年份超出范围", f"year must be {MIN_YEAR}–{MAX_YEAR}"))
    if method not in tuple(AllocationMethod):
        issues.append(
            data_issue(
                "allocation_method",
                "分摊方法应为“按分表计量”或“按产量比例”",
                "the method must be by sub-meter or by output share",
            )
        )
    basis = (basis or "").strip()
    if not basis:
        issues.append(
            data_issue(
                "basis",
                "请写明分摊依据（哪些分表、哪份产量统计）",
                "state the basis (which sub-meters, which output statistics)",
            )
        )
    elif len(basis) > MAX_BASIS:
        issues.append(data_issue("basis", f"不能超过 {MAX_BASIS} 个字符", f"at most {MAX_BASIS} characters"))
    elif (character := forbidden_character(basis)) is not None:
        issues.append(data_issue("basis", *control_character_message(character)))
    units = list(session.exec(select(OrgUnit).where(OrgUnit.org_id == org_id)).all())
    by_id = {unit.id: unit for unit in units}
    below = _descendants(units, source.org_unit_id) if source is not None else set()
    products = {p.id: p for p in session.exec(select(Product).where(Product.org_id == org_id)).all()}
    rows: list[AllocationShare] = []
    seen: set[int] = set()
    if not shares:
        issues.append(
            data_issue(
                "target_unit_id", "至少分摊到一条生产线或工序", "allocate to at least one line or process"
            )
        )
    for number, share in enumerate(shares, start=1):
        unit_id = share.org_unit_id if isinstance(share.org_unit_id, int) else None
        unit = by_id.get(unit_id) if unit_id is not None else None
        if unit is None:
            issues.append(
                data_issue(
                    "target_unit_id", "本组织没有该单元", "no such unit in the organization", row=number
                )
            )
        elif unit.kind not in ALLOCATION_UNIT_KINDS:
            issues.append(
                data_issue(
                    "target_unit_id",
                    f"“{unit.name}”不是生产线或工序",
                    f"“{unit.name}” is not a production line or process",
                    row=number,
                )
            )
        elif source is not None and unit.id not in below:
            owner = by_id.get(source.org_unit_id)
            issues.append(
                data_issue(
                    "target_unit_id",
                    f"“{unit.name}”不在排放源所属单元“{owner.name if owner else ''}”之下",
                    f"“{unit.name}” is not below the source's unit “{owner.name if owner else ''}”",
                    row=number,
                )
            )
        elif unit.id in seen:
            issues.append(
                data_issue(
                    "target_unit_id", f"“{unit.name}”重复", f"“{unit.name}” is listed twice", row=number
                )
            )
        if unit is not None and unit.id is not None:
            seen.add(unit.id)
        row = AllocationShare(org_id=org_id, key_id=0, org_unit_id=unit_id or 0)
        if method == AllocationMethod.submeter:
            try:
                quantity = parse_decimal(share.metered_quantity, what="metered_quantity")
                if quantity < 0:
                    raise BadValue("分表计量值不能为负数", "a sub-meter quantity must not be negative")
                if quantity >= MAX_QUANTITY:
                    raise BadValue("分表计量值过大", "the sub-meter quantity is too large")
                row.metered_quantity = from_micro(to_micro(quantity))
            except BadValue as bad:
                issues.append(data_issue("metered_quantity", bad.zh, bad.en, row=number))
        elif method == AllocationMethod.output_share:
            product_id = share.product_id if isinstance(share.product_id, int) else None
            product = products.get(product_id) if product_id is not None else None
            if product is None:
                issues.append(
                    data_issue(
                        "product_id", "请选择本组织的产品", "choose a product of the organization", row=number
                    )
                )
            elif (
                unit is not None
                and unit.id is not None
                and product.org_unit_id not in _descendants(units, unit.id) | {unit.id}
            ):
                issues.append(
                    data_issue(
                        "product_id",
                        f"产品“{product.name}”不是“{unit.name}”生产的（在该单元页面上指定产品的生产单元）",
                        f"“{product.name}” is not made by “{unit.name}” (assign it on that unit's page)",
                        row=number,
                    )
                )
            row.product_id = product_id
        rows.append(row)
    if issues:
        raise EmissionsDataError(issues)
    assert source is not None and source.id is not None
    refuse_locked(session, org_id=org_id, years=[year])
    key = session.exec(
        select(AllocationKey).where(
            AllocationKey.org_id == org_id, AllocationKey.source_id == source.id, AllocationKey.year == year
        )
    ).first()
    before = _describe(session, key, by_id=by_id, products=products) if key is not None else None
    if key is None:
        key = AllocationKey(org_id=org_id, source_id=source.id, year=year, method=method, basis=basis)
    else:
        session.exec(delete(AllocationShare).where(col(AllocationShare.key_id) == key.id))
        key.method, key.basis, key.updated_at = method, basis, utcnow()
    key.created_by = actor.id
    session.add(key)
    session.flush()
    assert key.id is not None
    for row in rows:
        row.key_id = key.id
        session.add(row)
    session.flush()
    after = _describe(session, key, by_id=by_id, products=products)
    changes = {
        name: [None if before is None else before[name], value]
        for name, value in after.items()
        if before is None or before[name] != value
    }
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="allocation_key",
        subject_id=key.id,
        action="created" if before is None else "updated",
        changes=changes,
    )
    return key


def _describe(
    session: Session, key: AllocationKey, *, by_id: Mapping[Any, OrgUnit], products: Mapping[Any, Product]
) -> dict[str, Any]:
    """The key as the audit trail names it: codes and names, never ids."""
    source = session.get(EmissionSource, key.source_id)
    parts = []
    for share in _shares(session, key):
        unit = by_id.get(share.org_unit_id)
        label = f"{unit.code} {unit.name}" if unit else "?"
        if share.metered_quantity is not None:
            parts.append(f"{label}：{plain(share.metered_quantity)} {source.unit if source else ''}".rstrip())
        elif share.product_id is not None:
            product = products.get(share.product_id)
            parts.append(f"{label}：{product.code if product else '?'} {product.name if product else ''}")
    return {
        "source": f"{source.code} {source.name}" if source else None,
        "year": key.year,
        "allocation_method": key.method,
        "basis": key.basis,
        "shares": "；".join(parts),
    }


def _shares(session: Session, key: AllocationKey) -> list[AllocationShare]:
    return list(
        session.exec(
            select(AllocationShare).where(AllocationShare.key_id == key.id).order_by(col(AllocationShare.id))
        ).all()
    )


def set_product_unit(
    session: Session, *, org_id: int, actor: Actor, product_id: int, org_unit_id: int | None
) -> Product:
    """Say which unit makes the product (None: the enterprise as a whole); audited."""
    product = session.exec(select(Product).where(Product.org_id == org_id, Product.id == product_id)).first()
    if product is None:
        raise EmissionsDataError.single("product_id", zh="产品不存在", en="no such product")
    units = {u.id: u for u in session.exec(select(OrgUnit).where(OrgUnit.org_id == org_id)).all()}
    if org_unit_id is not None and org_unit_id not in units:
        raise EmissionsDataError.single("org_unit_id", zh="本组织没有该单元", en="no such unit")
    old, new = units.get(product.org_unit_id), units.get(org_unit_id)
    if product.org_unit_id == org_unit_id:
        return product
    product.org_unit_id = org_unit_id
    session.add(product)
    session.flush()
    assert product.id is not None
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="product",
        subject_id=product.id,
        action="updated",
        changes={
            "made_by": [f"{old.code} {old.name}" if old else None, f"{new.code} {new.name}" if new else None]
        },
    )
    return product


# ---------------------------------------------------------------- the inventory by node


@dataclass(frozen=True)
class Allocated:
    """One line's part of one key."""

    key: AllocationKey
    source: EmissionSource
    org_unit_id: int
    basis_quantity: Decimal  # the sub-meter's quantity, or the product's output
    basis_unit: str
    share: Decimal  # of the source's emissions (a fraction)
    tco2e: Decimal
    product: Product | None = None


@dataclass
class NodeFigures:
    unit: OrgUnit
    own: Decimal = Decimal(0)  # its own sources
    allocated_in: list[Allocated] = field(default_factory=list)
    allocated_out: Decimal = Decimal(0)  # taken from its own sources by keys
    rolled: Decimal = Decimal(0)  # the unit and every unit below it, after allocation

    @property
    def attributed(self) -> Decimal:
        with localcontext(_EXACT):
            return self.own - self.allocated_out + sum((a.tco2e for a in self.allocated_in), Decimal(0))


@dataclass(frozen=True)
class Intensity:
    product: Product
    output: Decimal
    output_value_10k_cny: Decimal | None
    per_unit: Decimal  # tCO2e per unit of the product
    per_10k_cny: Decimal | None


@dataclass
class NodeInventory:
    """The year's emissions of every unit, after allocation."""

    year: int
    total_tco2e: Decimal  # the organization's inventory total
    nodes: dict[int, NodeFigures]
    forest: list[TreeNode]
    keys: list[tuple[AllocationKey, EmissionSource, list[Allocated]]]
    by_source: dict[int, Decimal]
    production: dict[int, "_Output"]

    def node(self, unit_id: int) -> TreeNode | None:
        return next((n for n in flatten(self.forest) if n.unit.id == unit_id), None)

    def allocation_units(self, unit_id: int) -> list[TreeNode]:
        """The topmost production lines and processes below the unit (its own processes when it is a line)."""
        start = self.node(unit_id)
        found: list[TreeNode] = []

        def visit(node: TreeNode) -> None:
            for child in node.children:
                if child.unit.kind in ALLOCATION_UNIT_KINDS:
                    found.append(child)
                else:
                    visit(child)

        if start is not None:
            visit(start)
        return found

    def remainder(self, unit_id: int) -> Decimal:
        """What of the unit's total is on no line or process below it: its own and its other units'
        emissions, the unmetered rest of sub-metered sources included."""
        start = self.node(unit_id)
        if start is None:
            return Decimal(0)
        inside = set().union(*(n.unit_ids() for n in self.allocation_units(unit_id)))
        with localcontext(_EXACT):
            return sum(
                (self.nodes[i].attributed for i in start.unit_ids() if i not in inside and i in self.nodes),
                Decimal(0),
            )

    def lines_total(self, unit_id: int) -> Decimal:
        """The allocation units' totals plus the remainder: equal to the unit's own total, exactly."""
        with localcontext(_EXACT):
            return self.remainder(unit_id) + sum(
                (
                    self.nodes[n.unit.id].rolled
                    for n in self.allocation_units(unit_id)
                    if n.unit.id is not None
                ),
                Decimal(0),
            )

    def unallocated(self, source_id: int) -> Decimal:
        """What of the source's emissions its key leaves on the source's unit (all of it without a key)."""
        with localcontext(_EXACT):
            given = sum(
                (a.tco2e for _, s, parts in self.keys if s.id == source_id for a in parts), Decimal(0)
            )
            return self.by_source.get(source_id, Decimal(0)) - given

    def intensities(self, unit_id: int) -> list[Intensity]:
        """Each product the unit makes with output in the year: the unit's emissions per unit of output."""
        figures = self.nodes.get(unit_id)
        if figures is None:
            return []
        result = []
        for total in self.production.values():
            product = total.product
            if product.org_unit_id != unit_id or not total.quantity:
                continue
            value = total.output_value_10k_cny
            result.append(
                Intensity(
                    product=product,
                    output=total.quantity,
                    output_value_10k_cny=value,
                    per_unit=figures.rolled / total.quantity,
                    per_10k_cny=figures.rolled / value if value else None,
                )
            )
        return sorted(result, key=lambda i: i.product.code)


@dataclass(frozen=True)
class _Output:
    product: Product
    quantity: Decimal
    output_value_10k_cny: Decimal | None


def node_inventory(session: Session, *, org_id: int, year: int) -> NodeInventory:
    """Every unit's emissions of ``year`` after allocation (EmissionsDataError or CalcError when the
    inventory cannot be built, EmissionsDataError naming the key when a key cannot be applied)."""
    result = cached_inventory(session, org_id=org_id, year=year)
    by_source: dict[int, Decimal] = {}
    activity: dict[int, Decimal] = {}
    lines = {line.line: line for line in result.calc_input.lines}
    with localcontext(_EXACT):
        for line in result.inventory.lines:
            if line.line not in result.line_sources:
                continue
            source_id = result.line_sources[line.line][0]
            activity[source_id] = activity.get(source_id, Decimal(0)) + lines[line.line].quantity
            if line.counted_in_total:
                by_source[source_id] = by_source.get(source_id, Decimal(0)) + line.tco2e
    units = list(session.exec(select(OrgUnit).where(OrgUnit.org_id == org_id)).all())
    sources = {
        s.id: s for s in session.exec(select(EmissionSource).where(EmissionSource.org_id == org_id)).all()
    }
    products = {p.id: p for p in session.exec(select(Product).where(Product.org_id == org_id)).all()}
    production = {
        product_id: _Output(products[product_id], total.quantity, total.output_value_10k_cny)
        for product_id, total in production_totals(session, org_id=org_id, year=year).items()
        if product_id in products
    }
    nodes = {unit.id: NodeFigures(unit=unit) for unit in units if unit.id is not None}
    with localcontext(_EXACT):
        for source_id, tco2e in by_source.items():
            source = sources.get(source_id)
            if source is not None and source.org_unit_id in nodes:
                nodes[source.org_unit_id].own += tco2e
    keys = list(
        session.exec(
            select(AllocationKey)
            .where(AllocationKey.org_id == org_id, AllocationKey.year == year)
            .order_by(col(AllocationKey.id))
        ).all()
    )
    issues: list[DataIssue] = []
    applied = []
    for key in keys:
        source = sources.get(key.source_id)
        if source is None:
            continue
        parts = _apply(
            key,
            source,
            _shares(session, key),
            tco2e=by_source.get(key.source_id, Decimal(0)),
            activity=activity.get(key.source_id, Decimal(0)),
            production=production,
            names={u.id: u.name for u in units},
            issues=issues,
        )
        applied.append((key, source, parts))
        with localcontext(_EXACT):
            for part in parts:
                nodes[source.org_unit_id].allocated_out += part.tco2e
                nodes[part.org_unit_id].allocated_in.append(part)
    if issues:
        raise EmissionsDataError(issues)
    forest = unit_tree(units)
    for node in flatten(forest):
        if node.unit.id is not None:
            with localcontext(_EXACT):
                nodes[node.unit.id].rolled = sum(
                    (nodes[i].attributed for i in node.unit_ids() if i in nodes), Decimal(0)
                )
    return NodeInventory(
        year=year,
        total_tco2e=result.total_tco2e,
        nodes=nodes,
        forest=forest,
        keys=applied,
        by_source=by_source,
        production=production,
    )


def _apply(
    key: AllocationKey,
    source: EmissionSource,
    shares: Sequence[AllocationShare],
    *,
    tco2e: Decimal,
    activity: Decimal,
    production: Mapping[int, _Output],
    names: Mapping[Any, str],
    issues: list[DataIssue],
) -> list[Allocated]:
    """The key's amounts: quantity × emissions ÷ base, half-even to 6 decimals (see the module's text)."""
    bases: list[tuple[AllocationShare, Decimal, str, Product | None]] = []
    where = f"排放源 {source.code} 的 {key.year} 年分摊"
    where_en = f"the {key.year} allocation of source {source.code}"
    if key.method == AllocationMethod.submeter:
        for share in shares:
            bases.append((share, share.metered_quantity or Decimal(0), source.unit, None))
        metered = sum((b[1] for b in bases), Decimal(0))
        if metered > activity:
            issues.append(
                data_issue(
                    "metered_quantity",
                    f"{where}：分表合计 {plain(metered)} {source.unit} "
                    f"超过总表 {plain(activity)} {source.unit}",
                    f"{where_en}: the sub-meters' {plain(metered)} {source.unit} exceed the source's "
                    f"{plain(activity)} {source.unit}",
                )
            )
            return []
        base = activity
    else:
        for share in shares:
            output = production.get(share.product_id or 0)
            if output is None or not output.quantity:
                product_name = output.product.name if output else ""
                issues.append(
                    data_issue(
                        "production",
                        f"{where}：“{names.get(share.org_unit_id, '')}”的产品{product_name}"
                        f"在 {key.year} 年没有产量",
                        f"{where_en}: “{names.get(share.org_unit_id, '')}” has no output of its product "
                        f"{product_name} in {key.year}",
                    )
                )
                continue
            bases.append((share, output.quantity, output.product.unit, output.product))
        if len(bases) < len(shares):
            return []
        base = sum((b[1] for b in bases), Decimal(0))
    if not base:
        return []
    parts: list[Allocated] = []
    with localcontext(_EXACT):
        given = Decimal(0)
        for index, (share, quantity, unit, product) in enumerate(bases):
            last = index == len(bases) - 1 and key.method == AllocationMethod.output_share
            amount = tco2e - given if last else (tco2e * quantity / base).quantize(_MICRO, ROUND_HALF_EVEN)
            given += amount
            parts.append(
                Allocated(
                    key=key,
                    source=source,
                    org_unit_id=share.org_unit_id,
                    basis_quantity=quantity,
                    basis_unit=unit,
                    share=_SHOWN.divide(quantity, base),  # for people: 28 digits
                    tco2e=amount,
                    product=product,
                )
            )
    return parts


def list_allocations(
    session: Session, *, org_id: int, year: int
) -> dict[int, tuple[AllocationKey, list[AllocationShare]]]:
    """The year's keys with their rows, by source (for the forms: shown even when a key cannot be applied)."""
    keys = session.exec(
        select(AllocationKey).where(AllocationKey.org_id == org_id, AllocationKey.year == year)
    ).all()
    return {key.source_id: (key, _shares(session, key)) for key in keys}
