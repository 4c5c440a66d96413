"""7.2–7.3 support processes: the training certificates' expiry reminders (the scheduler) and the awareness
campaign's acknowledgements — each listed person acknowledges for themselves (ADR 0025)."""

from datetime import date, timedelta
from typing import Any

from sqlmodel import Session

from engine.forms.spec import Text
from engine.identity.users import list_members
from engine.records.queries import records_in_states
from engine.scheduler.reviews import ReviewDue, ReviewHook, register_review
from engine.workflow.computed import china_today
from engine.workflow.models import Record
from engine.workflow.registry import ComputeContext, GuardContext, action, computed, declare_names, guard

TRAINING = "training"
DELIVERED, EVALUATED = "trn_delivered", "trn_evaluated"
declare_names(TRAINING, states={DELIVERED, EVALUATED})
CAMPAIGN = "awareness_campaign"
declare_names(CAMPAIGN, triggers={"acknowledge"})
EXPIRY_NOTICE_DAYS = 30
CARBON_MANAGER = "carbon_manager"
ACKNOWLEDGED, PENDING = "acknowledged", "pending"
ACKNOWLEDGE_ITEM = "阅读并确认"


# ---- 7.2 training certificates: reminded 30 days before they expire -------------------------------------


def _as_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def certificates_expiring(session: Session, *, today: date, days: int = EXPIRY_NOTICE_DAYS) -> list[Record]:
    """Training records (delivered or evaluated) whose certificate expires within ``days`` of ``today`` or
    has expired, soonest first. The session is scoped to one organization."""
    found = []
    for record in records_in_states(session, workflow_key=TRAINING, states=(DELIVERED, EVALUATED)):
        expiry = _as_date(record.data.get("certificate_expiry"))
        if expiry is not None and expiry <= today + timedelta(days=days):
            found.append((expiry, record))
    return [record for _, record in sorted(found, key=lambda pair: (pair[0], pair[1].number))]


def _expiry_reminders(session: Session, today: date) -> list[ReviewDue]:
    records = certificates_expiring(session, today=today)
    if not records:
        return []
    org_id = records[0].org_id
    managers = [
        user.id for user, roles in list_members(session, org_id=org_id) if CARBON_MANAGER in roles and user.id
    ]
    due = []
    for record in records:
        expiry = str(record.data.get("certificate_expiry"))
        people = tuple(sorted({*managers, *([record.owner_id] if record.owner_id else [])}))
        due.append(
            ReviewDue(
                subject=f"training:{record.id}",
                period=expiry,  # once per expiry date: a renewed certificate is reminded again
                title=Text(
                    zh=f"培训证书将于 {expiry} 到期：{record.number} {record.title}",
                    en=f"Training certificate expires on {expiry}: {record.number} {record.title}",
                ),
                user_ids=people,
                record_id=record.id,
            )
        )
    return due


register_review(
    ReviewHook(
        name="training_certificate_expiry",
        label=Text(zh="培训证书到期提醒", en="Training certificate expiry"),
        due=_expiry_reminders,
    )
)


# ---- 7.3 awareness: each listed person acknowledges for themselves ---------------------------------------


def _rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(row) for row in data.get("acknowledgements") or [] if isinstance(row, dict)]


def _log(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(row) for row in data.get("acknowledged_log") or [] if isinstance(row, dict)]


@action("prepare_acknowledgements")
def prepare_acknowledgements(context: GuardContext) -> dict[str, Any]:
    """Each row names what to acknowledge and by when; its status comes from the acknowledgement log only
    (written by the person's own "acknowledge"), never from what the list's editor posted."""
    data = context.record_data
    done = {row.get("person"): row.get("acknowledged_on") for row in _log(data)}
    rows = []
    for row in _rows(data):
        person = row.get("person")
        rows.append(
            {
                **row,
                "item": row.get("item") or ACKNOWLEDGE_ITEM,  # the task line shows the campaign's title
                "due": row.get("due") or data.get("ack_due"),
                "status": ACKNOWLEDGED if person in done else PENDING,
                "acknowledged_on": done.get(person),
            }
        )
    return {"acknowledgements": rows}


def _pending_row(data: dict[str, Any], actor_id: int) -> int | None:
    return next(
        (
            number
            for number, row in enumerate(_rows(data))
            if row.get("person") == actor_id and row.get("status") != ACKNOWLEDGED
        ),
        None,
    )


@guard("actor_has_pending_acknowledgement")
def actor_has_pending_acknowledgement(context: GuardContext) -> Text | None:
    if _pending_row(context.record_data, context.actor_id) is None:
        return Text(zh="您不在待确认名单中（或已确认）", en="You are not on the list, or have acknowledged")
    return None


@action("acknowledge_own_row")
def acknowledge_own_row(context: GuardContext) -> dict[str, Any]:
    """The actor's row becomes acknowledged today and the log keeps who and when."""
    today = china_today().isoformat()
    rows = _rows(context.record_data)
    for row in rows:
        if row.get("person") == context.actor_id:
            row.update(status=ACKNOWLEDGED, acknowledged_on=today)
    log = [*_log(context.record_data), {"person": context.actor_id, "acknowledged_on": today}]
    return {"acknowledgements": rows, "acknowledged_log": log}


@computed("awareness_acknowledgements")
def acknowledgement_counts(context: ComputeContext) -> dict[str, Any]:
    rows = _rows(context.data)
    done = sum(1 for row in rows if row.get("status") == ACKNOWLEDGED)
    rate = round(100 * done / len(rows)) if rows else None
    return {
        "acknowledged_count": done if rows else None,
        "pending_count": len(rows) - done if rows else None,
        "acknowledged_rate": rate,
        "acknowledged_log": context.data.get("acknowledged_log"),
    }
