"""T14 "alert raised" (docs/adr/0046): an account or an address reaching the sign-in limit raises one alert
per window, not one per refused attempt — an urgent notification to the organization's administrators
(Chinese first, China time), a JSON line at WARNING and a counter on /metrics. An account without an
organization still gets the line and the counter."""

import email
import email.policy
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from engine.identity.users import create_user
from engine.models.base import utcnow
from engine.observability import SECURITY_LOG
from engine.scheduler.jobs import JOBS
from engine.scheduler.runner import run_jobs
from tests.scheduler.test_starts_mail_leader import smtp  # noqa: F401  (fixture: a local SMTP server)
from tests.web.conftest import BASE_URL, csrf_of
from tests.web.test_observability import _captured
from tests.web.test_visible_text import ISO_INSTANT, visible_text

PLATFORM_ADMIN = "root@platform.example"


@pytest.fixture
def alert_lines() -> Iterator[list[dict]]:
    yield from _captured(SECURITY_LOG)


def bad_logins(web, email: str, count: int, address: str | None = None) -> list[int]:
    statuses = []
    for _ in range(count):
        client = web.client(**({"X-Forwarded-For": address} if address else {}))
        token = csrf_of(client.get("/login").text)
        data = {"email": email, "password": "wrong-password", "csrf_token": token}
        statuses.append(client.post("/login", data=data).status_code)
    return statuses


def alerts_counted(web) -> dict[str, float]:
    scraper = TestClient(web.app, base_url=BASE_URL, client=("127.0.0.1", 50000))
    families = text_string_to_metric_families(scraper.get("/metrics").text)
    family = next(f for f in families if f.name == "tanguan_security_alerts")
    return {s.labels["kind"]: s.value for s in family.samples if s.name.endswith("_total")}


def security_notices(web) -> list[tuple[str, str, str, bool]]:
    with web.db.engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text(
                    "SELECT u.email, n.subject_zh, n.body_zh, n.urgent FROM notification n "
                    "JOIN user_account u ON u.id = n.user_id WHERE n.kind = 'security' ORDER BY n.id"
                )
            )
        ]


def test_an_account_at_its_limit_raises_one_alert_per_window(web, alert_lines):
    limit = web.settings.login_max_failures
    before = alerts_counted(web)
    statuses = bad_logins(web, "quality@xiangfeng.example", limit + 8)
    assert statuses == [401] * limit + [429] * 8

    notices = security_notices(web)
    # The demo organization's administrator (王磊), once: not once per refused attempt.
    assert [(email, urgent) for email, _, _, urgent in notices] == [("admin@xiangfeng.example", True)]
    _, subject, body, _ = notices[0]
    assert subject == "安全警报：账户 quality@xiangfeng.example 登录失败次数达到上限"
    assert f"登录失败 {limit} 次，达到上限 {limit} 次" in body and "最近一次来自地址 testclient" in body
    assert f"{web.settings.login_window_minutes} 分钟内" in body and "（北京时间）" in body
    assert re.search(r"截至 \d{4}-\d\d-\d\d \d\d:\d\d（北京时间）", body)  # China time, not ISO

    (line,) = alert_lines
    assert line["level"] == "warning"
    assert line["event"] == "security.alert" and line["kind"] == "account"
    assert line["account"] == "quality@xiangfeng.example" and line["address"] == "testclient"
    assert line["failures"] == limit and line["administrators_notified"] == 1
    after = alerts_counted(web)
    assert after["account"] - before.get("account", 0) == 1

    # The next window: the same attack raises the next alert.
    earlier = utcnow() - timedelta(minutes=web.settings.login_window_minutes + 1)
    with web.db.unit_of_work(all_orgs=True) as uow:
        for table, column in (("login_attempt", "attempted_at"), ("scheduler_claim", "done_at")):
            uow.session.execute(text(f"UPDATE {table} SET {column} = :when"), {"when": earlier})
    bad_logins(web, "quality@xiangfeng.example", limit + 2)
    assert len(security_notices(web)) == 2 and len(alert_lines) == 2
    print(f"\nT14 alerts for {2 * limit + 10} bad logins over two windows: {len(alert_lines)}")


def test_an_account_without_an_organization_is_logged_and_counted(web, alert_lines):
    with web.db.unit_of_work(all_orgs=True) as uow:
        create_user(uow.session, email=PLATFORM_ADMIN, display_name="平台管理员", password="Platform#2026!")
    limit = web.settings.login_max_failures
    before = alerts_counted(web)
    bad_logins(web, PLATFORM_ADMIN, limit + 3)
    bad_logins(web, "nobody@nowhere.example", limit + 3)  # not an account at all: the same
    assert security_notices(web) == []
    accounts = [line["account"] for line in alert_lines if line["kind"] == "account"]
    assert accounts == [PLATFORM_ADMIN, "nobody@nowhere.example"]
    assert all(line["administrators_notified"] == 0 for line in alert_lines)
    assert alerts_counted(web)["account"] - before.get("account", 0) == 2


def test_an_address_at_its_limit_raises_one_alert_across_accounts(web, alert_lines):
    """One address (the test client's) trying many accounts, each below its own limit: the address's alert,
    once, naming the account it was trying when it reached the limit."""
    limit = web.settings.login_max_failures
    for name in ("carbon", "quality", "gm", "auditor", "kiln", "staff", "admin"):
        bad_logins(web, f"{name}@xiangfeng.example", limit - 1)
    alerts = [(line["kind"], line["address"], line["failures"]) for line in alert_lines]
    assert alerts == [("address", "testclient", limit * 5)], alerts
    notices = security_notices(web)
    assert [subject for _, subject, _, _ in notices] == ["安全警报：地址 testclient 登录失败次数达到上限"]
    assert "（各账户合计）" in notices[0][2] and "staff@xiangfeng.example" in notices[0][2]


def test_the_administrator_sees_the_alert_and_gets_it_by_mail_at_once(web, smtp):  # noqa: F811
    """The notification centre shows it (Chinese, China time); the urgent-mail job mails it over a real
    local SMTP server, not in tomorrow's digest."""
    inbox, port = smtp
    bad_logins(web, "kiln@xiangfeng.example", web.settings.login_max_failures)
    page = web.as_role("admin").get("/notifications").text
    assert "安全警报" in page and "账户 kiln@xiangfeng.example 登录失败次数达到上限" in page
    assert not [part for part in visible_text(page) if ISO_INSTANT.search(part)]
    settings = web.settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
    urgent = [job for job in JOBS if job.name == "urgent_mail"]
    run_jobs(web.db, now=utcnow(), settings=settings, jobs=urgent)
    (mail,) = inbox.messages
    assert mail.rcpt_tos == ["admin@xiangfeng.example"]
    body = email.message_from_bytes(mail.content, policy=email.policy.default)
    assert "安全警报" in body["Subject"] and "kiln@xiangfeng.example" in body.get_content()
