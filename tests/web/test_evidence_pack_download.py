"""The evidence pack from the clause page (issue 13): the roles that review the system download it, it
verifies offline with the installation's key, the export is audited; others are refused."""

from datetime import date

import pytest
from sqlalchemy import text

from engine.audit_trail.checkpoints import public_key_of
from engine.evidence_pack.verify_pack import PackProblem, verify
from tests.web.conftest import SECRET_KEY, csrf_of

YEAR = str(date.today().year)  # the demo's records are of this year


def _post(client, **form):
    token = csrf_of(client.get(f"/evaluation/coverage/10.1?year={YEAR}").text)
    return client.post("/evaluation/pack", data={"csrf_token": token, **form})


def test_the_clause_page_offers_a_pack_that_verifies(web, tmp_path):
    client = web.as_role("carbon_manager")
    page = client.get(f"/evaluation/coverage/10.1?year={YEAR}").text
    assert 'action="/evaluation/pack"' in page and f"{YEAR} 年度证据包" in page
    response = _post(client, clause="10.1", year=YEAR)
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert f"evidence-pack-xiangfeng-cement-10.1-{YEAR}.zip" in response.headers["content-disposition"]
    pack = tmp_path / "pack.zip"
    pack.write_bytes(response.content)
    lines = verify(pack, public_key=public_key_of(SECRET_KEY))
    assert any(line.startswith("records: ") and not line.startswith("records: 0") for line in lines), lines
    with pytest.raises(PackProblem, match="not by the key you trust"):
        verify(pack, public_key="ab" * 32)
    with web.db.engine.connect() as connection:
        exported = connection.execute(
            text("SELECT count(*) FROM audit_event WHERE subject_type = 'evidence_pack' AND action = :a"),
            {"a": "exported"},
        ).scalar()
    assert exported == 1


def test_staff_may_not_export_and_a_bad_clause_is_refused(web):
    assert _post(web.as_role("staff"), clause="10.1", year=YEAR).status_code == 403
    manager = web.as_role("carbon_manager")
    assert _post(manager, clause="99.9", year=YEAR).status_code == 422
    assert _post(manager, clause="../x", year=YEAR).status_code == 422
    assert _post(manager, clause="10.1", year="not-a-year").status_code == 422
