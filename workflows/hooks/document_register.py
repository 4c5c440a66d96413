"""7.5 / 5.2 documents as people read them: the register (one row per document, its version in force or
else its newest), a document's versions with their diff, read-and-acknowledge (who must read a version in
force, who has, who is still missing; each person's list), and the docx of a version with 作废 / OBSOLETE on
every superseded or withdrawn one. The carbon policy (5.2) keeps its own workflow: its version in force is
distributed to all staff for acknowledgement like a document (docs/adr/0033)."""

from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date

from sqlmodel import Session

from engine.audit import Actor, chain_position
from engine.documents.acknowledgements import acknowledge, acknowledged, acknowledged_by
from engine.documents.renditions import (
    DiffLine,
    UnreadableDocument,
    docx_text,
    line_diff,
    markdown_html,
    stamp_obsolete,
    stamped_docx,
)
from engine.evidence.store import EvidenceError, read_evidence
from engine.forms.spec import Text
from engine.identity.models import ROLE_LABELS
from engine.identity.users import list_members
from engine.records.display import Names, china_time
from engine.records.queries import get_record, records_in_states, records_in_workflow_states
from engine.records.signatures import SignatureView
from engine.reports.docx_layout import Approver, approval_block, docx_bytes, heading, new_document, paragraph
from engine.reports.docx_layout import table as docx_table
from engine.reports.records import signature_approvers
from engine.storage import EvidenceStore
from engine.versioned_cache import VersionedCache
from engine.workflow.lifecycle import process_context
from engine.workflow.loader import Workflow
from engine.workflow.models import Record
from workflows.hooks.controlled_document import (
    EFFECTIVE,
    FINAL_STATES,
    OPEN_STATES,
    WORKFLOW,
    last_comment,
    next_review,
    versions_of,
)
from workflows.hooks.controlled_statement import IN_FORCE

POLICY = "carbon_policy"
SUPERSEDED_POLICY = "superseded"
ALL_STAFF = "all_staff"
NOT_STAFF = "external_auditor"  # a verifier reads, but is not distributed the organization's documents
STATES = (*OPEN_STATES, EFFECTIVE, *FINAL_STATES)
WITHDRAW = "withdraw"


class DocumentRefused(ValueError):
    def __init__(self, reason: Text) -> None:
        super().__init__(reason.en)
        self.reason = reason


# ---- the register ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterRow:
    number: str
    record: Record  # the version in force, else the newest
    versions: int
    state_label: Text
    doc_type: str
    edition: str
    effective_date: str


def _policy_rows(session: Session) -> list[RegisterRow]:
    """The carbon policy in force as the register's policy row (5.2; its own workflow, ADR 0033)."""
    workflow = process_context(session).catalog.get(POLICY)
    versions = records_in_states(session, workflow_key=POLICY, states=(IN_FORCE, SUPERSEDED_POLICY))
    current = [r for r in versions if r.state == IN_FORCE]
    if workflow is None or not current:
        return []
    shown = max(current, key=lambda r: r.id or 0)
    return [
        RegisterRow(
            number=shown.number,
            record=shown,
            versions=len(versions),
            state_label=workflow.spec.state(shown.state).label,
            doc_type="policy",
            edition=str(shown.data.get("edition") or ""),
            effective_date=str(shown.data.get("effective_from") or ""),
        )
    ]


