"""5.1 / 5.3 The responsibility matrix: computed from the workflow files and the members, the same on the
page and in the controlled docx, and it changes when a role changes."""

from io import BytesIO

from docx import Document

from engine.workflow.responsibilities import Duty, responsibility_matrix
from tests.web.conftest import CATALOG, csrf_of


def test_the_matrix_is_read_from_the_workflow_files():
    processes = {p.key: p for p in responsibility_matrix(CATALOG.current.values())}
    assert set(processes) == set(CATALOG.current)
    nonconformity = CATALOG.current["nonconformity"].spec
    duties = processes["nonconformity"]
    assert duties.duties_of("staff")[0] == Duty.start  # staff may report a nonconformity
    signed = [t for t in nonconformity.transitions if t.signature]
    for transition in signed:
        for role in transition.roles:
            assert Duty.sign in duties.duties_of(role)
    owners = {s.owner_role for s in nonconformity.states.values() if s.owner_role and not s.final}
    assert all(Duty.own in duties.duties_of(role) for role in owners)
    assert duties.duties_of("external_auditor") == []


def test_page_and_controlled_docx_agree_and_follow_the_memberships(web):
    page = web.as_role("staff").get("/responsibilities")
    assert page.status_code == 200
    for shown in ("职责与权限", "不符合与纠正措施", "发起", "批准", "赵敏", "刘建国"):
        assert shown in page.text, shown
    version = page.text.split('id="matrix-version">')[1].split("</span>")[0]
    exported = web.as_role("staff").get("/responsibilities/export.docx")
    assert exported.status_code == 200
    document = Document(BytesIO(exported.content))
    text = "\n".join(p.text for p in document.paragraphs) + "\n".join(
        cell.text for table in document.tables for row in table.rows for cell in row.cells
    )
    assert "受控文件" in text and version.split()[-1] in text and "赵敏" in text and "编制 Prepared" in text
    # Give the staff member a second role: the matrix says so at once, under a new version.
    admin = web.as_role("admin")
    users = admin.get("/admin/users").text
    staff_id = users.split("赵敏")[0].rsplit('href="/admin/users/', 1)[1].split('"')[0]
    token = csrf_of(admin.get(f"/admin/users/{staff_id}").text)
    changed = admin.post(
        f"/admin/users/{staff_id}/roles", data={"csrf_token": token, "roles": ["staff", "internal_auditor"]}
    )
    assert changed.status_code in (200, 303)
    again = web.as_role("staff").get("/responsibilities")
    assert again.text.split('id="matrix-version">')[1].split("</span>")[0] != version
    holders = again.text.split('id="role-holders"')[1].split("</table>")[0]
    auditors = holders.split("内审员")[1].split("</tr>")[0]
    assert "赵敏" in auditors
