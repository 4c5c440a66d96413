"""Emissions data: sources, activity readings, production, measured parameters, frozen inventories,
baselines and targets.

Numbers
    Activity quantities, production quantities and output values are stored as **integer
    micro-units** (``BIGINT``, 10⁻⁶ of the unit), see :class:`MicroUnits`. Values are rounded
    half-even to 6 decimal places when they are written; after that every sum is exact integer
    arithmetic in SQL on both SQLite and PostgreSQL (SQLite ``REAL`` or ``NUMERIC`` would sum in binary
    floating point). Factors and parameters, which can need more than 6 decimals, are stored as exact
    decimal text (:class:`DecimalText`). In Python all of them are ``Decimal``.

Time
    ``activity_reading.period_start`` is a UTC timestamp. Months, years and spreadsheet timestamps
    without an offset are read in the plants' local time, China Standard Time (UTC+8, no daylight
    saving since 1991): the month 2024-03 is [2024-02-29 16:00Z, 2024-03-31 16:00Z).
"""

from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import JSON, Field

from engine.models.base import OrgOwned, utcnow

MICRO = 1_000_000
_MICRO_QUANTUM = Decimal("0.000001")


def to_micro(value: Decimal | int | str) -> int:
    """``value`` in micro-units, rounded half-even to 6 decimal places (the storage rounding rule)."""
    if isinstance(value, int):
        return value * MICRO
    return int(Decimal(value).quantize(_MICRO_QUANTUM, rounding=ROUND_HALF_EVEN).scaleb(6))


def from_micro(value: int | Decimal) -> Decimal:
    """Micro-units (an integer; PostgreSQL's SUM(bigint) gives an integral Decimal) as a Decimal."""
    return Decimal(int(value)).scaleb(-6)


class MicroUnits(TypeDecorator[Decimal]):
    """A ``Decimal`` stored as a BIGINT count of micro-units; ``SUM`` over it stays exact.

    ``func.sum(column)`` takes the column's type, so summed results come back as ``Decimal`` too."""

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> int | None:
        return None if value is None else to_micro(value)

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        return None if value is None else from_micro(value)


