"""Frozen inventory snapshots: inputs (SHA-256) and results, never updated."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from engine.audit import Actor, append_event
from engine.carbon_data.errors import DataIssue, EmissionsDataError
from engine.carbon_data.events import SnapshotRequested
from engine.carbon_data.inventory import build_inventory
from engine.carbon_data.models import InventorySnapshot
from engine.carbon_data.parsing import sha256_of
from engine.carbon_data.restatement import Restatement, records_using, require_reason, restatement
from engine.emissions.rounding import plain, shown
from engine.events import announce
from engine.forms.spec import Text
from engine.identity.users import get_user
from engine.workflow.models import Record

MAX_REASON_LENGTH = 1000

# ---------------------------------------------------------------- snapshots


def snapshot_blockers(session: Session, *, org_id: int, year: int) -> list[Text]:
    """What stands in the way of freezing ``year`` (empty: it may be frozen), as the policies say."""
    request = SnapshotRequested(org_id=org_id, year=year)
    announce(session, request)
    return request.blockers


def freeze_snapshot(
    session: Session,
    *,
    org_id: int,
    year: int,
    actor: Actor,
    factor_set: str | None = None,
    grid_caliber: str | None = None,
    grid_year: int | None = None,
    product_id: int | None = None,
    reason: str | None = None,
) -> InventorySnapshot:
    """Freeze the year's inventory: its canonical inputs, their SHA-256 and the calculator's JSON.
    Freezing identical inputs for the same year again returns the existing snapshot. Refused, for every
    caller, while a process's policy names something in the way (8.6: months not yet verified), and
    without a ``reason`` when the grid factor is another year's (the year's own is not published yet):
    the reason is kept on the snapshot and in its audit event. The GB/T 32150 edition and the GWP set are the
    year's settings (engine.carbon_data.editions), recorded on the snapshot and covered by its hash."""
    blockers = snapshot_blockers(session, org_id=org_id, year=year)
    if blockers:
        raise EmissionsDataError(
            [DataIssue(row=None, field="year", message_zh=b.zh, message_en=b.en) for b in blockers]
        )
    result = build_inventory(
        session,
        org_id=org_id,
        year=year,
        factor_set=factor_set,
        grid_caliber=grid_caliber,
        grid_year=grid_year,
        product_id=product_id,
    )
    reason = _checked_reason(reason, year=year, grid_year=result.grid_year)
    existing = session.exec(
        select(InventorySnapshot).where(
            InventorySnapshot.org_id == org_id,
            InventorySnapshot.year == year,
            InventorySnapshot.inputs_sha256 == result.inputs_sha256,
        )
    ).first()
    if existing is not None:
        return existing
    previous = latest_snapshot(session, org_id=org_id, year=year)
    require_reason(previous, reason=reason)  # a restatement says why
    snapshot = InventorySnapshot(
        org_id=org_id,
        year=year,
        factor_set=result.inventory.factor_set,
        gwp_set=result.inventory.gwp_set,
        gbt32150_edition=result.gbt32150_edition,
        inputs_sha256=result.inputs_sha256,
        inputs=result.inputs,
        result=result.json,
        total_tco2e=result.total_tco2e,
        created_by=actor.id,
        reason=reason,
    )
    try:
        with session.begin_nested():  # a concurrent freeze of the same inputs: return that one
            session.add(snapshot)
            session.flush()
    except IntegrityError:
        session.expunge(snapshot)
        existing = session.exec(
            select(InventorySnapshot).where(
                InventorySnapshot.org_id == org_id,
                InventorySnapshot.year == year,
                InventorySnapshot.inputs_sha256 == result.inputs_sha256,
            )
        ).first()
        if existing is None:
            raise
        return existing
    assert snapshot.id is not None
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="inventory_snapshot",
        subject_id=snapshot.id,
        action="frozen",
        changes={
            "year": [None, year],
            "factor_set": [None, snapshot.factor_set],
            "gwp_set": [None, snapshot.gwp_set],
            "gbt32150_edition": [None, snapshot.gbt32150_edition],
            "grid_year": [None, result.grid_year],
            "inputs_sha256": [None, snapshot.inputs_sha256],
            "total_tco2e": [None, plain(result.total_tco2e)],
            "lines": [None, len(result.calc_input.lines)],
            **({"restates": [None, previous.id]} if previous is not None else {}),
        },
        reason=reason,
    )
    return snapshot