def register(
    session: Session, *, doc_type: str = "", state: str = "", clause: str = "", text: str = ""
) -> list[RegisterRow]:
    """One row per document, filtered by type, the shown version's state, clause and text; the carbon
    policy in force is listed among the policies."""
    workflow = process_context(session).catalog.get(WORKFLOW)
    assert workflow is not None
    by_number: dict[str, list[Record]] = {}
    for record in records_in_states(session, workflow_key=WORKFLOW, states=STATES):
        by_number.setdefault(str(record.data.get("document_number") or record.number), []).append(record)
    candidates = _policy_rows(session)
    for number, versions in by_number.items():
        versions.sort(key=lambda r: r.id or 0)
        shown = next((r for r in reversed(versions) if r.state == EFFECTIVE), versions[-1])
        candidates.append(
            RegisterRow(
                number=number,
                record=shown,
                versions=len(versions),
                state_label=workflow.spec.state(shown.state).label,
                doc_type=str(shown.data.get("doc_type") or ""),
                edition=str(shown.data.get("edition") or ""),
                effective_date=str(shown.data.get("effective_date") or ""),
            )
        )
    rows = []
    for row in sorted(candidates, key=lambda r: r.number):
        shown_state = EFFECTIVE if row.record.workflow_key == POLICY else row.record.state
        if doc_type and row.doc_type != doc_type:
            continue
        if state and shown_state != state:
            continue
        refs = row.record.clause_refs
        if clause and not any(ref == clause or ref.startswith(clause + ".") for ref in refs):
            continue
        if text and text.lower() not in f"{row.number} {row.record.title}".lower():
            continue
        rows.append(row)
    return rows


# ---- who must read what ---------------------------------------------------------------------------


def distributed_to(record: Record) -> tuple[str, ...]:
    if record.workflow_key == POLICY:
        return (ALL_STAFF,)
    return tuple(str(value) for value in record.data.get("distribute_to") or ())


def readers(session: Session, *, org_id: int, record: Record) -> dict[int, str]:
    """The people a version in force is distributed to: user id → name."""
    wanted = set(distributed_to(record))
    if not wanted:
        return {}
    found = {}
    for user, roles in list_members(session, org_id=org_id):
        if user.id is None or not user.is_active or set(roles) <= {NOT_STAFF}:
            continue
        if ALL_STAFF in wanted or wanted & set(roles):
            found[user.id] = user.display_name
    return found


def is_current(record: Record) -> bool:
    return record.state == (IN_FORCE if record.workflow_key == POLICY else EFFECTIVE)


@dataclass(frozen=True)
class Reading:
    """Acknowledgement status of one version in force."""

    done: list[tuple[str, str]]  # (name, China time)
    missing: list[str]

    @property
    def total(self) -> int:
        return len(self.done) + len(self.missing)


def reading_status(session: Session, *, org_id: int, record: Record) -> Reading:
    assert record.id is not None
    people = readers(session, org_id=org_id, record=record)
    seen = acknowledged(session, record_ids=[record.id]).get(record.id, {})
    done = sorted(((people.get(uid, f"用户 #{uid}"), china_time(at)) for uid, at in seen.items()))
    missing = sorted(name for uid, name in people.items() if uid not in seen)
    return Reading(done=done, missing=missing)


# The versions in force distributed to a set of roles, kept under the organization's audit chain position: a
# version comes into force, is withdrawn or is redistributed only by an audited write. On every dashboard.
_distributed: VersionedCache[tuple[Record, ...]] = VersionedCache(max_entries=256)


def to_read(session: Session, *, org_id: int, user_id: int, roles: Iterable[str]) -> list[Record]:
    """The versions in force distributed to this person that they have not acknowledged yet."""
    mine = frozenset(roles)
    if mine <= {NOT_STAFF}:
        return []
    key = (str(session.get_bind().engine.url), org_id, chain_position(session, org_id=org_id), mine)
    wanted = _distributed.get(key, lambda: _distributed_to(session, roles=mine))
    seen = acknowledged_by(session, user_id=user_id, record_ids=[r.id for r in wanted if r.id is not None])
    return [r for r in wanted if r.id is not None and r.id not in seen]


def _distributed_to(session: Session, *, roles: frozenset[str]) -> tuple[Record, ...]:
    current = records_in_workflow_states(
        session, states_by_workflow={WORKFLOW: (EFFECTIVE,), POLICY: (IN_FORCE,)}
    )
    return tuple(r for r in current if (set(distributed_to(r)) & (roles | {ALL_STAFF})))


