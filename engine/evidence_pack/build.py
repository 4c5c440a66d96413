"""The auditor's evidence pack (issue 13, item 3): for a clause (or all) and a period, one zip with an
index, every record as docx (and PDF where LibreOffice is installed) and JSON, the evidence files, the
slice of the audit trail that covers them with the checkpoints that anchor it, a manifest of every file's
SHA-256 signed with the installation's Ed25519 key, and the stdlib-only script that checks it all
(docs/adr/0032). Written as a stream: memory does not grow with the evidence."""

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import text
from sqlmodel import Session, col, select

from engine.audit import Actor, append_event
from engine.audit_trail import ed25519, offline
from engine.audit_trail.checkpoints import Checkpoint, checkpoints_of, sign_checkpoint, signing_seed
from engine.audit_trail.service import TrailEvent
from engine.clauses.coverage import ClauseRecord, _placed, clause_records, evidence_of
from engine.clauses.library import Clause, clause_library, find_clause
from engine.config import KeyRing
from engine.db import Database, driver_cursor
from engine.evidence.models import EvidenceFile
from engine.evidence_pack import verify_pack
from engine.evidence_pack.index import PackIndex, index_docx, index_html, readme
from engine.evidence_pack.writer import PackWriter
from engine.identity.models import Organization
from engine.records.display import CHINA_TIME, Names
from engine.records.queries import names_in, records_events
from engine.records.signatures import signatures_of, signed_record_ids
from engine.records.timeline import timeline_entries
from engine.reports.pdf import docx_to_pdf
from engine.reports.records import record_docx
from engine.storage import EvidenceStore
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.models import Record

PACK_ACTOR = Actor(None, "tanguan pack export")
RECORD_BATCH = 100
_VERIFIERS = (verify_pack, offline, ed25519)  # stdlib-only modules the pack carries


class PackError(ValueError):
    """A request that cannot be packed, said in one line."""


@dataclass(frozen=True)
class PackRequest:
    org_slug: str
    clause: str | None  # None: every clause
    date_from: date
    date_to: date


@dataclass(frozen=True)
class PackSummary:
    path: Path
    records: int
    evidence_files: int
    audit_events: int
    pdfs: int
    checkpoint: Checkpoint


def _utc_bounds(request: PackRequest) -> tuple[datetime, datetime]:
    start = datetime.combine(request.date_from, time(), CHINA_TIME).astimezone(UTC)
    end = datetime.combine(request.date_to + timedelta(days=1), time(), CHINA_TIME).astimezone(UTC)
    return start, end


def _organization(db: Database, slug: str) -> Organization:
    with db.read_session(all_orgs=True) as session:
        org = session.exec(select(Organization).where(Organization.slug == slug)).first()
    if org is None or org.id is None:
        raise PackError(f"no organization with slug {slug!r}")
    return org


def _clauses(request: PackRequest) -> tuple[Clause, ...]:
    if request.clause is None:
        return clause_library()
    clause = find_clause(request.clause)
    if clause is None:
        raise PackError(f"the standard has no clause {request.clause!r}")
    return (clause,)


def _selected(
    session: Session, *, catalog: WorkflowCatalog, request: PackRequest, clauses: tuple[Clause, ...]
) -> list[tuple[ClauseRecord, list[str]]]:
    """The records alive in the period and shown under the clauses, each with its clause numbers."""
    chosen = []
    for record in clause_records(
        session, catalog=catalog, first_year=request.date_from.year, last_year=request.date_to.year
    ):
        alive = record.created_on <= request.date_to and (
            record.closed_on is None or record.closed_on >= request.date_from
        )
        placed = _placed(record.clause_refs, clauses)
        if alive and placed:
            chosen.append((record, placed))
    return chosen


def _evidence_path(evidence: EvidenceFile) -> str:
    return f"evidence/{evidence.sha256[:16]}-{evidence.filename}"


def _evidence_chunks(store: EvidenceStore, expected: str, name: str) -> Iterator[bytes]:
    """The stored file, checked against its recorded hash as it streams into the pack."""
    import hashlib

    digest = hashlib.sha256()
    for chunk in store.chunks(expected):
        digest.update(chunk)
        yield chunk
    if digest.hexdigest() != expected:
        raise PackError(
            f"evidence file {name!r} in the evidence store does not match its recorded SHA-256: not packed"
        )


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True, default=str).encode()


