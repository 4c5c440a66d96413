"""A process the engine has never heard of — `toy/workflows/improvement_suggestion.yaml` and its two forms,
no hooks module, no Python — runs over HTTP from its start form to a final state: numbering, the record's
title, assignee and due date taken from the fields its file names, a signing transition with separation of
duties, the audit trail and the tasks."""

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from demo.seed import DEMO_LOGINS, DEMO_PASSWORD
from engine.audit import verify_chain
from engine.config import Settings
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.loader import FORMS_DIR, WORKFLOWS_DIR, load_workflows
from tests.web.conftest import SECRET_KEY, WebEnv, csrf_of, seed
from web.app import create_app

TOY = Path(__file__).parent / "toy"
KEY = "improvement_suggestion"


@pytest.fixture
def toy_web(db, tmp_path) -> WebEnv:
    """The demo's processes plus the toy one, from copies of the folders (the real ones are not touched)."""
    workflows, forms = tmp_path / "workflows", tmp_path / "forms"
    shutil.copytree(WORKFLOWS_DIR, workflows, ignore=shutil.ignore_patterns("*.py", "hooks", "__pycache__"))
    shutil.copytree(FORMS_DIR, forms, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    for path in (TOY / "workflows").glob("*.yaml"):
        shutil.copy(path, workflows)
    for path in (TOY / "forms").glob("*.yaml"):
        shutil.copy(path, forms)
    catalog = WorkflowCatalog(load_workflows(workflows, forms))
    seed(db)
    settings = Settings(data_dir=tmp_path / "var", database_url=db.url, secret_key=SECRET_KEY)
    return WebEnv(db=db, app=create_app(settings=settings, db=db, catalog=catalog), settings=settings)


def _user_id(web: WebEnv, role: str) -> int:
    email = next(login.email for login in DEMO_LOGINS if login.role.value == role)
    with web.db.engine.connect() as connection:
        return connection.execute(
            text("SELECT id FROM user_account WHERE email = :e"), {"e": email}
        ).scalar_one()


def _org_of(web: WebEnv, record_id: int) -> int:
    with web.db.engine.connect() as connection:
        return connection.execute(
            text("SELECT org_id FROM record WHERE id = :r"), {"r": record_id}
        ).scalar_one()


def _fire(client, record_id: int, trigger: str, **fields: str):
    panel = client.get(f"/r/{record_id}/transition/{trigger}")
    assert panel.status_code == 200, panel.text
    version = re.search(r'name="version" value="(\d+)"', panel.text).group(1)
    return client.post(
        f"/r/{record_id}/transition/{trigger}",
        data={"csrf_token": csrf_of(panel.text), "version": version, **fields},
    )


def test_a_process_unknown_to_the_engine_runs_from_start_to_final_over_http(toy_web):
    with toy_web.client() as _:
        pass  # runs the app's lifespan: the catalog, toy included, is registered
    staff = toy_web.as_role("staff")
    champion = _user_id(toy_web, "process_owner")
    new = staff.get(f"/records/{KEY}/new")
    assert new.status_code == 200 and "合理化建议" in new.text and "推动人" in new.text
    created = staff.post(
        f"/records/{KEY}",
        data={
            "csrf_token": csrf_of(new.text),
            "subject": "窑头篦冷机余风再利用",
            "champion": str(champion),
            "wanted_by": "2027-03-31",
        },
    )
    assert created.status_code == 303, created.text
    record_id = int(created.headers["location"].rsplit("/", 1)[1])

    api = staff.get(f"/api/v1/records/{record_id}").json()
    assert re.fullmatch(r"IS-\d{4}-0001", api["number"])
    assert (api["title"], api["state"]) == ("窑头篦冷机余风再利用", "proposed")
    with toy_web.db.engine.connect() as connection:
        assignee, due = connection.execute(
            text("SELECT assignee_id, due_date FROM record WHERE id = :r"), {"r": record_id}
        ).one()
    assert assignee == champion and str(due) == "2027-03-31"

    # A role the file does not name cannot adopt it; a wrong password signs nothing.
    refused = _fire(staff, record_id, "adopt", benefit="自评", signature_password=DEMO_PASSWORD)
    assert refused.status_code == 403
    manager = toy_web.as_role("quality_manager")
    signed = _fire(manager, record_id, "adopt", benefit="年节约标煤约 300 吨", signature_password="wrong")
    assert signed.status_code == 403
    adopted = _fire(
        manager, record_id, "adopt", benefit="年节约标煤约 300 吨", signature_password=DEMO_PASSWORD
    )
    assert adopted.status_code == 303, adopted.text
    owner = toy_web.as_role("process_owner")
    realised = _fire(owner, record_id, "realise")
    assert realised.status_code == 303, realised.text

    final = owner.get(f"/api/v1/records/{record_id}").json()
    assert final["state"] == "realised"
    page = owner.get(f"/r/{record_id}").text
    assert "已实施" in page and "采纳" in page and "批准采纳" in page  # the meaning its file declares
    with toy_web.db.engine.connect() as connection:
        actions = (
            connection.execute(
                text("SELECT action FROM audit_event WHERE subject_id = :r ORDER BY seq"),
                {"r": str(record_id)},
            )
            .scalars()
            .all()
        )
        open_tasks = connection.execute(
            text("SELECT count(*) FROM task WHERE record_id = :r AND closed_at IS NULL"), {"r": record_id}
        ).scalar()
        meanings = (
            connection.execute(text("SELECT meaning FROM signature WHERE record_id = :r"), {"r": record_id})
            .scalars()
            .all()
        )
    assert open_tasks == 0 and meanings == ["approved"]
    assert "signature_failed" in actions and actions[0] == "created"
    with toy_web.db.engine.connect() as connection:
        assert verify_chain(connection, org_id=_org_of(toy_web, record_id)).ok


def test_whoever_proposed_it_cannot_adopt_it(toy_web):
    manager = toy_web.as_role("quality_manager")
    new = manager.get(f"/records/{KEY}/new")
    created = manager.post(f"/records/{KEY}", data={"csrf_token": csrf_of(new.text), "subject": "自己的建议"})
    assert created.status_code == 303, created.text
    record_id = int(created.headers["location"].rsplit("/", 1)[1])
    refused = _fire(manager, record_id, "adopt", benefit="自评", signature_password=DEMO_PASSWORD)
    assert refused.status_code == 403 and "提出人不能采纳自己的建议" in refused.text
    assert manager.get(f"/api/v1/records/{record_id}").json()["state"] == "proposed"