def _checked_reason(reason: str | None, *, year: int, grid_year: int | None) -> str | None:
    """The reason as kept (trimmed; None when blank), or the refusal when one is needed and missing."""
    reason = (reason or "").strip() or None
    if reason is None and grid_year is not None and grid_year != year:
        raise EmissionsDataError.single(
            "freeze_reason",
            zh=(
                f"尚未发布 {year} 年的电网排放因子，本清单采用 {grid_year} 年的因子：现在冻结须填写“冻结原因”"
            ),
            en=(
                f"no grid emission factor is published for {year} yet and the inventory uses the one for "
                f"{grid_year}: freezing it now needs a reason for freezing"
            ),
        )
    if reason is not None and len(reason) > MAX_REASON_LENGTH:
        raise EmissionsDataError.single(
            "freeze_reason",
            zh=f"冻结原因不能超过 {MAX_REASON_LENGTH} 个字符（现为 {len(reason)} 个）",
            en=(
                f"the reason for freezing must be at most {MAX_REASON_LENGTH} characters "
                f"(it has {len(reason)})"
            ),
        )
    return reason


def list_snapshots(
    session: Session, *, org_id: int, year: int | None = None, light: bool = False
) -> list[InventorySnapshot]:
    """Newest first. The ``result`` and ``inputs`` columns are loaded too, unless ``light``: then reading
    them raises (decoding their JSON was most of the inventory page's time)."""
    query = select(InventorySnapshot).where(InventorySnapshot.org_id == org_id)
    if year is not None:
        query = query.where(InventorySnapshot.year == year)
    if light:
        heavy = [getattr(InventorySnapshot, name) for name in ("inputs", "result")]  # typed as dicts
        query = query.options(*(defer(column, raiseload=True) for column in heavy))
    return list(session.exec(query.order_by(col(InventorySnapshot.id).desc())).all())


def latest_snapshot(session: Session, *, org_id: int, year: int) -> InventorySnapshot | None:
    snapshots = list_snapshots(session, org_id=org_id, year=year)
    return snapshots[0] if snapshots else None


def latest_snapshot_total(session: Session, *, org_id: int, year: int) -> tuple[int, Decimal] | None:
    """(id, total tCO2e) of the year's latest snapshot: two columns, no object (a page asks for several)."""
    row = session.exec(
        select(col(InventorySnapshot.id), col(InventorySnapshot.total_tco2e))
        .where(InventorySnapshot.org_id == org_id, InventorySnapshot.year == year)
        .order_by(col(InventorySnapshot.id).desc())
        .limit(1)
    ).first()
    return None if row is None or row[0] is None else (row[0], row[1])


# ---------------------------------------------------------------- what a snapshot froze


@dataclass(frozen=True)
class FrozenActivity:
    """One source's activity data as frozen: the quantity of each month (exact, as stored)."""

    name: str  # "code name" of the source
    category: str
    org_unit: str | None
    unit: str
    by_period: dict[str, str]
    total: str


@dataclass(frozen=True)
class FrozenFactor:
    name: str  # the formula's symbol: EF_grid, NCV, CC, OF, CaO…
    value: str  # rounded to 6 decimals for reading; the exact value is in the inputs and the trace
    unit: str
    document: str | None  # where a default came from (None: given on the line)


@dataclass(frozen=True)
class FrozenLine:
    """One calculator line of the snapshot with the factors it used and its result."""

    line: int
    name: str
    category: str
    period: str | None
    quantity: str
    unit: str
    factors: tuple[FrozenFactor, ...]
    factor_tier: str
    tco2e: Any  # the calculator's JSON number
    counted_in_total: bool


