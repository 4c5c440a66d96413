#!/usr/bin/env python3
"""Verify a Tanguan evidence pack offline: `python3 verify_pack.py PACK.zip [--public-key HEX]`.

Standard library only (Python 3.9+). The same file is `tanguan pack verify` and travels inside every pack
(verify/verify_pack.py, with offline.py and ed25519.py beside it). It checks, and on failure names the file
or the audit event that does not match:
1. the zip itself: every byte belongs to an entry, a header or the directory, and each of those holds the
   values the exporter writes (so a changed byte anywhere is found);
2. the manifest's Ed25519 signature, by the public key it names (compare that key with the one the
   enterprise gave you, or pass it with --public-key);
3. every file's SHA-256 and size against the manifest, and no file more or less;
4. the audit-trail slice: every hash recomputed, every link, and its end against the signed checkpoints;
5. that every record's audit events are in the slice and every evidence file it names is in the pack.
Exit status 0 when everything matches, 1 otherwise.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

try:
    from engine.audit_trail import ed25519
    from engine.audit_trail.offline import against_checkpoints, chain_slice_problem, checkpoint_problem
except ImportError:  # run from inside an unpacked pack
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import ed25519  # type: ignore[no-redef]
    from offline import against_checkpoints, chain_slice_problem, checkpoint_problem  # type: ignore[no-redef]

FORMAT = "tanguan-evidence-pack/1"
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644 << 16
UTF8_NAMES = 0x800
_LOCAL = struct.Struct("<4s5H3L2H")
_END = struct.Struct("<4s4H2LH")


class PackProblem(Exception):
    """What does not match, naming the file or the event."""


def _local_headers(handle: BinaryIO, infos: list[zipfile.ZipInfo], directory_start: int) -> None:
    """Each local header repeats its directory entry, and entries follow each other with no gap."""
    position = 0
    for info in infos:
        if info.header_offset != position:
            raise PackProblem(f"{info.filename}: bytes before the entry that belong to no file")
        handle.seek(position)
        fields = _LOCAL.unpack(handle.read(_LOCAL.size))
        name = handle.read(fields[9])
        extra = handle.read(fields[10])
        expected = (
            b"PK\x03\x04",
            info.extract_version,
            info.flag_bits,
            info.compress_type,
            *_dos_time(info.date_time),
            info.CRC,
            info.compress_size,
            info.file_size,
        )
        if fields[:9] != expected or name != _encoded_name(info) or extra != info.extra:
            raise PackProblem(f"{info.filename}: its local header differs from the directory (changed)")
        position = handle.tell() + info.compress_size
    if position != directory_start:
        raise PackProblem("bytes between the last file and the directory that belong to no file")


def _dos_time(moment: tuple[int, ...]) -> tuple[int, int]:
    year, month, day, hour, minute, second = moment
    return (hour << 11) | (minute << 5) | (second // 2), ((year - 1980) << 9) | (month << 5) | day


def _encoded_name(info: zipfile.ZipInfo) -> bytes:
    return info.filename.encode("utf-8" if info.flag_bits & UTF8_NAMES else "cp437")


def _zip_structure(path: Path, archive: zipfile.ZipFile) -> None:
    infos = archive.infolist()
    if archive.comment:
        raise PackProblem("the zip has a comment the exporter never writes (changed)")
    for info in infos:
        name = info.filename
        if name.startswith("/") or "\\" in name or ".." in name.split("/") or name.endswith("/"):
            raise PackProblem(f"{name}: not a plain relative file name")
        canonical = (
            info.date_time == EPOCH
            and info.external_attr == FILE_MODE
            and info.internal_attr == 0
            and info.create_system == 3
            and info.comment == b""
            and info.volume == 0
            and info.flag_bits & ~UTF8_NAMES == 0
            and info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
            and info.create_version == info.extract_version
        )
        if not canonical:
            raise PackProblem(f"{name}: its directory entry holds values the exporter never writes (changed)")
    size = path.stat().st_size
    with open(path, "rb") as handle:
        handle.seek(size - _END.size)
        end = handle.read(_END.size)
        directory_start = archive.start_dir
        expected_end = _END.pack(
            b"PK\x05\x06",
            0,
            0,
            len(infos),
            len(infos),
            size - _END.size - directory_start,
            directory_start,
            0,
        )
        if end != expected_end:
            raise PackProblem("the zip's end record is not what the exporter writes (changed or truncated)")
        _local_headers(handle, infos, directory_start)
    names = [info.filename for info in infos]
    if len(set(names)) != len(names):
        raise PackProblem("a file name appears twice in the zip")


def _read(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except KeyError:
        raise PackProblem(f"{name}: missing from the pack") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise PackProblem(f"{name}: unreadable ({error})") from None


def _sha256(archive: zipfile.ZipFile, name: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    try:
        with archive.open(name) as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise PackProblem(f"{name}: unreadable ({error})") from None
    return digest.hexdigest(), size


def _lines(archive: zipfile.ZipFile, name: str) -> Iterator[dict[str, Any]]:
    try:
        with archive.open(name) as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except ValueError:
                        raise PackProblem(f"{name}: line {number} is not JSON") from None
    except KeyError:
        raise PackProblem(f"{name}: missing from the pack") from None


def _manifest(archive: zipfile.ZipFile, public_key: str | None) -> dict[str, Any]:
    raw = _read(archive, MANIFEST)
    try:
        manifest = json.loads(raw)
        key = bytes.fromhex(manifest["public_key"])
        signature = bytes.fromhex(_read(archive, SIGNATURE).decode().strip())
    except (ValueError, KeyError, TypeError):
        raise PackProblem(f"{MANIFEST} or {SIGNATURE}: malformed") from None
    if manifest.get("format") != FORMAT:
        raise PackProblem(f"{MANIFEST}: not a {FORMAT} manifest")
    if public_key and manifest["public_key"] != public_key.lower():
        raise PackProblem(f"{MANIFEST}: signed by key {manifest['public_key']}, not by the key you trust")
    if not ed25519.verify(key, raw, signature):
        raise PackProblem(f"{MANIFEST}: its signature does not verify (the manifest was changed)")
    return dict(manifest)


def _files(archive: zipfile.ZipFile, manifest: dict[str, Any]) -> None:
    listed = [entry["path"] for entry in manifest["files"]]
    present = [name for name in archive.namelist() if name not in (MANIFEST, SIGNATURE)]
    for name in sorted(set(present) - set(listed)):
        raise PackProblem(f"{name}: in the pack but not in the manifest (added)")
    for entry in manifest["files"]:
        digest, size = _sha256(archive, entry["path"])
        if digest != entry["sha256"] or size != entry["size"]:
            raise PackProblem(f"{entry['path']}: SHA-256 or size differs from the manifest (changed)")
    sums = "".join(
        f"{entry['sha256']}  {entry['path']}\n"
        for entry in manifest["files"]
        if entry["path"] != "SHA256SUMS"
    )
    if _read(archive, "SHA256SUMS").decode() != sums:
        raise PackProblem("SHA256SUMS: differs from the manifest")


def _audit(archive: zipfile.ZipFile, manifest: dict[str, Any]) -> set[int]:
    trusted = [manifest["public_key"]]
    checkpoints = list(_lines(archive, "audit/checkpoints.jsonl"))
    for checkpoint in checkpoints:
        problem = checkpoint_problem(checkpoint, trusted_keys=trusted)
        if problem or checkpoint.get("org_id") != manifest["organization"]["id"]:
            raise PackProblem(f"audit/checkpoints.jsonl: {problem or 'a checkpoint of another organization'}")
    anchor = manifest["checkpoint"]
    if anchor not in checkpoints:
        raise PackProblem("audit/checkpoints.jsonl: the export's checkpoint is missing")
    events = list(_lines(archive, "audit/events.jsonl"))
    bad_seq, problem = chain_slice_problem(events)
    if problem:
        raise PackProblem(f"audit/events.jsonl: {problem}")
    seqs = {int(event["seq"]): event["hash"] for event in events}
    last = max(seqs, default=0)
    if last != anchor["seq"]:
        raise PackProblem(
            f"audit/events.jsonl: ends at event {last}, the export's checkpoint at {anchor['seq']}"
        )
    first = min(seqs, default=0)
    inside = [c for c in checkpoints if first <= int(c["seq"]) <= last]
    bad_seq, problem = against_checkpoints(seqs, last_seq=last, checkpoints=inside)
    if problem:
        raise PackProblem(f"audit/events.jsonl: {problem}")
    return set(seqs)


def _records(archive: zipfile.ZipFile, manifest: dict[str, Any], audit_seqs: set[int]) -> int:
    listed = {entry["path"]: entry["sha256"] for entry in manifest["files"]}
    count = 0
    for path in listed:
        if not (path.startswith("records/") and path.endswith(".json")):
            continue
        record = json.loads(_read(archive, path))
        missing = [seq for seq in record["audit_events"] if seq not in audit_seqs]
        if missing:
            raise PackProblem(f"{path}: its audit event {missing[0]} is not in audit/events.jsonl")
        for evidence in record["evidence"]:
            if listed.get(evidence["path"]) != evidence["sha256"]:
                raise PackProblem(f"{path}: evidence {evidence['path']} is missing or differs")
        count += 1
    return count


def verify(path: Path, *, public_key: str | None = None) -> list[str]:
    """What was checked, one line each; raises PackProblem at the first mismatch."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise PackProblem(f"{path.name}: not a readable zip ({error})") from None
    with archive:
        _zip_structure(path, archive)
        manifest = _manifest(archive, public_key)
        _files(archive, manifest)
        audit_seqs = _audit(archive, manifest)
        records = _records(archive, manifest, audit_seqs)
    anchor = manifest["checkpoint"]
    return [
        f"zip structure: {len(manifest['files']) + 2} entries, every byte accounted for",
        f"manifest signature: OK (Ed25519 public key {manifest['public_key']})",
        f"files: {len(manifest['files'])} SHA-256 match the manifest",
        f"audit trail: {len(audit_seqs)} events link and hash, ending at the checkpoint signed "
        f"{anchor['signed_at']} (seq {anchor['seq']})",
        f"records: {records}, each with its audit events and evidence files in the pack",
    ]


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    public_key = argv[argv.index("--public-key") + 1] if "--public-key" in argv else None
    try:
        for line in verify(Path(argv[0]), public_key=public_key):
            print(f"OK  {line}")
    except PackProblem as problem:
        print(f"FAILED  {problem}")
        return 1
    print("PACK VERIFIED / 证据包校验通过")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
