"""Evidence files: uploaded once, stored by their SHA-256, checked again whenever they are read.

The stored path comes from the hash, never from the user's file name. An upload is refused before it is
kept when it is too large, of a type not on the allow-list, not what its extension says (magic bytes),
or a zip container (docx, xlsx) that would unpack to too much. The bytes are kept (in a directory or an
S3-compatible bucket: engine/storage.py) before the row is committed, so a committed row always
has its file; a rolled-back upload can leave an unreferenced file, which ``orphan_files`` lists.
"""

import hashlib
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO

from sqlmodel import Session, col, select

from engine.audit import Actor, append_event
from engine.evidence.models import EvidenceFile
from engine.identity.models import User
from engine.storage import EvidenceStore, StoredObject, StoreUnavailable

# Extension → (content type, magic prefixes; None means UTF-8/GB18030 text without NUL bytes).
ALLOWED_TYPES: dict[str, tuple[str, tuple[bytes, ...] | None]] = {
    ".pdf": ("application/pdf", (b"%PDF-",)),
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (b"PK\x03\x04",)),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", (b"PK\x03\x04",)),
    ".csv": ("text/csv", None),
    ".txt": ("text/plain", None),
}
ZIP_MAX_ENTRIES = 1000
ZIP_MAX_UNPACKED = 100 * 1024 * 1024
ZIP_MAX_RATIO = 100
CHUNK = 1024 * 1024
UNAVAILABLE_ZH = "证据存储暂时无法访问，请稍后再试"
UNAVAILABLE_EN = "the evidence store cannot be reached; try again later"
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


class EvidenceError(ValueError):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.message_zh = zh
        self.message_en = en


def display_name(filename: str) -> str:
    """The user's file name, kept only for showing and for the download name: no path, no control or
    bidirectional-override characters, at most 200 characters (the extension kept)."""
    name = unicodedata.normalize("NFC", filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cf", "Cc"))
    name = _UNSAFE_NAME.sub("_", name).strip(" .") or "evidence"
    stem, dot, extension = name.rpartition(".")
    if dot and len(extension) <= 10:
        return stem[: 200 - len(extension) - 1] + "." + extension
    return name[:200]


def check_bytes(content: bytes, *, extension: str) -> None:
    """The checks an upload of this type passes (text encoding, or magic bytes, zip limits and no XML
    declarations), on bytes held in memory (small files such as report templates)."""
    from io import BytesIO

    _check_content(BytesIO(content), extension, content[:65536])


def _check_content(path: Path | IO[bytes], extension: str, head: bytes) -> None:
    content_type, magic = ALLOWED_TYPES[extension]
    if magic is None:
        sample = head[:65536]
        if b"\x00" in sample:
            raise EvidenceError("文本文件中含有二进制内容", "the text file contains binary data")
        for encoding in ("utf-8", "gb18030"):
            try:
                sample.decode(encoding)
                break
            except UnicodeDecodeError as error:
                if error.start >= len(sample) - 4:  # a character cut at the sample's end
                    break
        else:
            raise EvidenceError(
                "文本文件编码无法识别（应为 UTF-8 或 GB18030）", "the text is not UTF-8 or GB18030"
            )
        return
    if not head.startswith(magic):
        raise EvidenceError(
            f"文件内容与扩展名 {extension} 不符",
            f"the file's content does not match its extension {extension}",
        )
    if magic == (b"PK\x03\x04",):
        _check_zip(path)


def _check_zip(path: Path | IO[bytes], *, nested: bool = False) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            _check_entries(entries)
            for entry in entries:
                if not entry.is_dir():
                    _check_part(archive, entry, nested=nested)
    except zipfile.BadZipFile:
        raise EvidenceError(
            "文件已损坏（不是有效的 Office 文件）", "the file is damaged (not a valid Office file)"
        ) from None


def _check_entries(entries: list[zipfile.ZipInfo]) -> None:
    unpacked = sum(entry.file_size for entry in entries)
    packed = sum(entry.compress_size for entry in entries) or 1
    if len(entries) > ZIP_MAX_ENTRIES or unpacked > ZIP_MAX_UNPACKED or unpacked / packed > ZIP_MAX_RATIO:
        raise EvidenceError("文件解压后过大，已拒收", "the file would unpack to too much and was refused")
    for entry in entries:
        name = entry.filename
        if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or "\x00" in name:
            raise EvidenceError("文件中含有不安全的路径", "the file contains an unsafe path")
        if (entry.external_attr >> 16) & 0o170000 == 0o120000:
            raise EvidenceError("文件中含有符号链接", "the file contains a symbolic link")


_DECLARATIONS = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def _check_part(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, *, nested: bool) -> None:
    """One part, streamed (its unpacked size is already bounded): an XML part may not declare a DOCTYPE or
    entities (XXE, billion laughs — Office never writes them); an embedded archive (an Office file in
    ``embeddings/``) passes the same checks once, and an archive inside that one is refused."""
    with archive.open(entry) as part:
        head = part.read(4)
        if head == b"PK\x03\x04":
            if nested:
                raise EvidenceError("文件中含有多层嵌套的压缩包", "the file contains nested archives")
            with tempfile.SpooledTemporaryFile(max_size=CHUNK) as inner:
                inner.write(head)
                while chunk := part.read(CHUNK):
                    inner.write(chunk)
                inner.seek(0)
                _check_zip(inner, nested=True)
            return
        codec = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}.get(head[:2])
        tail = b""
        chunk = head
        while chunk:
            text = (tail + chunk).decode(codec, "ignore").encode() if codec else tail + chunk
            if _DECLARATIONS.search(text):
                raise EvidenceError(
                    "文件中含有 XML 实体声明（DOCTYPE/ENTITY），已拒收",
                    "the file contains XML DOCTYPE/ENTITY declarations and was refused",
                )
            tail = (tail + chunk)[-32:]
            chunk = part.read(CHUNK)