@dataclass(frozen=True)
class SnapshotDetails:
    """A snapshot as a person checks it: who froze it and why, the factors chosen, its inputs per source and
    month, the factors per line, the results, and whether the stored inputs still hash to its SHA-256."""

    snapshot: InventorySnapshot
    frozen_by: str | None
    grid_year: int | None  # data year of the grid factor used (None: no electricity or heat lines)
    inputs_sha256_matches: bool
    periods: list[str]
    activity: list[FrozenActivity]
    lines: list[FrozenLine]
    restatement: Restatement | None = None  # against the year's snapshot before this one
    used_earlier_figures: list[Record] = field(default_factory=list)  # records that used the earlier ones

    @property
    def grid_year_fallback(self) -> bool:
        return self.grid_year is not None and self.grid_year != self.snapshot.year

    @property
    def reason(self) -> str | None:
        return self.snapshot.reason

    @property
    def inputs_sha256(self) -> str:
        return self.snapshot.inputs_sha256

    @property
    def result(self) -> dict[str, Any]:
        return self.snapshot.result

    @property
    def created_at(self) -> datetime:
        return self.snapshot.created_at


def get_snapshot(session: Session, *, org_id: int, snapshot_id: int) -> InventorySnapshot | None:
    return session.exec(
        select(InventorySnapshot).where(
            InventorySnapshot.org_id == org_id, InventorySnapshot.id == snapshot_id
        )
    ).first()


def snapshot_details(session: Session, *, org_id: int, snapshot_id: int) -> SnapshotDetails | None:
    """The organization's snapshot ``snapshot_id`` laid out for reading (None: it has no such snapshot).
    The hash is recomputed from the stored inputs, so a changed row shows as not matching."""
    snapshot = get_snapshot(session, org_id=org_id, snapshot_id=snapshot_id)
    if snapshot is None:
        return None
    user = get_user(session, user_id=snapshot.created_by) if snapshot.created_by is not None else None
    inputs = snapshot.inputs
    same_year = list_snapshots(session, org_id=org_id, year=snapshot.year)  # newest first
    earlier = [s for s in same_year if (s.id or 0) < (snapshot.id or 0)]
    return SnapshotDetails(
        snapshot=snapshot,
        frozen_by=user.display_name if user is not None else None,
        grid_year=inputs.get("_grid_year"),
        inputs_sha256_matches=sha256_of(inputs) == snapshot.inputs_sha256,
        periods=sorted({line["period"] for line in inputs.get("lines", []) if line.get("period")}),
        activity=_activity_by_source(inputs.get("lines", [])),
        lines=[_frozen_line(line) for line in snapshot.result.get("lines", [])],
        restatement=restatement(earlier[0], snapshot) if earlier else None,
        used_earlier_figures=(
            records_using(session, year=snapshot.year, snapshot_ids=frozenset(s.id for s in earlier if s.id))
            if earlier
            else []
        ),
    )


def _activity_by_source(lines: list[Mapping[str, Any]]) -> list[FrozenActivity]:
    rows: dict[str, dict[str, Any]] = {}
    for line in lines:
        row = rows.setdefault(
            line["name"],
            {
                "category": line["category"],
                "org_unit": line.get("org_unit"),
                "unit": line["unit"],
                "by_period": {},
            },
        )
        period = line.get("period") or ""
        row["by_period"][period] = line["quantity"]
    return [
        FrozenActivity(
            name=name,
            total=plain(sum((Decimal(q) for q in row["by_period"].values()), Decimal(0))),
            **row,
        )
        for name, row in rows.items()
    ]


def _frozen_line(line: Mapping[str, Any]) -> FrozenLine:
    trace = line.get("trace") or {}
    factors = tuple(
        FrozenFactor(
            name=factor["name"],
            value=shown(Decimal(factor["value"])),
            unit=factor["unit"],
            document=(factor.get("source") or {}).get("document"),
        )
        for factor in trace.get("factors", [])
    )
    return FrozenLine(
        line=line["line"],
        name=line["name"],
        category=line["category"],
        period=line.get("period"),
        quantity=line["quantity"],
        unit=line["unit"],
        factors=factors,
        factor_tier=(trace.get("factor_choice") or {}).get("tier", ""),
        tco2e=line["tco2e"],
        counted_in_total=line.get("counted_in_total", True),
    )
