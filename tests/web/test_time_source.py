"""T29 time source (RELIABILITY.md): a client's timestamps never reach the audit trail or a signature.

A nonconformity is driven from report to the signed effectiveness review over the JSON API and over the
pages, every request carrying forged times: in the body (``ts``, ``signed_at``, ``created_at`` …), in the
form data and in the HTTP ``Date`` header. Every audit row and signature the journey wrote must carry the
server's time (UTC ISO-8601, between the test's first and last request), and every chain of the database
must be in time order by ``seq``.

And the server's own clock is checked against NTP (a real SNTP server the test starts, docs/adr/0046)."""

import re
import time
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from demo.seed import DEMO_PASSWORD
from engine.models.base import utc_iso, utcnow
from tests.ntp import sntp_server
from tests.serving import run_tanguan, tanguan_env
from tests.web.conftest import BASE_URL, CATALOG, SECRET_KEY, api_token, bearer_client, csrf_of
from web.app import create_app

FORGED = "1999-12-31T23:59:59.000000Z"
FORGED_TIMES = {
    "ts": FORGED, "timestamp": FORGED, "signed_at": FORGED, "created_at": FORGED, "updated_at": FORGED,
    "closed_at": FORGED, "signature_signed_at": FORGED, "signature_time": FORGED, "time": FORGED,
}  # fmt: skip
FORGED_HEADERS = {"Date": "Fri, 31 Dec 1999 23:59:59 GMT", "X-Request-Time": FORGED}
UTC_ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _user_id(web, email: str) -> int:
    with web.db.engine.connect() as connection:
        return connection.execute(text("SELECT id FROM user_account WHERE email = :e"), {"e": email}).scalar()


def _journey_over_the_api(web) -> int:
    carbon = bearer_client(web, api_token(web, "carbon@xiangfeng.example"), **FORGED_HEADERS)
    owner = bearer_client(web, api_token(web, "kiln@xiangfeng.example"), **FORGED_HEADERS)
    quality = bearer_client(web, api_token(web, "quality@xiangfeng.example"), **FORGED_HEADERS)
    report = {"title": "窑头温度超限", "source": "monitoring", "description": "烧成带温度超限 2 小时",
              "found_on": "2026-03-02", **FORGED_TIMES}  # fmt: skip
    created = carbon.post(
        "/api/v1/records", json={"workflow": "nonconformity", "data": report, **FORGED_TIMES}
    )
    assert created.status_code == 201, created.text
    record = created.json()
    owner_id = _user_id(web, "kiln@xiangfeng.example")
    actions = [{"description": "更换热电偶", "owner": owner_id, "due": "2026-04-01", "status": "done"}]
    steps = [
        (carbon, "assess", {"severity": "minor", "containment": "降低喂料量"}),
        (carbon, "analyse", {"method": "five_why", "cause": "热电偶老化"}),
        (carbon, "plan", {"actions": actions}),
        (owner, "start", {}),
        (owner, "complete", {"actions": actions}),
        (quality, "verify_effective",
         {"criteria": "温度连续 30 天正常", "evidence": "DCS 趋势", "result": "effective"}),
    ]  # fmt: skip
    for client, trigger, data in steps:
        body = {"version": record["version"], "data": {**data, **FORGED_TIMES}, **FORGED_TIMES}
        if trigger == "verify_effective":
            body["signature_password"] = DEMO_PASSWORD
        answer = client.post(f"/api/v1/records/{record['id']}/transitions/{trigger}", json=body)
        assert answer.status_code == 200, (trigger, answer.text)
        record = answer.json()
    assert record["state"] == "closed"
    return record["id"]


