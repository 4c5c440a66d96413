"""E-signatures on the record page: who, what it means, when (China time), the hash of what was signed, and
whether it still holds — a data batch's signatures cover the month's activity data, not only the batch."""

import hashlib
import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text

from engine.audit import canonical_json
from engine.workflow.signing import signature_seal
from tests.web.test_emissions_pages import grid_post

SIGNATURE = re.compile(r'<p data-signature-status="(\w+)">(.*?)</p>', re.S)
HASH = re.compile(r'<code[^>]*data-content-hash title="([0-9a-f]{64})">([0-9a-f]+)</code>')


def _batch_ids(web) -> dict[str, int]:
    with web.db.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, data FROM record WHERE workflow_key = 'carbon_data_batch'")
        )
        return {(d if isinstance(d, dict) else json.loads(d))["period"]: i for i, d in rows}


def _signature_rows(web, record_id: int) -> list[tuple[str, str]]:
    with web.db.engine.connect() as connection:
        return list(
            connection.execute(
                text("SELECT signed_at, content_hash FROM signature WHERE record_id = :r ORDER BY id"),
                {"r": record_id},
            )
        )


def _statuses(page: str) -> list[str]:
    return [status for status, _ in SIGNATURE.findall(page)]


def test_changing_a_months_data_makes_its_batch_signatures_stale_and_no_other(web):
    batches = _batch_ids(web)
    january, february = batches["2025-01"], batches["2025-02"]
    manager = web.as_role("carbon_manager")
    assert _statuses(manager.get(f"/r/{january}").text) == ["valid", "valid"]

    posted, _ = grid_post(manager, 2025, {0: "100"}, reason="1 月抄表读数录入错误，按原始记录更正")
    assert manager.post("/emissions/data", data=posted).status_code == 200

    page = manager.get(f"/r/{january}").text
    assert _statuses(page) == ["stale", "stale"]  # reviewed and approved: both covered the old January
    assert page.count("已失效 — 需重新签署") == 2
    assert _statuses(manager.get(f"/r/{february}").text) == ["valid", "valid"]


def test_a_signature_shows_china_time_and_its_content_hash(web):
    january = _batch_ids(web)["2025-01"]
    page = web.as_role("carbon_manager").get(f"/r/{january}").text
    shown = SIGNATURE.findall(page)
    for (signed_at, content_hash), (status, html) in zip(_signature_rows(web, january), shown, strict=True):
        assert status == "valid" and "有效" in html
        full, short = HASH.search(html).groups()
        assert full == content_hash and short == content_hash[:12]
        local = datetime.fromisoformat(signed_at.replace("Z", "+00:00")).astimezone(ZoneInfo("Asia/Shanghai"))
        assert f"{local.year}/{local.month}/{local.day} {local:%H:%M}" in html
        assert signed_at not in html and f"{local:%H:%M:%S}." not in html  # no raw ISO, no microseconds


def test_a_signature_made_before_hash_schemes_verifies_as_it_did(web):
    """A signature row from before migration 0007 has no hash scheme (the column's default, 1) and hashes
    the record alone, as signing did then: it stays valid, and the month's data never was part of it."""
    january = _batch_ids(web)["2025-01"]
    with web.db.engine.begin() as connection:
        record = connection.execute(
            text("SELECT org_id, number, workflow_key, title, data, version FROM record WHERE id = :r"),
            {"r": january},
        ).one()
        signer = connection.execute(
            text("SELECT signer_id, signer_name FROM signature WHERE record_id = :r ORDER BY id"),
            {"r": january},
        ).first()
        data = record.data if isinstance(record.data, dict) else json.loads(record.data)
        content = {"record_id": january, "number": record.number, "workflow": record.workflow_key}
        content_hash = hashlib.sha256(
            canonical_json({**content, "title": record.title, "data": data}).encode()
        )
        row = {
            "record_id": january,
            "record_version": record.version,
            "trigger": "report",
            "meaning": "approved",
            "signer_id": signer.signer_id,
            "signed_at": "2025-02-10T02:00:00.000000Z",
            "content_hash": content_hash.hexdigest(),
        }
        connection.execute(
            text(
                "INSERT INTO signature (org_id, record_id, record_version, trigger, meaning, signer_id, "
                "signer_name, signed_at, content_hash, seal) VALUES (:org_id, :record_id, :record_version, "
                ":trigger, :meaning, :signer_id, :signer_name, :signed_at, :content_hash, :seal)"
            ),
            {
                **row,
                "org_id": record.org_id,
                "signer_name": signer.signer_name,
                "seal": signature_seal(web.settings.secret_key, **row),
            },
        )
    manager = web.as_role("carbon_manager")
    assert _statuses(manager.get(f"/r/{january}").text) == ["valid", "valid", "valid"]
    posted, _ = grid_post(manager, 2025, {0: "100"}, reason="1 月抄表读数录入错误，按原始记录更正")
    assert manager.post("/emissions/data", data=posted).status_code == 200
    assert _statuses(manager.get(f"/r/{january}").text) == ["stale", "stale", "valid"]
