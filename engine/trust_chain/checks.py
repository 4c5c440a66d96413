"""The checks each step of the trust chain shows: a file hashed again and compared with the hash recorded
at upload; a record's signatures verified against the content they cover."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from engine.evidence.models import EvidenceFile
from engine.forms.spec import Text
from engine.records.signatures import SignatureView, signatures_of
from engine.storage import EvidenceStore, StoreUnavailable
from engine.workflow.models import Record


@dataclass(frozen=True)
class Keys:
    """What the checks need from the installation: the signing keys and the evidence store."""

    secret_key: str
    old_secret_keys: tuple[str, ...]
    evidence_store: EvidenceStore


@dataclass(frozen=True)
class HashCheck:
    subject: Text  # what was checked
    recorded: str | None  # the hash recorded at the time (upload, freezing, signing)
    computed: str | None  # the same hash computed now (None: nothing to compute it from)
    note: Text | None = None

    @property
    def ok(self) -> bool:
        return self.recorded is not None and self.recorded == self.computed


@dataclass(frozen=True)
class CheckedFile:
    id: int
    item_id: int
    name: str
    version: int
    uploaded_at: datetime
    valid_until: date | None
    withdrawn: bool
    check: HashCheck


MISSING = Text(zh="证据库中找不到该文件", en="the file is missing from the evidence store")
UNREACHABLE = Text(zh="证据存储暂时无法访问，未能校验", en="the evidence store cannot be reached")


def checked_file(row: EvidenceFile, *, keys: Keys) -> CheckedFile:
    try:
        computed, note = keys.evidence_store.sha256_of(row.sha256), MISSING
    except StoreUnavailable:
        computed, note = None, UNREACHABLE
    assert row.id is not None
    return CheckedFile(
        id=row.id,
        item_id=row.item_id or row.id,
        name=row.filename,
        version=row.version,
        uploaded_at=row.uploaded_at,
        valid_until=row.valid_until,
        withdrawn=row.withdrawn_at is not None,
        check=HashCheck(
            Text(zh=f"文件 {row.filename}", en=f"file {row.filename}"),
            row.sha256,
            computed,
            note if computed is None else None,
        ),
    )


def checked_files(
    session: Session, *, org_id: int, keys: Keys, ids: Iterable[int] = (), hashes: Iterable[str | None] = ()
) -> list[CheckedFile]:
    """The organization's evidence files with these ids or content hashes, each hashed again."""
    wanted_ids, wanted_hashes = sorted(set(ids)), sorted({h for h in hashes if h})
    if not wanted_ids and not wanted_hashes:
        return []
    query = select(EvidenceFile).where(EvidenceFile.org_id == org_id)
    query = query.where(col(EvidenceFile.id).in_(wanted_ids) | col(EvidenceFile.sha256).in_(wanted_hashes))
    return [checked_file(row, keys=keys) for row in session.exec(query.order_by(col(EvidenceFile.id))).all()]


def unknown_hashes(files: Sequence[CheckedFile], hashes: Iterable[str | None]) -> list[str]:
    """Hashes that data names but no evidence row of the organization holds."""
    known = {file.check.recorded for file in files}
    return sorted({h for h in hashes if h and h not in known})


@dataclass(frozen=True)
class CheckedRecord:
    record: Record
    signatures: list[SignatureView]

    @property
    def signed_and_valid(self) -> bool:
        return bool(self.signatures) and all(s.status == "valid" for s in self.signatures)


def checked_record(session: Session, *, record: Record, keys: Keys) -> CheckedRecord:
    """The record with its signatures, each verified (seal and the content it covers)."""
    return CheckedRecord(
        record,
        signatures_of(
            session, record=record, secret_key=keys.secret_key, old_secret_keys=keys.old_secret_keys
        ),
    )