def _forged_page_posts(web) -> int:
    """A report through the page form, and a transition page post, with the forged fields beside the
    real ones."""
    client = web.as_role("carbon_manager")
    page = client.get("/records/nonconformity/new")  # the report form
    data = {"csrf_token": csrf_of(page.text), "title": "余热锅炉漏风", "source": "other",
            "description": "巡检发现", "found_on": "2026-03-05", **FORGED_TIMES}  # fmt: skip
    created = client.post("/records/nonconformity", data=data, headers=FORGED_HEADERS)
    assert created.status_code == 303, created.text[:800]
    record_id = int(created.headers["location"].rstrip("/").split("/")[-1])
    page = client.get(f"/r/{record_id}/transition/assess")  # the panel the button opens
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version, "the record page's transition form names the version"
    fields = {"csrf_token": csrf_of(page.text), "severity": "major", "containment": "停炉检查",
              "version": version.group(1), **FORGED_TIMES}  # fmt: skip
    answer = client.post(f"/r/{record_id}/transition/assess", data=fields, headers=FORGED_HEADERS)
    assert answer.status_code in (200, 303), answer.text[:800]
    return record_id


def test_client_timestamps_are_ignored_and_every_audit_time_is_utc_and_in_order(web):
    with web.db.engine.connect() as connection:
        heads = dict(connection.execute(text("SELECT org_id, last_seq FROM audit_chain_head")).all())
    started = utc_iso(utcnow() - timedelta(seconds=1))
    api_record = _journey_over_the_api(web)
    page_record = _forged_page_posts(web)
    ended = utc_iso(utcnow() + timedelta(seconds=1))
    with web.db.engine.connect() as connection:
        written = [
            (ts, payload)
            for org_id, seq, ts, payload in connection.execute(
                text("SELECT org_id, seq, ts, payload FROM audit_event")
            )
            if seq > heads.get(org_id, 0) or "1999-12-31" in payload
        ]
        signatures = (
            connection.execute(
                text("SELECT signed_at FROM signature WHERE record_id = :r"), {"r": api_record}
            )
            .scalars()
            .all()
        )
        stored = (
            connection.execute(
                text("SELECT data FROM record WHERE id IN (:a, :b)"), {"a": api_record, "b": page_record}
            )
            .scalars()
            .all()
        )
        every = connection.execute(text("SELECT org_id, seq, ts FROM audit_event ORDER BY org_id, seq")).all()
    using_client_time = sum(FORGED in ts or "1999-12-31" in payload for ts, payload in written)
    using_client_time += sum(signed_at.startswith("1999") for signed_at in signatures)
    using_client_time += sum("1999-12-31" in str(data) for data in stored)
    outside = sum(not started <= ts <= ended for ts, _ in written)
    not_utc = [ts for _, _, ts in every if not UTC_ISO.match(ts)]
    assert all(UTC_ISO.match(s) for s in signatures)
    for _, _, ts in every:
        parsed = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert utc_iso(parsed) == ts
    out_of_order = sum(
        1
        for before, after in zip(every, every[1:], strict=False)
        if before[0] == after[0] and after[2] < before[2]
    )
    print(
        f"\nT29 audit rows of the journey: {len(written)}, signatures: {len(signatures)}; "
        f"rows using a client time: {using_client_time}; rows outside the server's clock: {outside}; "
        f"audit rows not UTC ISO-8601: {len(not_utc)}/{len(every)}; ts out of seq order: {out_of_order}"
    )
    assert len(written) >= 8 and len(signatures) == 1
    assert using_client_time == 0 and outside == 0 and not_utc == [] and out_of_order == 0


def _ready_clock(web, servers: str, *, max_offset_s: float = 5.0) -> tuple[TestClient, object]:
    settings = web.settings.model_copy(update={"ntp_servers": servers, "max_clock_offset_s": max_offset_s})
    app = create_app(settings=settings, db=web.db, catalog=CATALOG)
    return TestClient(app, base_url=BASE_URL, client=("127.0.0.1", 50000)), settings


def _clock_metric(client: TestClient) -> dict[str, float]:
    families = text_string_to_metric_families(client.get("/metrics").text)
    family = next(f for f in families if f.name == "tanguan_clock_offset_seconds")
    return {s.labels["server"]: s.value for s in family.samples}