def export_pack(
    db: Database,
    *,
    request: PackRequest,
    out: Path,
    catalog: WorkflowCatalog,
    key_ring: KeyRing,
    evidence_store: EvidenceStore,
    checkpoint_dir: Path | None,
    pdf: bool,
    exported_by: str = PACK_ACTOR.name,
) -> PackSummary:
    if request.date_from > request.date_to:
        raise PackError("the period ends before it starts")
    org = _organization(db, request.org_slug)
    assert org.id is not None
    clauses = _clauses(request)
    # The export is itself audited, then the head signed: the pack's trail ends at this checkpoint.
    with db.unit_of_work(org_id=org.id) as uow:
        append_event(
            uow.session,
            org_id=org.id,
            actor=Actor(None, exported_by),
            subject_type="evidence_pack",
            subject_id=request.clause or "all",
            action="exported",
            changes={"period": [None, f"{request.date_from} – {request.date_to}"]},
        )
        checkpoint = sign_checkpoint(
            uow.session, org_id=org.id, key_ring=key_ring, reason="pack", mirror_dir=checkpoint_dir
        )
    assert checkpoint is not None
    # Written beside the target and renamed when complete: a process killed mid-export (T23) leaves no
    # truncated pack where the finished one is expected.
    partial = out.with_name(f"{out.name}.part")
    writer = PackWriter(partial)
    try:
        with db.read_session(org_id=org.id) as session, tempfile.TemporaryDirectory() as scratch:
            summary = _write_pack(
                session,
                writer=writer,
                org=org,
                request=request,
                clauses=clauses,
                catalog=catalog,
                key_ring=key_ring,
                evidence_store=evidence_store,
                checkpoint=checkpoint,
                checkpoint_dir=checkpoint_dir,
                scratch=Path(scratch),
                pdf=pdf,
                exported_by=exported_by,
            )
        writer.close()
        os.replace(partial, out)
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    return PackSummary(out, *summary, checkpoint)


def _write_pack(
    session: Session,
    *,
    writer: PackWriter,
    org: Organization,
    request: PackRequest,
    clauses: tuple[Clause, ...],
    catalog: WorkflowCatalog,
    key_ring: KeyRing,
    evidence_store: EvidenceStore,
    checkpoint: Checkpoint,
    checkpoint_dir: Path | None,
    scratch: Path,
    pdf: bool,
    exported_by: str,
) -> tuple[int, int, int, int]:
    assert org.id is not None
    selected = _selected(session, catalog=catalog, request=request, clauses=clauses)
    evidence_ids = evidence_of(session, catalog=catalog, record_ids=[record.id for record, _ in selected])
    wanted = sorted({evidence_id for ids in evidence_ids.values() for evidence_id in ids})
    evidence = {
        row.id: row
        for row in session.exec(select(EvidenceFile).where(col(EvidenceFile.id).in_(wanted))).all()
    }
    for row in sorted(evidence.values(), key=lambda item: item.sha256):
        writer.add_chunks(
            _evidence_path(row),
            _evidence_chunks(evidence_store, row.sha256, row.filename),
            compress=False,
        )
    index = PackIndex(organization=org.name, request=request, clauses=clauses, exported_by=exported_by)
    first_seq, docx_paths = checkpoint.seq, []
    for start in range(0, len(selected), RECORD_BATCH):  # a batch at a time: memory stays flat
        batch = selected[start : start + RECORD_BATCH]
        read = _read_batch(session, org_id=org.id, catalog=catalog, ids=[summary.id for summary, _ in batch])
        for summary, placed in batch:
            record = read.records[summary.id]
            workflow = catalog.pinned(session, key=record.workflow_key, version=record.workflow_version)
            events = read.events[summary.id]
            first_seq = min([first_seq, *(event.seq for event in events)])
            names = read.names[record.workflow_key, record.workflow_version]
            signatures = (
                signatures_of(
                    session, record=record, secret_key=key_ring.signing, old_secret_keys=key_ring.old
                )
                if summary.id in read.signed
                else []
            )
            files = [
                {"id": e.id, "path": _evidence_path(e), "sha256": e.sha256, "filename": e.filename}
                for e in (evidence[i] for i in sorted(evidence_ids.get(summary.id, ())) if i in evidence)
            ]
            docx = record_docx(
                record=record,
                workflow=workflow,
                timeline=timeline_entries(events, workflow=workflow, names=names),
                signatures=signatures,
                names=names,
                organization_name=org.name,
                exported_by=exported_by,
            )
            export = record.model_dump(mode="json")
            export.update(
                audit_events=[event.seq for event in events],
                signatures=[signature.__dict__ for signature in signatures],
                evidence=files,
                clauses=placed,
            )
            index.add(record=record, workflow=workflow, clauses=placed, evidence=files)
            writer.add_bytes(f"records/{export['number']}.docx", docx, compress=False)
            writer.add_bytes(f"records/{export['number']}.json", _json(export))
            if pdf:
                docx_paths.append(scratch / f"{export['number']}.docx")
                docx_paths[-1].write_bytes(docx)
        session.expunge_all()  # the batch's rows leave the identity map
    pdfs = docx_to_pdf(docx_paths, out_dir=scratch / "pdf") if pdf else {}
    for source, rendered in sorted(pdfs.items()):
        writer.add_file(f"records/{source.stem}.pdf", rendered)
        index.pdfs.add(source.stem)
    if not selected:
        first_seq = _first_seq_since(session, org_id=org.id, request=request, last=checkpoint.seq)
    writer.add_chunks(
        "audit/events.jsonl", _event_lines(session, org.id, first_seq, checkpoint.seq), compress=True
    )
    checkpoints = [
        c.as_dict() for c in checkpoints_of(session.connection(), org_id=org.id, mirror_dir=checkpoint_dir)
    ]
    writer.add_bytes(
        "audit/checkpoints.jsonl",
        "".join(
            json.dumps(c, sort_keys=True, ensure_ascii=False) + "\n"
            for c in checkpoints
            if c["seq"] >= first_seq
        ).encode(),
    )
    writer.add_bytes("index.html", index_html(index).encode())
    writer.add_bytes("index.docx", index_docx(index), compress=False)
    writer.add_bytes("README.md", readme(index, public_key=checkpoint.public_key).encode())
    for module in _VERIFIERS:
        assert module.__file__ is not None
        writer.add_bytes(f"verify/{Path(module.__file__).name}", Path(module.__file__).read_bytes())
    sums = "".join(f"{entry['sha256']}  {entry['path']}\n" for entry in writer.files)
    writer.add_bytes("SHA256SUMS", sums.encode())
    manifest = _json(
        {
            "format": verify_pack.FORMAT,
            "organization": {"id": org.id, "slug": org.slug, "name": org.name},
            "clause": request.clause,
            "period": {"from": request.date_from.isoformat(), "to": request.date_to.isoformat()},
            "exported_at": checkpoint.signed_at,
            "exported_by": exported_by,
            "public_key": checkpoint.public_key,
            "checkpoint": checkpoint.as_dict(),
            "files": writer.files,
        }
    )
    writer.add_bytes(verify_pack.MANIFEST, manifest, listed=False)
    signature = ed25519.sign(signing_seed(key_ring.signing), manifest).hex()
    writer.add_bytes(verify_pack.SIGNATURE, signature.encode(), compress=False, listed=False)
    return len(selected), len(evidence), checkpoint.seq - first_seq + 1, len(pdfs)


