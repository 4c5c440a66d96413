"""7.5 controlled documents: numbering per type, the approval rules per type, taking effect on the
effective date (at once when approved on or after it, else by the scheduler's sweep), superseding the
version in force in the same transaction, revising (a new draft copied from the version in force) and the
periodic review. A version is one ``controlled_document`` record; its content is written only in draft.
Read-and-acknowledge, the register and the renditions: workflows/hooks/document_register.py."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session

from engine.audit import append_event
from engine.events import policy
from engine.evidence.models import EvidenceFile
from engine.forms.spec import Text
from engine.identity.users import list_members
from engine.models.base import utcnow
from engine.records.display import as_china_time
from engine.records.queries import record_events, records_in_states
from engine.scheduler.registry import JobContext, ScheduledJob, register_job
from engine.scheduler.reviews import ReviewDue, ReviewHook, register_review
from engine.workflow.access import ActorRef
from engine.workflow.computed import china_today
from engine.workflow.errors import FORM_HAS_ERRORS, FormRefused, GuardRefused
from engine.workflow.events import RecordEnteredState
from engine.workflow.lifecycle import create_record, fire_transition, next_number, process_context
from engine.workflow.models import Record
from engine.workflow.registry import GuardContext, declare_names, guard
from engine.workflow.writes import as_date

WORKFLOW = "controlled_document"
DRAFT, APPROVED, EFFECTIVE = "draft", "approved", "effective"
SUPERSEDED, OBSOLETE = "superseded", "obsolete"
OPEN_STATES = (DRAFT, "in_review", "in_management_review", APPROVED)  # a version on its way
FINAL_STATES = (SUPERSEDED, OBSOLETE)
APPROVALS = ("approve_document", "approve_by_management")
TAKE_EFFECT, SUPERSEDE, REVISE, REGISTER_EXTERNAL = "take_effect", "supersede", "revise", "register_external"
declare_names(
    WORKFLOW,
    states=(*OPEN_STATES, EFFECTIVE, *FINAL_STATES),
    triggers=(
        *APPROVALS,
        TAKE_EFFECT,
        SUPERSEDE,
        REVISE,
        REGISTER_EXTERNAL,
        "periodic_review",
        "withdraw",
        "edit_draft",
    ),
)

# The number's prefix per type (CX-003: the third procedure); the choice labels are in forms/cd_version.yaml.
PREFIXES = {
    "policy": "FZ",
    "manual": "SC",
    "procedure": "CX",
    "work_instruction": "ZY",
    "form_template": "BD",
    "record": "JL",
    "external": "WL",
}
TOP_MANAGEMENT_TYPES = ("policy", "manual")
EXTERNAL = "external"
EFFECTIVE_TRIGGERS = (TAKE_EFFECT, REGISTER_EXTERNAL)
_AS_OF = "controlled_document_as_of"  # session.info: the day the scheduler's clock says it is
_SYSTEM = "controlled_document_system_step"  # session.info: a step the process takes, not a person


def as_of(session: Session) -> date:
    found = session.info.get(_AS_OF)
    return found if isinstance(found, date) else china_today()


@contextmanager
def _flag(session: Session, key: str, value: object) -> Iterator[None]:
    before = session.info.get(key)
    session.info[key] = value
    try:
        yield
    finally:
        session.info[key] = before


def system_step(session: Session) -> Any:
    """Steps this module fires itself (supersede, a revision's new draft)."""
    return _flag(session, _SYSTEM, True)


def clock(session: Session, *, today: date) -> Any:
    """The day it is for the steps inside (the scheduler's clock)."""
    return _flag(session, _AS_OF, today)


# ---- guards ---------------------------------------------------------------------------------------


@guard("document_has_content")
def document_has_content(context: GuardContext) -> Text | None:
    data = context.record_data
    if str(data.get("content") or "").strip() or isinstance(data.get("file"), int):
        return None
    return Text(
        zh="请先在“正文”中编写文件内容，或上传文件（docx / pdf / xlsx）",
        en="Write the text or upload the file (docx, pdf, xlsx) first",
    )


@guard("approved_by_managers")
def approved_by_managers(context: GuardContext) -> Text | None:
    kind = context.record_data.get("doc_type")
    if kind in TOP_MANAGEMENT_TYPES:
        return Text(
            zh="方针和手册须提交最高管理者批准", en="Policies and manuals are approved by top management"
        )
    if kind == EXTERNAL:
        return Text(
            zh="外来文件登记即可，无需内部批准", en="An external document is registered, not approved"
        )
    return None


@guard("approved_by_top_management")
def approved_by_top_management(context: GuardContext) -> Text | None:
    if context.record_data.get("doc_type") in TOP_MANAGEMENT_TYPES:
        return None
    return Text(
        zh="只有方针和手册提交最高管理者批准，其他文件请“提交审批”",
        en="Only policies and manuals go to top management; submit the others for approval",
    )


@guard("external_document")
def external_document(context: GuardContext) -> Text | None:
    data = context.record_data
    if data.get("doc_type") != EXTERNAL:
        return Text(zh="只有外来文件可直接登记生效", en="Only an external document is registered directly")
    if not str(data.get("edition") or "").strip():
        return Text(
            zh="外来文件须填写版本（标准号及年代号，如 GB/T 32150-2015）",
            en="An external document needs its edition (number and year, e.g. GB/T 32150-2015)",
        )
    return None


# ---- numbering ------------------------------------------------------------------------------------


def last_comment(session: Session, *, record_id: int | None, action: str) -> str | None:
    """The reason given with the latest ``action`` on the record (revise, withdraw, periodic review)."""
    if record_id is None:
        return None
    events = [e for e in record_events(session, record_id=record_id) if e.action == action]
    return events[-1].reason if events else None


def versions_of(session: Session, *, number: str) -> list[Record]:
    """Every version of the document with this number, oldest first."""
    states = (*OPEN_STATES, EFFECTIVE, *FINAL_STATES)
    found = records_in_states(session, workflow_key=WORKFLOW, states=states)
    return sorted((r for r in found if r.data.get("document_number") == number), key=lambda r: r.id or 0)


@policy(RecordEnteredState)
def number_the_document(event: RecordEnteredState, session: Session) -> None:
    """A new document gets the next number of its type; a number typed in must not be another document's
    (a new version of a document is drafted by revising the version in force)."""
    if event.workflow_key != WORKFLOW or event.trigger != "create":
        return
    record = session.get(Record, event.record_id)
    if record is None or session.info.get(_SYSTEM):
        return
    number = str(record.data.get("document_number") or "").strip()
    if number:
        if any(other.id != record.id for other in versions_of(session, number=number)):
            raise FormRefused(
                FORM_HAS_ERRORS,
                field_errors={
                    "document_number": {
                        "zh": f"编号 {number} 已被其他文件使用；新版本请在现行版本上“修订”",
                        "en": f"{number} is another document's number; revise its version in force instead",
                    }
                },
            )
        return
    prefix = PREFIXES.get(str(record.data.get("doc_type")), "WJ")
    number = next_number(
        session, org_id=record.org_id, pattern=prefix + "-{seq:03}", year=as_of(session).year
    )
    record.data = {**record.data, "document_number": number}
    session.add(record)
    session.flush()
    assert record.id is not None
    append_event(
        session,
        org_id=record.org_id,
        actor=event.actor.audit_actor,
        subject_type="record",
        subject_id=record.id,
        action="numbered",
        changes={"document_number": [None, number]},
    )


DOCUMENT_FILES = (".docx", ".pdf", ".xlsx")


@policy(RecordEnteredState)
def documents_are_docx_pdf_or_xlsx(event: RecordEnteredState, session: Session) -> None:
    """The evidence store takes pictures and text files too; a document's file is docx, pdf or xlsx."""
    if event.workflow_key != WORKFLOW or event.trigger not in ("create", "edit_draft"):
        return
    record = session.get(Record, event.record_id)
    file_id = record.data.get("file") if record is not None else None
    if not isinstance(file_id, int):
        return
    stored = session.get(EvidenceFile, file_id)
    if stored is None or not stored.filename.lower().endswith(DOCUMENT_FILES):
        raise FormRefused(
            FORM_HAS_ERRORS,
            field_errors={
                "file": {
                    "zh": "文件须为 docx、pdf 或 xlsx 格式",
                    "en": "The file must be a docx, pdf or xlsx",
                }
            },
        )


# ---- taking effect, superseding ------------------------------------------------------------------


def _refuse_unless_system(event: RecordEnteredState, session: Session, trigger: str) -> None:
    if event.workflow_key == WORKFLOW and event.trigger == trigger and not session.info.get(_SYSTEM):
        raise GuardRefused(
            Text(
                zh="此步骤由系统在新版本生效时执行，不能手工执行",
                en="The system takes this step when a new version takes effect",
            )
        )


@policy(RecordEnteredState)
def effective_on_its_date(event: RecordEnteredState, session: Session) -> None:
    """Approved on or after the effective date: in force at once; taking effect early is refused."""
    if event.workflow_key != WORKFLOW:
        return
    record = session.get(Record, event.record_id)
    if record is None:
        return
    effective = as_date(record.data.get("effective_date"))
    if event.trigger == TAKE_EFFECT and effective is not None and effective > as_of(session):
        raise GuardRefused(
            Text(
                zh=f"生效日期 {effective.isoformat()} 未到，不能提前生效",
                en=f"The effective date {effective.isoformat()} has not come yet",
            )
        )
    if event.trigger in APPROVALS and (effective is None or effective <= as_of(session)):
        fire_transition(
            session,
            record_id=event.record_id,
            trigger=TAKE_EFFECT,
            actor=event.actor,
            form_data={},
            expected_version=record.version,
            today=as_of(session),
        )


@policy(RecordEnteredState)
def supersede_the_version_in_force(event: RecordEnteredState, session: Session) -> None:
    _refuse_unless_system(event, session, SUPERSEDE)
    if event.workflow_key != WORKFLOW or event.trigger not in EFFECTIVE_TRIGGERS:
        return
    record = session.get(Record, event.record_id)
    if record is None:
        return
    number = str(record.data.get("document_number") or "")
    label = record.data.get("edition") or record.number
    for before in versions_of(session, number=number):
        if before.id == record.id or before.state != EFFECTIVE or before.id is None:
            continue
        with system_step(session):
            fire_transition(
                session,
                record_id=before.id,
                trigger=SUPERSEDE,
                actor=event.actor,
                form_data={},
                expected_version=before.version,
                comment=f"由新版本 {label}（{record.number}）替代",
            )


# ---- revising: a new draft copied from the version in force --------------------------------------

COPIED = (
    "doc_type", "title", "document_number", "edition", "owner", "clause", "other_clause", "content", "file",
    "review_date", "distribute_to",
)  # fmt: skip


@policy(RecordEnteredState)
def revising_drafts_the_next_version(event: RecordEnteredState, session: Session) -> None:
    if event.workflow_key != WORKFLOW or event.trigger != REVISE:
        return
    current = session.get(Record, event.record_id)
    workflow = process_context(session).catalog.get(WORKFLOW)
    if current is None or workflow is None:
        return
    number = str(current.data.get("document_number") or "")
    if any(other.state in OPEN_STATES for other in versions_of(session, number=number)):
        raise GuardRefused(
            Text(
                zh=f"文件 {number} 已有在编的新版本，请先完成或作废该版本",
                en=f"{number} already has a new version on its way; finish or withdraw it first",
            )
        )
    data = {key: current.data[key] for key in COPIED if current.data.get(key) not in (None, "", [])}
    data["change_reason"] = last_comment(session, record_id=current.id, action=REVISE) or "修订"
    data["effective_date"] = as_of(session).isoformat()
    data.pop("edition", None)  # the new version gets its own
    with system_step(session):
        create_record(
            session,
            workflow=workflow,
            org_id=event.org_id,
            actor=event.actor,
            form_data=data,
            today=as_of(session),
        )


# ---- the scheduler: versions whose effective date has come; periodic reviews ---------------------


def approver_of(record: Record) -> int | None:
    for trigger in APPROVALS:
        people = record.participants.get(trigger) or []
        if people:
            return int(people[-1])
    return record.owner_id


def take_effect_when_due(ctx: JobContext) -> Iterator[str]:
    workflow = process_context(ctx.session).catalog.get(WORKFLOW)
    if workflow is None:
        return
    roles = frozenset(next(t for t in workflow.spec.transitions if t.trigger == TAKE_EFFECT).roles)
    for record in records_in_states(ctx.session, workflow_key=WORKFLOW, states=(APPROVED,)):
        effective = as_date(record.data.get("effective_date"))
        approver = approver_of(record)
        if effective is None or effective > ctx.today or record.id is None or approver is None:
            continue
        if not ctx.claim(f"{WORKFLOW}:{record.id}", effective.isoformat()):
            continue
        actor = ActorRef(id=approver, name="系统定时任务（按生效日期）", roles=roles)
        with clock(ctx.session, today=ctx.today):
            fire_transition(
                ctx.session,
                record_id=record.id,
                trigger=TAKE_EFFECT,
                actor=actor,
                form_data={},
                expected_version=record.version,
                today=ctx.today,
            )
        yield f"{record.data.get('document_number')}「{record.title}」于 {effective.isoformat()} 生效"


register_job(
    ScheduledJob(
        "documents_take_effect",
        Text(zh="受控文件按生效日期生效", en="Controlled documents take effect on their date"),
        take_effect_when_due,
    )
)


REVIEW = "periodic_review"
REVIEW_CYCLE_DAYS = 365
ESCALATE_AFTER_DAYS = 30  # a review still not done a month after its date goes to top management
ESCALATE_TO = "top_management"


def next_review(session: Session, record: Record) -> date | None:
    """The version's review date, or a year after its latest periodic review when that came later."""
    due = as_date(record.data.get("review_date"))
    if due is None or record.id is None:
        return due
    reviews = [e for e in record_events(session, record_id=record.id) if e.action == REVIEW]
    if reviews:
        reviewed = as_china_time(reviews[-1].ts) or utcnow()
        due = max(due, reviewed.date() + timedelta(days=REVIEW_CYCLE_DAYS))
    return due


def reviews_due(session: Session, today: date) -> Iterator[ReviewDue]:
    """The owner on the review date; top management too once it is a month overdue."""
    managers: tuple[int, ...] | None = None
    for record in records_in_states(session, workflow_key=WORKFLOW, states=(EFFECTIVE,)):
        due = next_review(session, record)
        owner = record.data.get("owner")
        if due is None or due > today or not isinstance(owner, int):
            continue
        number = record.data.get("document_number") or record.number
        yield ReviewDue(
            subject=f"{WORKFLOW}:{record.id}",
            period=due.isoformat(),
            title=Text(
                zh=f"受控文件定期评审：{number}「{record.title}」（评审日期 {due.isoformat()}）",
                en=f"Periodic review of the document {number} '{record.title}' (due {due.isoformat()})",
            ),
            user_ids=(owner,),
            record_id=record.id,
        )
        if today < due + timedelta(days=ESCALATE_AFTER_DAYS):
            continue
        if managers is None:
            members = list_members(session, org_id=record.org_id)
            managers = tuple(u.id for u, roles in members if u.id is not None and ESCALATE_TO in roles)
        yield ReviewDue(
            subject=f"{WORKFLOW}:{record.id}:escalated",
            period=due.isoformat(),
            title=Text(
                zh=f"受控文件定期评审逾期 {ESCALATE_AFTER_DAYS} 天未完成：{number}「{record.title}」"
                f"（评审日期 {due.isoformat()}）",
                en=f"The periodic review of {number} '{record.title}' is {ESCALATE_AFTER_DAYS} days overdue "
                f"(due {due.isoformat()})",
            ),
            user_ids=managers,
            record_id=record.id,
        )


register_review(
    ReviewHook(
        name="controlled_document_review",
        label=Text(zh="受控文件定期评审", en="Periodic review of controlled documents"),
        due=reviews_due,
    )
)