def acknowledge_reading(
    session: Session, *, org_id: int, record_id: int, actor: Actor, roles: Iterable[str]
) -> bool:
    """The person confirms having read the version; refused for a version not in force or not
    distributed to them. Whether it is new (a second confirmation keeps the first time)."""
    record = get_record(session, record_id=record_id)
    if record is None or record.workflow_key not in (WORKFLOW, POLICY):
        raise LookupError(record_id)
    if not is_current(record):
        raise DocumentRefused(
            Text(zh="只能确认阅读现行有效的版本", en="Only a version in force can be acknowledged")
        )
    if actor.id not in readers(session, org_id=org_id, record=record) or set(roles) <= {NOT_STAFF}:
        raise DocumentRefused(
            Text(zh="此文件未分发给您，无需确认阅读", en="This document was not distributed to you")
        )
    return acknowledge(session, org_id=org_id, record_id=record_id, actor=actor)[1]


# ---- a document's page -------------------------------------------------------------------------------


@dataclass
class DocumentView:
    record: Record  # the version shown
    versions: list[Record]
    ordinal: dict[int, int]  # record id → 1, 2, …
    content_html: str
    content_text: str
    reading: Reading | None
    previous: Record | None
    diff: list[DiffLine] = field(default_factory=list)
    withdrawn_reason: str | None = None
    next_review: date | None = None
    text_note: Text | None = None

    @property
    def obsolete(self) -> bool:
        if self.record.workflow_key == POLICY:
            return self.record.state == SUPERSEDED_POLICY
        return self.record.state in FINAL_STATES


def written_text(record: Record) -> str:
    """What was written in the app: a document's Markdown, the carbon policy's statement."""
    return str(record.data.get("content") or record.data.get("policy_text") or "")


def content_text(
    session: Session, *, org_id: int, record: Record, evidence_store: EvidenceStore
) -> tuple[str, Text | None]:
    """The text to compare: what was written in the app, else the text of an uploaded docx."""
    written = written_text(record)
    if written.strip():
        return written, None
    file_id = record.data.get("file")
    if not isinstance(file_id, int):
        return "", None
    try:
        stored = read_evidence(session, org_id=org_id, evidence_id=file_id, evidence_store=evidence_store)
    except (EvidenceError, LookupError):
        return "", Text(zh="文件缺失或已被改动，无法比较", en="The file is missing or altered: no comparison")
    if not stored.file.filename.lower().endswith(".docx"):
        return "", Text(
            zh="上传的 pdf / xlsx 不做文本比较", en="An uploaded pdf or xlsx is not compared as text"
        )
    try:
        return docx_text(stored.content), None
    except UnreadableDocument:
        return "", Text(zh="docx 文件无法读取", en="The docx cannot be read")


def document_view(
    session: Session,
    *,
    org_id: int,
    record_id: int,
    evidence_store: EvidenceStore,
    compare_to: int | None = None,
) -> DocumentView | None:
    record = get_record(session, record_id=record_id)
    if record is None or record.workflow_key not in (WORKFLOW, POLICY) or record.id is None:
        return None
    if record.workflow_key == POLICY:
        versions = sorted(
            records_in_states(
                session,
                workflow_key=POLICY,
                states=(IN_FORCE, SUPERSEDED_POLICY, "drafting", "awaiting_approval"),
            ),
            key=lambda r: r.id or 0,
        )
    else:
        versions = versions_of(session, number=str(record.data.get("document_number") or ""))
    ordinal = {r.id: index for index, r in enumerate(versions, start=1) if r.id is not None}
    earlier = [r for r in versions if (r.id or 0) < record.id]
    previous = next((r for r in versions if r.id == compare_to), None) if compare_to else None
    previous = previous or (earlier[-1] if earlier else None)
    text, note = content_text(session, org_id=org_id, record=record, evidence_store=evidence_store)
    view = DocumentView(
        record=record,
        versions=versions,
        ordinal=ordinal,
        content_html=markdown_html(text) if written_text(record).strip() else "",
        content_text=text,
        reading=reading_status(session, org_id=org_id, record=record) if is_current(record) else None,
        previous=previous,
        text_note=note,
    )
    if previous is not None:
        before, _ = content_text(session, org_id=org_id, record=previous, evidence_store=evidence_store)
        view.diff = line_diff(before, text)
    if view.obsolete:
        view.withdrawn_reason = last_comment(session, record_id=record.id, action=WITHDRAW) or last_comment(
            session, record_id=record.id, action="supersede"
        )
    if record.workflow_key == WORKFLOW:
        view.next_review = next_review(session, record)
    return view


