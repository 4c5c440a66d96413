"""The evidence pack (issue 13, item 3; RELIABILITY T10): exported by the real command from the demo,
verified by `tanguan pack verify` and by the stdlib script inside it, equal to the database field by
field, and any changed byte is found and named."""

import json
import random
import subprocess
import sys
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from engine.evidence_pack.verify_pack import PackProblem, verify
from engine.reports.pdf import pdf_converter
from tests.engine.test_cli import env, run  # noqa: F401 (env is a fixture)

PERIOD = ("--from", "2025-01-01", "--to", "2026-12-31")


@pytest.fixture
def pack(env, tmp_path) -> tuple[Path, dict[str, str]]:  # noqa: F811
    run("demo", env=env)
    path = tmp_path / "pack-7.2.zip"
    pdf = "--pdf" if pdf_converter() else "--no-pdf"
    out = run(
        "pack",
        "export",
        "--org",
        "xiangfeng-cement",
        "--clause",
        "7.2",
        *PERIOD,
        pdf,
        "-o",
        str(path),
        env=env,
    )
    assert "records" in out.stdout and path.exists()
    return path, env


def check_it_verifies_with_the_command_and_with_its_own_script(pack, tmp_path):
    path, environment = pack
    verified = run("pack", "verify", str(path), env=environment)
    assert "PACK VERIFIED" in verified.stdout and "a key you trust" in verified.stdout
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(path) as archive:
        archive.extractall(unpacked)
        names = archive.namelist()
    assert {"index.html", "index.docx", "README.md", "SHA256SUMS", "audit/events.jsonl"} <= set(names)
    assert any(name.startswith("evidence/") for name in names)
    if pdf_converter():
        assert any(name.endswith(".pdf") for name in names)
    # The script inside, with nothing but Python's standard library (-I: no site packages, no cwd).
    script = subprocess.run(
        [sys.executable, "-I", str(unpacked / "verify" / "verify_pack.py"), str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert script.returncode == 0 and "PACK VERIFIED" in script.stdout, script.stdout + script.stderr
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=unpacked, capture_output=True, text=True)
    assert sums.returncode == 0 and ": FAILED" not in sums.stdout
    # A key the auditor was given by another channel, and a different one.
    key = run("audit", "public-key", env=environment).stdout.strip()
    assert run("pack", "verify", str(path), "--public-key", key, env=environment).returncode == 0
    other = run("pack", "verify", str(path), "--public-key", "ab" * 32, env=environment, check=False)
    assert other.returncode == 1 and "not a key you trust" in other.stdout


def _moment(value):
    """A date or time as the database or the JSON gives it, as one comparable value (UTC)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and len(value) == 10:
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def check_every_record_equals_the_database(pack):
    """T10: each record's JSON equals its row field by field; its audit events are the database's."""
    path, environment = pack
    engine = create_engine(
        environment["TANGUAN_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://")
    )
    fields = compared = 0
    with zipfile.ZipFile(path) as archive, engine.connect() as connection:
        exported = [
            json.loads(archive.read(n))
            for n in archive.namelist()
            if n.startswith("records/") and n.endswith(".json")
        ]
        assert exported
        for record in exported:
            row = (
                connection.execute(text("SELECT * FROM record WHERE id = :i"), {"i": record["id"]})
                .mappings()
                .one()
            )
            for column, value in row.items():
                shown = record[column]
                stored = json.loads(value) if isinstance(value, str) and not isinstance(shown, str) else value
                if column.endswith(("_at", "_date")) and stored is not None:
                    shown, stored = _moment(shown), _moment(stored)
                assert shown == stored, (record["number"], column)
                fields += 1
            audited = (
                connection.execute(
                    text(
                        "SELECT seq FROM audit_event "
                        "WHERE subject_type = 'record' AND subject_id = :i ORDER BY seq"
                    ),
                    {"i": str(record["id"])},
                )
                .scalars()
                .all()
            )
            assert record["audit_events"] == list(audited)
            assert f"records/{record['number']}.docx" in archive.namelist()
            compared += 1
    print(f"\nT10 pack: records={compared} fields compared={fields} mismatches=0 audit rows equal={compared}")


def check_a_changed_byte_anywhere_is_detected_and_named(pack, tmp_path):
    path, _ = pack
    original = path.read_bytes()
    rng = random.Random(13)
    positions = sorted(rng.sample(range(len(original)), 150))
    detected = 0
    for position in positions:
        changed = bytearray(original)
        changed[position] ^= 1 << rng.randrange(8)
        target = tmp_path / "changed.zip"
        target.write_bytes(bytes(changed))
        try:
            verify(target)
        except PackProblem:
            detected += 1
    print(
        f"\npack tampering: changed bytes detected={detected}/{len(positions)} (pack {len(original)} bytes)"
    )
    assert detected == len(positions)
    # One byte inside an evidence file: the file is named.
    with zipfile.ZipFile(path) as archive:
        evidence = next(info for info in archive.infolist() if info.filename.startswith("evidence/"))
    changed = bytearray(original)
    changed[evidence.header_offset + 30 + len(evidence.filename.encode()) + len(evidence.extra)] ^= 0x20
    (tmp_path / "changed.zip").write_bytes(bytes(changed))
    with pytest.raises(PackProblem, match="evidence/"):
        verify(tmp_path / "changed.zip")


def test_the_demo_pack_verifies_equals_the_database_and_detects_any_changed_byte(pack, tmp_path):
    """One demo and one export per database (each takes seconds), three checks."""
    check_it_verifies_with_the_command_and_with_its_own_script(pack, tmp_path)
    check_every_record_equals_the_database(pack)
    check_a_changed_byte_anywhere_is_detected_and_named(pack, tmp_path)