@dataclass(frozen=True)
class ValidityPeriod:
    """Who answers for a file and when it is valid (both optional): a calibration certificate for a year,
    a lab report for its sample month."""

    owner_id: int | None = None
    valid_from: date | None = None
    valid_until: date | None = None

    def check(self) -> None:
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise EvidenceError("有效期止不得早于有效期起", "valid until cannot be before valid from")

    def changes(self, owner_name: str | None) -> dict[str, list[object]]:
        """For the audit trail: the owner by name, dates as ISO text."""
        return {
            key: [None, value.isoformat() if isinstance(value, date) else value]
            for key, value in (
                ("owner", owner_name),
                ("valid_from", self.valid_from),
                ("valid_until", self.valid_until),
            )
            if value is not None
        }


def person_name(session: Session, user_id: int | None) -> str | None:
    user = session.get(User, user_id) if user_id is not None else None
    return user.display_name if user else None


def _size_text(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB" if size >= 1024 * 1024 else f"{size / 1024:g} KiB"


def store_evidence(
    session: Session,
    *,
    org_id: int,
    actor: Actor,
    evidence_store: EvidenceStore,
    filename: str,
    chunks: Iterable[bytes],
    max_bytes: int,
    period: ValidityPeriod | None = None,
) -> EvidenceFile:
    """Check and keep one uploaded file; the same bytes uploaded again in the organization give the
    existing row. Raises EvidenceError (zh/en) and keeps nothing when the file is refused. ``period``: the
    owner (default: the uploader) and the validity of a new file."""
    period = period or ValidityPeriod()
    period.check()
    name = display_name(filename)
    extension = os.path.splitext(name)[1].lower()
    if extension not in ALLOWED_TYPES:
        allowed = ", ".join(sorted(ALLOWED_TYPES))
        raise EvidenceError(
            f"不接受此类文件（可上传 {allowed}）", f"this type of file is not accepted ({allowed})"
        )
    if evidence_store.spool_dir is not None:
        evidence_store.spool_dir.mkdir(parents=True, exist_ok=True)
    digest, size, head = hashlib.sha256(), 0, b""
    descriptor, temporary_name = tempfile.mkstemp(dir=evidence_store.spool_dir)
    temporary = Path(temporary_name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    limit = _size_text(max_bytes)
                    raise EvidenceError(
                        f"文件超过上限 {limit}", f"the file is larger than the limit of {limit}"
                    )
                if len(head) < 65536:
                    head += chunk[: 65536 - len(head)]
                digest.update(chunk)
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        if size == 0:
            raise EvidenceError("文件是空的", "the file is empty")
        _check_content(temporary, extension, head)
        sha256 = digest.hexdigest()
        try:
            evidence_store.keep(sha256, temporary)  # new, or a damaged stored copy: the upload replaces it
        except StoreUnavailable:
            raise EvidenceError(UNAVAILABLE_ZH, UNAVAILABLE_EN) from None
    finally:
        temporary.unlink(missing_ok=True)
    existing = session.exec(
        select(EvidenceFile).where(EvidenceFile.org_id == org_id, EvidenceFile.sha256 == sha256)
    ).first()
    if existing is not None:
        return existing
    row = EvidenceFile(
        org_id=org_id,
        sha256=sha256,
        filename=name,
        content_type=ALLOWED_TYPES[extension][0],
        size_bytes=size,
        uploaded_by=actor.id,
        owner_id=period.owner_id or actor.id,
        valid_from=period.valid_from,
        valid_until=period.valid_until,
    )
    session.add(row)
    session.flush()
    assert row.id is not None
    row.item_id = row.id
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="evidence",
        subject_id=row.id,
        action="uploaded",
        changes={
            "sha256": [None, sha256],
            "filename": [None, name],
            "size_bytes": [None, size],
            **period.changes(person_name(session, row.owner_id)),
        },
    )
    return row


def find_evidence(session: Session, *, org_id: int, sha256: str) -> EvidenceFile | None:
    return session.exec(
        select(EvidenceFile).where(EvidenceFile.org_id == org_id, EvidenceFile.sha256 == sha256)
    ).first()


def evidence_by_hash(
    session: Session, *, org_id: int, hashes: Iterable[str | None]
) -> dict[str, EvidenceFile]:
    wanted = sorted({h for h in hashes if h})
    if not wanted:
        return {}
    rows = session.exec(
        select(EvidenceFile).where(EvidenceFile.org_id == org_id, col(EvidenceFile.sha256).in_(wanted))
    ).all()
    return {row.sha256: row for row in rows}


@dataclass(frozen=True)
class EvidenceContent:
    file: EvidenceFile
    content: bytes


def read_evidence(
    session: Session, *, org_id: int, evidence_id: int, evidence_store: EvidenceStore
) -> EvidenceContent:
    """The file's bytes, after checking they still hash to what was recorded at upload."""
    row = session.exec(
        select(EvidenceFile).where(EvidenceFile.org_id == org_id, EvidenceFile.id == evidence_id)
    ).first()
    if row is None:
        raise LookupError(evidence_id)
    try:
        content = evidence_store.read(row.sha256)
    except FileNotFoundError:
        raise EvidenceError("证据文件缺失", "the evidence file is missing from the store") from None
    except StoreUnavailable:
        raise EvidenceError(UNAVAILABLE_ZH, UNAVAILABLE_EN) from None
    if hashlib.sha256(content).hexdigest() != row.sha256:
        raise EvidenceError(
            "证据文件已被改动（SHA-256 与上传时不符）",
            "the evidence file was altered (SHA-256 differs from upload)",
        )
    return EvidenceContent(row, content)


def orphan_files(session: Session, *, evidence_store: EvidenceStore) -> list[StoredObject]:
    """Stored files that no organization's row refers to (left by rolled-back uploads)."""
    known = set(session.exec(select(EvidenceFile.sha256)).all())
    return [stored for stored in evidence_store.stored() if stored.sha256 not in known]


def abandoned_uploads(*, evidence_store: EvidenceStore) -> list[Path]:
    """Uploads a process was killed while spooling: files left in the store's own spool directory (the
    system's temporary directory, used where there is none, is not searched)."""
    spool = evidence_store.spool_dir
    return (
        [path for path in spool.glob("*") if path.is_file()] if spool is not None and spool.is_dir() else []
    )


def evidence_names(session: Session, *, ids: Iterable[int]) -> dict[int, str]:
    """The file names of the session's organization's evidence with these ids."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = session.exec(
        select(EvidenceFile.id, EvidenceFile.filename).where(col(EvidenceFile.id).in_(wanted))
    )
    return {evidence_id: name for evidence_id, name in rows.all() if evidence_id is not None}