class DecimalText(TypeDecorator[Decimal]):
    """An exact ``Decimal`` kept as its decimal text (factors and parameters need more than 6 decimals)."""

    impl = sa.String(40)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        text = format(Decimal(value), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        return None if value is None else Decimal(value)


class SourceCategory(StrEnum):
    """The calculator's categories (engine.emissions.Category), GB/T 32150 structure."""

    combustion = "combustion"
    process = "process"
    purchased_electricity = "purchased_electricity"
    purchased_heat = "purchased_heat"
    exported_electricity = "exported_electricity"
    exported_heat = "exported_heat"
    recovered = "recovered"
    fixed_in_products = "fixed_in_products"
    biomass = "biomass"


class FactorChoiceKind(StrEnum):
    default = "default"  # the factor library (national/provincial defaults, grid factors)
    measured = "measured"  # monthly MeasuredParameter rows (NCV, carbon content, oxidation rate)
    direct = "direct"  # a factor value and unit on the source


class DataTier(StrEnum):
    """Activity-data tier, best first: measured (计量) > statistical (统计) > estimated (估算)."""

    measured = "measured"
    statistical = "statistical"
    estimated = "estimated"


class BatchKind(StrEnum):
    manual = "manual"
    api = "api"
    import_ = "import"


class EmissionSource(OrgOwned, table=True):
    """One emission source of a facility: what is burnt, processed, bought or exported there, and how
    its activity data is metered."""

    __tablename__ = "emission_source"
    __table_args__ = (sa.UniqueConstraint("org_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    org_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    code: str = Field(max_length=64)
    name: str = Field(max_length=200)
    category: str = Field(max_length=32)  # SourceCategory
    fuel_or_material: str | None = Field(default=None, max_length=64)  # 烟煤, 柴油, 熟料; None for power/heat
    method: str = Field(default="", max_length=300)  # how activity data is obtained (free text)
    unit: str = Field(max_length=32)  # the unit readings are entered in: t, MWh, 10^4 Nm3 …
    region: str | None = Field(default=None, max_length=64)  # grid region for electricity
    factor_choice: str = Field(default=FactorChoiceKind.default, max_length=16)
    factor_value: Decimal | None = Field(default=None, sa_type=DecimalText)  # with factor_choice direct
    factor_unit: str | None = Field(default=None, max_length=32)
    gas: str | None = Field(default=None, max_length=16)  # with a direct factor or recovery; default CO2
    # Method constants in calculator line keys, e.g. {"cao_content": "0.652", "mgo_content": "0.021"}.
    parameters: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    meter: str | None = Field(default=None, max_length=120)  # instrument id / name
    tier: str = Field(default=DataTier.statistical, max_length=16)  # DataTier
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class ReadingBatch(OrgOwned, table=True):
    """Where readings came from: one manual entry, one bulk API call or one imported file."""

    __tablename__ = "reading_batch"
    __table_args__ = (sa.Index("ix_reading_batch_org_sha256", "org_id", "sha256"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # BatchKind
    label: str = Field(default="", max_length=255)  # file name, idempotency key …
    sha256: str | None = Field(default=None, max_length=64)  # of the file or the canonical payload
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    created_by: int | None = Field(default=None, foreign_key="user_account.id")


class ActivityReading(OrgOwned, table=True):
    """One reading: an hourly meter value or one month of manual entry, in the source's unit.

    Keyed by (org_id, source_id, period_start): at most one reading per source and start time, which
    is what makes re-imports idempotent. In SQLite the table is clustered on that key (WITHOUT
    ROWID), so the annual per-month sums are range scans of the table itself, with no second index.
    """

    __tablename__ = "activity_reading"
    __table_args__ = ({"sqlite_with_rowid": False},)

    org_id: int = Field(foreign_key="organization.id", primary_key=True)
    source_id: int = Field(foreign_key="emission_source.id", primary_key=True)
    period_start: datetime = Field(primary_key=True, sa_type=sa.DateTime(timezone=True))
    quantity: Decimal = Field(sa_type=MicroUnits)
    tier: str = Field(max_length=16)  # DataTier
    evidence_sha256: str | None = Field(default=None, max_length=64)
    entered_by: int | None = Field(default=None, foreign_key="user_account.id")
    batch_id: int | None = Field(default=None, foreign_key="reading_batch.id")
    note: str | None = Field(default=None, max_length=200)


class IngestIdempotency(OrgOwned, table=True):
    """One row per bulk-ingestion idempotency key: a replay returns ``result`` and inserts nothing."""

    __tablename__ = "ingest_idempotency"
    __table_args__ = (sa.UniqueConstraint("org_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=128)
    request_sha256: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    result: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class ProductionOutput(OrgOwned, table=True):
    """Monthly output of one product (for intensity), optionally with its value in 10⁴ CNY (万元)."""

    __tablename__ = "production_output"
    __table_args__ = (sa.UniqueConstraint("org_id", "product_id", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="product.id", index=True)
    period: str = Field(max_length=7)  # YYYY-MM
    quantity: Decimal = Field(sa_type=MicroUnits)  # in the product's unit
    output_value_10k_cny: Decimal | None = Field(default=None, sa_type=MicroUnits)
    evidence_sha256: str | None = Field(default=None, max_length=64)
    entered_by: int | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class MeasuredParameter(OrgOwned, table=True):
    """Measured fuel parameters of one source for one month (used when the source's factor choice is
    ``measured``); a parameter left empty takes the factor library's default."""

    __tablename__ = "measured_parameter"
    __table_args__ = (sa.UniqueConstraint("org_id", "source_id", "period"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="emission_source.id", index=True)
    period: str = Field(max_length=7)  # YYYY-MM
    ncv: Decimal | None = Field(default=None, sa_type=DecimalText)
    ncv_unit: str | None = Field(default=None, max_length=32)  # e.g. GJ/t
    carbon_content: Decimal | None = Field(default=None, sa_type=DecimalText)  # tC/GJ
    oxidation_rate: Decimal | None = Field(default=None, sa_type=DecimalText)  # fraction
    evidence_sha256: str | None = Field(default=None, max_length=64)  # the lab report
    # Where the values come from (issue 14): the laboratory, its CMA/CNAS accreditation, the report and the
    # sample. A row without its lab report, laboratory or report number is flagged as without a source.
    laboratory: str | None = Field(default=None, max_length=200)
    accreditation: str | None = Field(default=None, max_length=80)
    report_no: str | None = Field(default=None, max_length=80)
    sampled_on: date | None = None
    entered_by: int | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class InventorySnapshot(OrgOwned, table=True):
    """A frozen annual inventory: the exact calculator inputs and the calculator's JSON output.

    Never updated or deleted (database triggers refuse both); later changes to data, factors or
    formulas produce a new snapshot and leave this one as it was."""

    __tablename__ = "inventory_snapshot"
    __table_args__ = (sa.UniqueConstraint("org_id", "year", "inputs_sha256"),)

    id: int | None = Field(default=None, primary_key=True)
    year: int
    factor_set: str = Field(max_length=64)
    gwp_set: str = Field(max_length=16)
    inputs_sha256: str = Field(max_length=64)
    inputs: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)  # calc_input_from_dict re-runs it
    result: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)  # inventory_to_json output
    total_tco2e: Decimal = Field(sa_type=DecimalText)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    frozen: bool = True
    # Why it was frozen although the year's own grid factor was not yet published (else None).
    reason: str | None = Field(default=None, max_length=1000)
    # The GB/T 32150 edition of the year's settings when it was frozen ("2015", "2025"); None: frozen before
    # the editions were recorded (migration 0020), i.e. under GB/T 32150-2015.
    gbt32150_edition: str | None = Field(default=None, max_length=8)


# The insert path binds micro-units as plain integers (no per-value TypeDecorator call).
reading_insert_table = sa.table(
    "activity_reading",
    sa.column("org_id", sa.Integer),
    sa.column("source_id", sa.Integer),
    sa.column("period_start", sa.DateTime(timezone=True)),
    sa.column("quantity", sa.BigInteger),
    sa.column("tier", sa.String),
    sa.column("evidence_sha256", sa.String),
    sa.column("entered_by", sa.Integer),
    sa.column("batch_id", sa.Integer),
    sa.column("note", sa.String),
)


class InventoryInputVersion(OrgOwned, table=True):
    """Bumped in the transaction of every write that changes a year's inventory inputs; year 0 stands for
    every year (sources). Computed inventories are cached under ``stamp``, a fresh random token per bump,
    so that several processes agree and two databases never share a key."""

    __tablename__ = "inventory_input_version"
    __table_args__ = (sa.UniqueConstraint("org_id", "year"),)

    id: int | None = Field(default=None, primary_key=True)
    year: int
    version: int = 0
    stamp: str = Field(max_length=32)


class ReportingYearSetting(OrgOwned, table=True):
    """The settings of one reporting year: the GB/T 32150 edition it is accounted under and the GWP set of its
    CO2e figures (ADR 0043). No row: the defaults (engine.carbon_data.year_settings). Changed only with a
    reason, audited; a change bumps the year's input version."""

    __tablename__ = "reporting_year_setting"
    __table_args__ = (sa.UniqueConstraint("org_id", "year"),)

    id: int | None = Field(default=None, primary_key=True)
    year: int
    gbt32150_edition: str = Field(max_length=8)
    gwp_set: str = Field(max_length=16)
    reason: str = Field(max_length=1000)
    updated_by: int | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class AllocationMethod(StrEnum):
    """How a source shared by several lines (purchased electricity or heat) is allocated to them."""

    submeter = "submeter"  # each line's metered quantity of the year; the unmetered rest stays unallocated
    output_share = "output_share"  # by each line's output of a named product in the year


class AllocationKey(OrgOwned, table=True):
    """The recorded allocation of one shared source's emissions of one year to production lines or processes
    below the source's own unit, with its basis (which sub-meters, which output statistics). Replaced as a
    whole, audited."""

    __tablename__ = "allocation_key"
    __table_args__ = (sa.UniqueConstraint("org_id", "source_id", "year"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="emission_source.id", index=True)
    year: int
    method: str = Field(max_length=16)  # AllocationMethod
    basis: str = Field(max_length=500)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class AllocationShare(OrgOwned, table=True):
    """One line's part of an allocation key: its sub-meter's quantity of the year (in the source's unit), or
    the product whose output of the year sets its share."""

    __tablename__ = "allocation_share"
    __table_args__ = (sa.UniqueConstraint("key_id", "org_unit_id"),)

    id: int | None = Field(default=None, primary_key=True)
    key_id: int = Field(foreign_key="allocation_key.id", index=True)
    org_unit_id: int = Field(foreign_key="org_unit.id")
    metered_quantity: Decimal | None = Field(default=None, sa_type=MicroUnits)
    product_id: int | None = Field(default=None, foreign_key="product.id")