@dataclass(frozen=True)
class _Batch:
    """What a batch of records points to, read in a few queries for the whole batch."""

    records: dict[int, Record]
    events: dict[int, list[TrailEvent]]
    names: dict[tuple[str, int], Names]  # by workflow and version: what all its records point to
    signed: set[int]  # the records with e-signatures


def _read_batch(session: Session, *, org_id: int, catalog: WorkflowCatalog, ids: list[int]) -> _Batch:
    records = {row.id: row for row in session.exec(select(Record).where(col(Record.id).in_(ids)))}
    events = records_events(session, record_ids=ids)
    workflows: dict[tuple[str, int], list[Record]] = {}
    for record in records.values():
        workflows.setdefault((record.workflow_key, record.workflow_version), []).append(record)
    names = {
        (key, version): names_in(
            session,
            org_id=org_id,
            workflow=catalog.pinned(session, key=key, version=version),
            records=group,
            events=[event for record in group for event in events[cast(int, record.id)]],
        )
        for (key, version), group in workflows.items()
    }
    return _Batch(
        {cast(int, i): r for i, r in records.items()},
        events,
        names,
        signed_record_ids(session, record_ids=ids),
    )


def _first_seq_since(session: Session, *, org_id: int, request: PackRequest, last: int) -> int:
    start, _ = _utc_bounds(request)
    found = session.execute(
        text("SELECT min(seq) FROM audit_event WHERE org_id = :o AND ts >= :t"),
        {"o": org_id, "t": start.strftime("%Y-%m-%dT%H:%M:%S")},
    ).scalar()
    return int(found or last)


def _event_lines(session: Session, org_id: int, first: int, last: int) -> Iterator[bytes]:
    cursor = driver_cursor(session.connection())
    param = "?" if session.get_bind().dialect.paramstyle == "qmark" else "%s"
    cursor.execute(
        f"SELECT seq, ts, prev_hash, hash, payload FROM audit_event WHERE org_id = {param} "
        f"AND seq BETWEEN {param} AND {param} ORDER BY seq",
        (org_id, first, last),
    )
    names = ("seq", "ts", "prev_hash", "hash", "payload")
    while batch := cursor.fetchmany(5000):
        yield "".join(
            json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False) + "\n" for row in batch
        ).encode()
