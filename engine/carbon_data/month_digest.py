"""One month's activity data as a small JSON-able digest: the activity readings of every source (count,
total and a hash of every reading), the production of every product and the measured fuel parameters of
that month. Equal digests mean equal data; a process that signs off a month's data declares that its
signatures cover this digest (see engine.workflow.registry.signed_content)."""

import hashlib
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from engine.carbon_data.models import MeasuredParameter, ProductionOutput, from_micro, reading_insert_table
from engine.carbon_data.parsing import as_utc, month_bounds, parse_month
from engine.models.base import table_of

_production = table_of(ProductionOutput)
_measured = table_of(MeasuredParameter)
_readings = reading_insert_table


def month_data_digest(session: Session, *, org_id: int, period: str) -> dict[str, Any]:
    """The digest of the local (UTC+8) month ``period`` (YYYY-MM) of the organization's data."""
    year, month = parse_month(period)
    _, start, end = month_bounds(year)[month - 1]
    period = f"{year:04d}-{month:02d}"
    connection = session.connection()
    return {
        "period": period,
        "readings": _readings_digest(connection, org_id=org_id, start=start, end=end),
        "production": [
            {
                "product_id": product_id,
                "quantity": str(quantity),
                "output_value_10k_cny": None if value is None else str(value),
                "evidence_sha256": evidence,
            }
            for product_id, quantity, value, evidence in connection.execute(
                sa.select(
                    _production.c.product_id,
                    _production.c.quantity,
                    _production.c.output_value_10k_cny,
                    _production.c.evidence_sha256,
                )
                .where(_production.c.org_id == org_id, _production.c.period == period)
                .order_by(_production.c.product_id)
            )
        ],
        "measured_parameters": [
            {
                "source_id": source_id,
                "ncv": None if ncv is None else str(ncv),
                "ncv_unit": ncv_unit,
                "carbon_content": None if carbon is None else str(carbon),
                "oxidation_rate": None if oxidation is None else str(oxidation),
                "evidence_sha256": evidence,
            }
            for source_id, ncv, ncv_unit, carbon, oxidation, evidence in connection.execute(
                sa.select(
                    _measured.c.source_id,
                    _measured.c.ncv,
                    _measured.c.ncv_unit,
                    _measured.c.carbon_content,
                    _measured.c.oxidation_rate,
                    _measured.c.evidence_sha256,
                )
                .where(_measured.c.org_id == org_id, _measured.c.period == period)
                .order_by(_measured.c.source_id)
            )
        ],
    }


def _readings_digest(connection: sa.Connection, *, org_id: int, start: Any, end: Any) -> list[dict[str, Any]]:
    """Per source: how many readings, their exact total and a hash over every reading (its time, quantity,
    tier, evidence and note), so that a changed hourly value shows even when the total does not move."""
    rows = connection.execute(
        sa.select(
            _readings.c.source_id,
            sa.type_coerce(_readings.c.period_start, sa.String),  # SQLite: the stored UTC text, unparsed
            _readings.c.quantity,
            _readings.c.tier,
            _readings.c.evidence_sha256,
            _readings.c.note,
        )
        .where(
            _readings.c.org_id == org_id, _readings.c.period_start >= start, _readings.c.period_start < end
        )
        .order_by(_readings.c.source_id, _readings.c.period_start)
    )
    sources = []
    for source_id, group in groupby(rows.all(), key=itemgetter(0)):
        readings = list(group)
        lines = "".join(
            f"{_utc_text(moment)}|{quantity}|{tier}|{evidence or ''}|{note or ''}\n"
            for _, moment, quantity, tier, evidence, note in readings
        )
        sources.append(
            {
                "source_id": source_id,
                "readings": len(readings),
                "total": str(from_micro(sum(reading[2] for reading in readings))),
                "sha256": hashlib.sha256(lines.encode()).hexdigest(),
            }
        )
    return sources


def _utc_text(moment: str | datetime) -> str:
    """SQLite hands back the stored UTC text (not parsed: this is the per-reading cost), PostgreSQL an
    aware datetime in the session's time zone."""
    return moment if isinstance(moment, str) else as_utc(moment).isoformat()