def _check_clock_cli(tmp_path, servers: str) -> tuple[int, str]:
    env = tanguan_env(tmp_path / "cli", TANGUAN_NTP_SERVERS=servers, TANGUAN_SECRET_KEY=SECRET_KEY)
    done = run_tanguan("check-clock", env=env, check=False)
    return done.returncode, done.stdout + done.stderr


def test_the_server_clock_is_checked_against_a_real_sntp_server(web, tmp_path):
    """A local SNTP server answering with this clock plus 0 s, then plus 30 s, and one that never answers:
    /readyz, /metrics and `tanguan check-clock` report the offset; over the maximum (5 s) /readyz is 503
    naming the clock; a silent server costs the 1 s timeout, not a hang, and does not fail readiness."""
    figures = []
    for offset in (0.0, 30.0):
        with sntp_server(offset_s=offset) as ntp:
            client, _ = _ready_clock(web, ntp.address)
            answers = [client.get("/readyz") for _ in range(3)]
            report = answers[-1].json()
            clock = report["checks"]["clock"]
            assert clock["checked"] and clock["server"] == ntp.address
            assert abs(clock["offset_s"] - offset) < 0.1
            metric = _clock_metric(client)
            assert abs(metric[ntp.address] - offset) < 0.1
            assert ntp.requests == 1, "one NTP query serves /readyz and /metrics for five minutes"
            status, output = _check_clock_cli(tmp_path, ntp.address)
        expected = 200 if offset == 0 else 503
        assert [a.status_code for a in answers] == [expected] * 3
        printed = re.search(r"offset ([+-]\d+\.\d{3}) s against", output)
        assert status == (0 if offset == 0 else 1) and printed, output
        assert abs(float(printed.group(1)) - offset) < 0.1
        if offset:
            assert report["status"] == "not ready" and not clock["ok"]
            assert "TANGUAN_MAX_CLOCK_OFFSET_S=5" in clock["error"] and "超过上限 5 秒" in clock["error"]
            assert all(check["ok"] for name, check in report["checks"].items() if name != "clock")
        figures.append(f"offset {offset:g} s → measured {clock['offset_s']:+.3f} s, /readyz {expected}")

    with sntp_server(silent=True) as silent, sntp_server(offset_s=0.0) as good:
        client, _ = _ready_clock(web, silent.address)
        started = time.monotonic()
        ready = client.get("/readyz")
        waited = time.monotonic() - started
        clock = ready.json()["checks"]["clock"]
        assert ready.status_code == 200 and clock["ok"] and not clock["checked"]
        assert "无应答" in clock["error"] and f"no answer from {silent.address} within 1 s" in clock["error"]
        assert 0.9 < waited < 3, waited
        assert _clock_metric(client) == {}
        status, output = _check_clock_cli(tmp_path, silent.address)
        assert status == 2 and "no answer" in output, output
        # A second server is asked when the first is silent.
        fallback = _ready_clock(web, f"{silent.address},{good.address}")[0].get("/readyz").json()
        assert fallback["checks"]["clock"]["server"] == good.address
    figures.append(f"silent server → /readyz 200 after {waited:.2f} s (timeout 1 s)")

    client, _ = _ready_clock(web, "")
    disabled = client.get("/readyz").json()["checks"]["clock"]
    assert disabled["ok"] and not disabled["checked"] and "TANGUAN_NTP_SERVERS" in disabled["note"]
    status, output = _check_clock_cli(tmp_path, "")
    assert status == 2 and "TANGUAN_NTP_SERVERS" in output
    status, output = _check_clock_cli(tmp_path, "ntp.example:abc")  # a bad setting: one line naming it
    assert status == 2 and "TANGUAN_NTP_SERVERS=ntp.example:abc" in output and "Traceback" not in output
    print("\nT29 clock against a local SNTP server: " + "; ".join(figures) + "; unset → not checked, ready")
