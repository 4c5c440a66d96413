"""RELIABILITY T06: every e-signature shows its signer's printed name, its time (China) and its meaning in
the record page, its Word export and that export's PDF; an edit after signing marks it outdated; a
signature row copied to another record does not verify."""

import io
import json
import subprocess

from docx import Document
from sqlalchemy import text

from engine.records.display import china_time
from engine.records.signatures import signatures_of
from engine.reports.pdf import docx_to_pdf, pdf_converter
from engine.workflow.models import Record
from tests.web.conftest import CATALOG, SECRET_KEY


def _docx_text(content: bytes) -> str:
    document = Document(io.BytesIO(content))
    cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    return "\n".join([p.text for p in document.paragraphs] + cells)


def _signed(web) -> list[tuple[int, int]]:
    with web.db.engine.connect() as connection:
        return [
            tuple(row) for row in connection.execute(text("SELECT id, record_id FROM signature ORDER BY id"))
        ]


def test_signatures_are_shown_in_every_rendition_and_detect_edits_and_transplants(web, tmp_path):
    signed = _signed(web)
    assert signed, "the demo signs records"
    signature_id, record_id = signed[0]
    client = web.as_role("carbon_manager")
    with web.db.read_session(all_orgs=True) as session:
        record = session.get(Record, record_id)
        view = next(
            v for v in signatures_of(session, record=record, secret_key=SECRET_KEY) if v.id == signature_id
        )
        meaning = CATALOG.get(record.workflow_key).signature_meaning(view.meaning).zh
    shown = china_time(view.signed_at)
    renditions = {"html": client.get(f"/r/{record_id}").text}
    docx = client.get(f"/r/{record_id}/export.docx")
    assert docx.status_code == 200
    renditions["docx"] = _docx_text(docx.content)
    if pdf_converter():
        source = tmp_path / "record.docx"
        source.write_bytes(docx.content)
        pdf = docx_to_pdf([source], out_dir=tmp_path / "pdf").get(source)
        assert pdf is not None, "LibreOffice is installed but did not convert"
        renditions["pdf"] = subprocess.run(
            ["pdftotext", str(pdf), "-"], capture_output=True, text=True
        ).stdout
    complete = [
        name
        for name, body in renditions.items()
        if view.signer_name in body and meaning in body and shown in body.replace("\n", " ")
    ]
    print(
        f"\nT06 manifestation: name+time+meaning in {len(complete)}/{len(renditions)} renditions "
        f"({', '.join(renditions)})"
    )
    assert sorted(complete) == sorted(renditions)

    # (a) every signed record edited after signing: each of its signatures reads outdated.
    records = sorted({record for _, record in signed})
    with web.db.engine.begin() as connection:
        for rid in records:
            stored = connection.execute(text("SELECT data FROM record WHERE id = :i"), {"i": rid}).scalar()
            data = (
                json.loads(stored) if isinstance(stored, str) else dict(stored)
            )  # SQLite text, PostgreSQL json
            data["__edited_after_signing"] = "x"
            connection.execute(
                text(
                    "UPDATE record SET data = "
                    + (":d" if web.db.is_sqlite else "CAST(:d AS JSON)")
                    + " WHERE id = :i"
                ),
                {"d": json.dumps(data), "i": rid},
            )
    with web.db.read_session(all_orgs=True) as session:
        statuses = [
            v.status
            for rid in records
            for v in signatures_of(session, record=session.get(Record, rid), secret_key=SECRET_KEY)
        ]
    flagged = sum(status != "valid" for status in statuses)
    print(f"T06 edited after signing: flagged {flagged}/{len(statuses)}")
    assert flagged == len(statuses)
    assert 'data-signature-status="stale"' in client.get(f"/r/{record_id}").text

    # (b) each signature copied onto another record of the organization: none verifies there.
    with web.db.engine.begin() as connection:
        target = connection.execute(
            text(
                "SELECT id FROM record WHERE id NOT IN (SELECT record_id FROM signature) ORDER BY id LIMIT 1"
            )
        ).scalar()
        columns = (
            "org_id, record_version, trigger, meaning, signer_id, signer_name, signed_at, content_hash, "
            "hash_scheme, seal"
        )
        connection.execute(
            text(f"INSERT INTO signature (record_id, {columns}) SELECT :t, {columns} FROM signature"),
            {"t": target},
        )
    with web.db.read_session(all_orgs=True) as session:
        copied = signatures_of(session, record=session.get(Record, target), secret_key=SECRET_KEY)
    verifying = sum(v.status == "valid" for v in copied)
    print(f"T06 transplanted signatures that verify: {verifying}/{len(copied)}")
    assert len(copied) == len(signed) and verifying == 0