# ---- the docx of a version ------------------------------------------------------------------------


def version_docx(
    *,
    view: DocumentView,
    workflow: Workflow,
    signatures: Iterable[SignatureView],
    names: Names,
    organization_name: str,
    exported_by: str,
    type_label: str,
    state_label: str,
) -> bytes:
    record = view.record
    number = str(record.data.get("document_number") or record.number)
    title = f"{number} {record.title}"
    document = new_document(organization=organization_name, title=title, author=exported_by)
    if view.obsolete:
        stamp_obsolete(document, note=state_label)
    heading(document, f"{number}　{record.title}", level=1)
    rows = [
        ["文件编号 Number", number],
        ["文件类型 Type", type_label],
        [
            "版次 Version",
            f"第 {view.ordinal.get(record.id or 0, 1)} 版"
            + (f"（{record.data['edition']}）" if record.data.get("edition") else ""),
        ],
        ["状态 State", state_label],
        [
            "生效日期 Effective",
            str(record.data.get("effective_date") or record.data.get("effective_from") or ""),
        ],
        [
            "负责人 Owner",
            names.users.get(record.data.get("owner") or 0, "")
            if isinstance(record.data.get("owner"), int)
            else "",
        ],
        ["条款 Clauses", "、".join(record.clause_refs)],
        ["本版原因 Reason", str(record.data.get("change_reason") or record.data.get("change_note") or "")],
    ]
    if view.withdrawn_reason:
        rows.append(["作废原因 Why obsolete", view.withdrawn_reason])
    docx_table(document, ["项目 Item", "内容 Content"], rows, widths_mm=(40, 116))
    heading(document, "正文 Text", level=2)
    for line in (view.content_text or "").splitlines():
        stripped = line.lstrip("#").strip() if line.startswith("#") else line
        if line.startswith("#"):
            heading(document, stripped, level=min(line.count("#", 0, 4) + 1, 3))
        elif line.strip():
            paragraph(document, line)
    if not view.content_text and isinstance(record.data.get("file"), int):
        paragraph(document, "正文见所附文件（原件随附下载） / The text is the attached file.")
    approvers = signature_approvers(workflow, signatures) or [Approver(role="批准 Approved")]
    approval_block(
        document,
        [Approver(role="编制 Prepared", name=names.users.get(record.created_by or 0, "")), *approvers],
    )
    return docx_bytes(document)


def original_file(
    session: Session, *, org_id: int, view: DocumentView, evidence_store: EvidenceStore
) -> tuple[str, str, bytes] | None:
    """The uploaded file as (name, content type, bytes); a docx of a superseded or withdrawn version comes
    with the 作废 mark stamped in, and the name of any such file says so."""
    file_id = view.record.data.get("file")
    if not isinstance(file_id, int):
        return None
    stored = read_evidence(session, org_id=org_id, evidence_id=file_id, evidence_store=evidence_store)
    name, content = stored.file.filename, stored.content
    if view.obsolete:
        # A docx Word could not open either is served as stored: its name is marked below.
        if name.lower().endswith(".docx"):
            with suppress(UnreadableDocument):
                content = stamped_docx(content, note="本文件已作废，仅供查阅 / For reference only")
        name = f"作废-OBSOLETE-{name}"
    return name, stored.file.content_type, content


def role_names(values: Iterable[str], locale: str = "zh_CN") -> str:
    labels = {ALL_STAFF: ("全体员工", "All staff"), **ROLE_LABELS}
    index, separator = (0, "、") if locale.startswith("zh") else (1, ", ")
    return separator.join(labels[v][index] for v in values if v in labels)
