"""Frozen inventory snapshots: inputs (SHA-256) and results, never updated."""

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine.audit import Actor, append_event
from engine.carbon_data.errors import DataIssue, EmissionsDataError
from engine.carbon_data.events import SnapshotRequested
from engine.carbon_data.inventory import build_inventory
from engine.carbon_data.models import InventorySnapshot
from engine.emissions.rounding import plain
from engine.events import announce
from engine.forms.spec import Text

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
    gwp_set: str | None = None,
    grid_caliber: str | None = None,
    grid_year: int | None = None,
    product_id: int | None = None,
) -> InventorySnapshot:
    """Freeze the year's inventory: its canonical inputs, their SHA-256 and the calculator's JSON.
    Freezing identical inputs for the same year again returns the existing snapshot. Refused, for every
    caller, while a process's policy names something in the way (8.6: months not yet verified)."""
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
        gwp_set=gwp_set,
        grid_caliber=grid_caliber,
        grid_year=grid_year,
        product_id=product_id,
    )
    existing = session.exec(
        select(InventorySnapshot).where(
            InventorySnapshot.org_id == org_id,
            InventorySnapshot.year == year,
            InventorySnapshot.inputs_sha256 == result.inputs_sha256,
        )
    ).first()
    if existing is not None:
        return existing
    snapshot = InventorySnapshot(
        org_id=org_id,
        year=year,
        factor_set=result.inventory.factor_set,
        gwp_set=result.inventory.gwp_set,
        inputs_sha256=result.inputs_sha256,
        inputs=result.inputs,
        result=result.json,
        total_tco2e=result.total_tco2e,
        created_by=actor.id,
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
            "grid_year": [None, result.grid_year],
            "inputs_sha256": [None, snapshot.inputs_sha256],
            "total_tco2e": [None, plain(result.total_tco2e)],
            "lines": [None, len(result.calc_input.lines)],
        },
    )
    return snapshot


def list_snapshots(session: Session, *, org_id: int, year: int | None = None) -> list[InventorySnapshot]:
    """Newest first. (The ``result`` and ``inputs`` columns are loaded too.)"""
    query = select(InventorySnapshot).where(InventorySnapshot.org_id == org_id)
    if year is not None:
        query = query.where(InventorySnapshot.year == year)
    return list(session.exec(query.order_by(col(InventorySnapshot.id).desc())).all())


def latest_snapshot(session: Session, *, org_id: int, year: int) -> InventorySnapshot | None:
    snapshots = list_snapshots(session, org_id=org_id, year=year)
    return snapshots[0] if snapshots else None
