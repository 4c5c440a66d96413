"""8.7 carbon asset management: the amount of each ledger entry, and per compliance year the balance the
/carbon-assets page shows — verified emissions against the allowances held (allocated + bought − sold),
CCER usable for offsetting up to the limit, what is surrendered, the shortfall or surplus and the deadline.

The national ETS rules: one allowance (CEA) per tonne of verified emissions is surrendered by the deadline
(《碳排放权交易管理暂行条例》 2024, art. 13; 《碳排放权交易管理办法（试行）》 art. 27–29); CCER may offset up
to 5 % of the verified emissions (办法 art. 29). Cement joined the national market with the 2024 compliance
year (配额总量和分配方案 for steel, cement and aluminium, 2024–2025)."""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from engine.carbon_data.snapshots import latest_snapshot
from engine.records.queries import records_in_states
from engine.reports.periods import declare_period
from engine.workflow.models import Record
from engine.workflow.registry import ComputeContext, computed, declare_names
from workflows.hooks.operation import as_date, as_decimal, plain

LEDGER = "carbon_asset_transaction"
YEARS = "compliance_year"
BOOKED = "booked"
OPEN, FULFILLED = "to_surrender", "fulfilled"
declare_names(LEDGER, states={BOOKED})
declare_names(YEARS, states={OPEN, FULFILLED})
declare_period(LEDGER, year="compliance_year")
declare_period(YEARS, year="compliance_year")
OFFSET_LIMIT = Decimal("0.05")  # CCER may cover at most 5 % of the verified emissions


@computed("carbon_asset_amount")
def amount(context: ComputeContext) -> dict[str, Any]:
    quantity, price = as_decimal(context.data.get("quantity")), as_decimal(context.data.get("price"))
    kind = str(context.data.get("kind") or "")
    return {
        "amount": plain((quantity * price).quantize(Decimal("0.01"))) if quantity and price else None,
        "asset": kind.split("_", 1)[0] if kind.startswith(("cea_", "ccer_")) else None,
    }


@dataclass
class YearBalance:
    year: int
    record: Record | None  # the compliance-year record (deadline, verified emissions), if entered
    verified: Decimal | None  # verified emissions: the record's figure, else the frozen snapshot's total
    verified_source: str  # "record" | "snapshot" | "none"
    allocated: Decimal = Decimal(0)
    bought: Decimal = Decimal(0)
    sold: Decimal = Decimal(0)
    surrendered_cea: Decimal = Decimal(0)
    surrendered_ccer: Decimal = Decimal(0)
    ccer_available: Decimal = Decimal(0)  # CCER held, not sold nor used, whatever year they were bought for
    spent: Decimal = Decimal(0)  # paid for allowances and CCER bought, less sales (CNY)
    entries: list[Record] = field(default_factory=list)

    @property
    def held(self) -> Decimal:
        """Allowances of the year held: allocated + bought − sold."""
        return self.allocated + self.bought - self.sold

    @property
    def offset_limit(self) -> Decimal | None:
        return (self.verified * OFFSET_LIMIT).quantize(Decimal(1)) if self.verified is not None else None

    @property
    def ccer_usable(self) -> Decimal:
        """CCER that may still count toward this year: up to the limit, less what was already used; none
        once the year is fulfilled (the CCER held then serves the years still open)."""
        if self.offset_limit is None or (self.record is not None and self.record.state == FULFILLED):
            return Decimal(0)
        room = max(self.offset_limit - self.surrendered_ccer, Decimal(0))
        return min(self.ccer_available, room)

    @property
    def balance(self) -> Decimal | None:
        """Allowances held + CCER usable (+ CCER already used) − verified emissions: a shortfall below
        zero, a surplus above."""
        if self.verified is None:
            return None
        return self.held + self.surrendered_ccer + self.ccer_usable - self.verified

    @property
    def to_surrender(self) -> Decimal | None:
        if self.verified is None:
            return None
        return max(self.verified - self.surrendered_cea - self.surrendered_ccer, Decimal(0))

    @property
    def deadline(self) -> date | None:
        return as_date(self.record.data.get("surrender_deadline")) if self.record is not None else None

    def days_left(self, today: date) -> int | None:
        return (self.deadline - today).days if self.deadline is not None else None


def _year(value: Any) -> int | None:
    number = as_decimal(value)
    return int(number) if number is not None and number == number.to_integral_value() else None


def balances(session: Session, *, org_id: int) -> list[YearBalance]:
    """Every compliance year that has a compliance-year record or a ledger entry, newest first."""
    entries = [
        r for r in records_in_states(session, workflow_key=LEDGER, states=(BOOKED,)) if r.org_id == org_id
    ]
    years_records = {
        year: r
        for r in records_in_states(session, workflow_key=YEARS, states=(OPEN, FULFILLED))
        if r.org_id == org_id and (year := _year(r.data.get("compliance_year"))) is not None
    }
    years = set(years_records) | {y for r in entries if (y := _year(r.data.get("compliance_year")))}
    ccer = Decimal(0)
    for entry in entries:
        quantity = as_decimal(entry.data.get("quantity")) or Decimal(0)
        kind = entry.data.get("kind")
        if kind == "ccer_bought":
            ccer += quantity
        elif kind in ("ccer_sold", "ccer_surrendered"):
            ccer -= quantity
    result = []
    for year in sorted(years, reverse=True):
        record = years_records.get(year)
        verified, source = as_decimal(record.data.get("verified_emissions")) if record else None, "record"
        if verified is None:
            snapshot = latest_snapshot(session, org_id=org_id, year=year)
            verified, source = (snapshot.total_tco2e, "snapshot") if snapshot else (None, "none")
        balance = YearBalance(year, record, verified, source, ccer_available=max(ccer, Decimal(0)))
        for entry in entries:
            if _year(entry.data.get("compliance_year")) != year:
                continue
            balance.entries.append(entry)
            quantity = as_decimal(entry.data.get("quantity")) or Decimal(0)
            money = as_decimal(entry.data.get("amount")) or Decimal(0)
            match entry.data.get("kind"):
                case "cea_allocated":
                    balance.allocated += quantity
                case "cea_bought":
                    balance.bought += quantity
                    balance.spent += money
                case "cea_sold":
                    balance.sold += quantity
                    balance.spent -= money
                case "cea_surrendered":
                    balance.surrendered_cea += quantity
                case "ccer_bought":
                    balance.spent += money
                case "ccer_sold":
                    balance.spent -= money
                case "ccer_surrendered":
                    balance.surrendered_ccer += quantity
        balance.entries.sort(key=lambda r: (str(r.data.get("trade_date") or ""), r.id or 0))
        result.append(balance)
    return result
