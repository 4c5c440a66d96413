"""Issue 13 item 5, the trust chain, over HTTP on the whole demo: from the year's total, a carbon
performance parameter and a management review's frozen figure down to the monthly values, the
data-quality control plan's row, the instrument and its calibration certificate, the lab report and the
signed batch — every step's check passes on the demo, and names what fails once something is altered
(a proof file on disk, a reading in the database, the review's frozen pack)."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from demo.seed import DEMO_PASSWORD, seed_demo
from demo.verification import VERIFIER_EMAIL
from engine.storage import stored_path
from engine.workflow.computed import china_today
from tests.web.conftest import CATALOG, SECRET_KEY, csrf_of
from web.verifier_gate import PORTAL

YEAR = china_today().year - 1
CARBON = "carbon@xiangfeng.example"


def rows(web, sql: str, **params):
    with web.db.engine.connect() as connection:
        return connection.execute(text(sql), params).all()


def execute(web, sql: str, **params) -> None:
    with web.db.engine.begin() as connection:
        connection.execute(text(sql), params)


@pytest.fixture
def demo(web):
    """The whole demo: instruments with certificates, the plan and its proofs, the management review."""
    with web.db.unit_of_work(all_orgs=True) as uow:
        seed_demo(
            uow.session, catalog=CATALOG, secret_key=SECRET_KEY, evidence_store=web.settings.evidence_store
        )
    return web


def china_month(value) -> str:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (moment + timedelta(hours=8)).strftime("%Y-%m")


def links(html: str, prefix: str) -> list[str]:
    return sorted(
        {link.replace("&amp;", "&") for link in re.findall(rf'href="({re.escape(prefix)}[^"]*)"', html)}
    )


def checks(html: str) -> tuple[int, int]:
    """(passed, failed) checks on a page."""
    return html.count('data-check="ok"'), html.count('data-check="failed"')


def get(client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, (path, page.text[:2000])
    assert "Traceback" not in page.text and "None" not in re.sub(r"<[^>]+>", "", page.text)
    return page.text


def walk(client, *starts: str) -> dict[str, str]:
    """Every page reachable from these, by path."""
    pages: dict[str, str] = {}
    todo = list(starts)
    while todo:
        path = todo.pop()
        if path in pages:
            continue
        pages[path] = get(client, path)
        todo += [link for link in links(pages[path], "/trace/") if link not in pages]
    return pages


def test_every_step_from_the_total_down_to_the_certificates_checks_out_on_the_demo(demo):
    client = demo.signed_in(CARBON, DEMO_PASSWORD)
    (review_id,) = rows(demo, "SELECT id FROM record WHERE workflow_key = 'management_review'")[0]
    pages = walk(client, f"/trace/inventory?year={YEAR}", f"/trace/reviews/{review_id}")
    kinds = {re.match(r"/trace/(\w+)", path).group(1) for path in pages}
    assert kinds == {
        "inventory",
        "sources",
        "dqcp",
        "instruments",
        "evidence",
        "reviews",
        "parameters",
        "products",
    }
    months = [p for p in pages if re.fullmatch(rf"/trace/sources/\d+/{YEAR}-\d\d", p)]
    assert len(months) == 4 * 12  # four sources, twelve months each
    passed = sum(checks(html)[0] for html in pages.values())
    assert passed > 100 and sum(checks(html)[1] for html in pages.values()) == 0
    # The total equals the sum of the sources' parts; the snapshot's hash and the live data agree.
    top = pages[f"/trace/inventory?year={YEAR}"]
    assert checks(top) == (2, 0)
    # A month shows its signed batch, valid: the signatures cover the month's data hash.
    coal = next(html for path, html in pages.items() if path in months and "入窑煤" in html)
    assert 'data-signature-status="valid"' in coal and 'data-signature-status="stale"' not in coal
    # A row names its instrument, whose certificate is hashed again.
    instrument = next(html for path, html in pages.items() if path.startswith("/trace/instruments/"))
    assert 'data-certificate="' in instrument and checks(instrument)[0] >= 1


def test_a_review_figure_traces_to_its_parameter_and_the_frozen_value_is_checked(demo):
    client = demo.signed_in(CARBON, DEMO_PASSWORD)
    (review_id,) = rows(demo, "SELECT id FROM record WHERE workflow_key = 'management_review'")[0]
    review = get(client, f"/trace/reviews/{review_id}")
    assert checks(review) == (1, 0) and 'data-signature-status="valid"' in review
    figures = [link for link in links(review, "/trace/parameters/") if f"year={YEAR}&" in link]
    assert figures
    for figure in figures:
        page = get(client, figure)
        assert checks(page) == (1, 0), figure  # the frozen value equals a recalculation now
    # The frozen pack altered in the database: its hash no longer matches, and the page says so.
    (data,) = rows(demo, "SELECT data FROM record WHERE id = :id", id=review_id)[0]
    data = json.loads(data) if isinstance(data, str) else data
    performance = next(line for line in data["inputs"] if line["section"] == "performance")
    performance["value"] = "1"
    execute(
        demo,
        "UPDATE record SET data = :data WHERE id = :id",
        data=json.dumps(data, ensure_ascii=False),
        id=review_id,
    )
    assert checks(get(client, f"/trace/reviews/{review_id}")) == (0, 1)


def test_an_altered_proof_file_and_a_changed_reading_are_named_on_their_steps(demo):
    client = demo.signed_in(CARBON, DEMO_PASSWORD)
    source_id, code = rows(demo, "SELECT id, code FROM emission_source WHERE code = 'KILN1-COAL'")[0]
    month = f"/trace/sources/{source_id}/{YEAR}-03"
    before = get(client, month)
    assert checks(before)[1] == 0
    # A proof file changed on disk after upload.
    filed = [re.search(r'data-file="(\d+)"', get(client, row)) for row in links(before, "/trace/dqcp/")]
    proof_id = int(next(found for found in filed if found).group(1))
    ((sha, name),) = rows(demo, "SELECT sha256, filename FROM evidence_file WHERE id = :id", id=proof_id)
    path = stored_path(demo.settings.evidence_dir, sha)
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b" ")
    after = get(client, month)
    assert checks(after)[1] == 1 and name in after
    assert checks(get(client, f"/trace/evidence/{proof_id}")) == (0, 1)
    # A reading changed in the database behind the application's back: the batch's signatures read
    # outdated, and the year's total no longer equals its frozen snapshot.
    starts = [
        row[0]
        for row in rows(demo, "SELECT period_start FROM activity_reading WHERE source_id = :s", s=source_id)
    ]
    march = next(start for start in starts if china_month(start) == f"{YEAR}-03")
    execute(
        demo,
        "UPDATE activity_reading SET quantity = quantity + 1000000 "
        "WHERE source_id = :s AND period_start = :start",
        s=source_id, start=march,
    )  # fmt: skip
    changed = get(client, month)
    assert 'data-signature-status="stale"' in changed
    assert checks(get(client, f"/trace/inventory?year={YEAR}")) == (1, 1)
    assert code in get(client, f"/trace/inventory?year={YEAR}")


def test_the_verifier_reads_the_chain_of_the_granted_year_only_and_each_page_is_audited(demo):
    client = demo.signed_in(VERIFIER_EMAIL, DEMO_PASSWORD)
    assert client.get(PORTAL).status_code == 200
    token = csrf_of(client.get(PORTAL).text)
    assert client.post(f"{PORTAL}/coi", data={"csrf_token": token, "independent": "yes"}).status_code == 303

    def views() -> int:
        return rows(demo, "SELECT count(*) FROM audit_event WHERE subject_type = 'verification_view'")[0][0]

    before = views()
    assert client.get(f"/trace/inventory?year={YEAR}").status_code == 200
    source_id = rows(demo, "SELECT min(id) FROM emission_source")[0][0]
    assert client.get(f"/trace/sources/{source_id}/{YEAR}-05").status_code == 200
    assert views() == before + 2
    assert client.get(f"/trace/inventory?year={YEAR - 1}").status_code == 404
    assert client.get(f"/trace/sources/{source_id}/{YEAR - 1}-05").status_code == 404
    assert client.post("/trace/inventory", data={"csrf_token": token}).status_code in (403, 405)
    staff = demo.signed_in("staff@xiangfeng.example", DEMO_PASSWORD)
    assert staff.get(f"/trace/inventory?year={YEAR}").status_code == 403


BAD_PATHS = {  # a value no page has: its answer
    "/trace/sources/1/2025-13": 422,
    "/trace/sources/1/20x5-01": 422,
    "/trace/sources/99999999999999/2025-01": 422,
    "/trace/dqcp/NO-SUCH-ROW/2025-01": 404,
    "/trace/instruments/1?period=2025-1": 422,
    "/trace/evidence/0": 422,
    "/trace/inventory?year=99999": 422,
    "/trace/parameters/1?year=2025&review=abc": 422,
    "/trace/reviews/999999": 404,
    "/trace/products/999999?year=2025": 404,
    "/trace/dqcp/" + "x" * 300 + "/2025-01": 422,
}


def test_bad_paths_are_refused_not_a_500(web):
    client = web.signed_in(CARBON, DEMO_PASSWORD)
    assert {path: client.get(path).status_code for path in BAD_PATHS} == BAD_PATHS
