"""The notification centre in Chromium: the navbar badge, the centre in Chinese, mark all read."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from engine.db import Database
from engine.forms.spec import Text
from engine.notifications.service import notify
from tests.browser.conftest import htmx_settled, sign_in

pytestmark = pytest.mark.browser

AUDITOR = "auditor@xiangfeng.example"  # a read-only role: reading one's notifications is still one's own


def _notify_auditor(server, count: int) -> None:
    db = Database(f"sqlite:///{server.data_dir / 'tanguan.sqlite3'}")
    try:
        with db.engine.connect() as connection:
            org = connection.execute(
                text("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")
            ).scalar()
            user = connection.execute(
                text("SELECT id FROM user_account WHERE email = :e"), {"e": AUDITOR}
            ).scalar()
        with db.unit_of_work(org_id=org) as uow:
            for n in range(count):
                notify(
                    uow.session,
                    user_ids=[user],
                    kind="review",
                    subject=Text(
                        zh=f"内审计划第{n + 1}项待评审", en=f"Audit plan item {n + 1} is due for review"
                    ),
                    now=datetime(2026, 12, 7, 1, 0, tzinfo=UTC) + timedelta(minutes=n),
                )
    finally:
        db.dispose()


def test_the_badge_leads_to_the_centre_and_mark_all_read_clears_it(page, server):
    _notify_auditor(server, 2)
    sign_in(page, AUDITOR)
    badge = page.locator("#unread-count")
    expect(badge).to_have_text("2")
    page.click("#nav-notifications")
    htmx_settled(page)
    expect(page).to_have_url(f"{server.base_url}/notifications")
    expect(page.locator("h1")).to_have_text("通知")
    items = page.locator("[data-notification]")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("内审计划第2项待评审")  # newest first
    expect(items.first).to_contain_text("2026-12-07 09:01")  # China time
    page.click("#mark-all-read")
    htmx_settled(page)
    expect(page.locator("[data-notification][data-read='false']")).to_have_count(0)
    expect(page.locator("#unread-count")).to_have_count(0)
    expect(page.locator("#unread-total")).to_have_text("已全部读过")
    page.goto("/")
    expect(page.locator("#nav-notifications")).to_be_visible()
    expect(page.locator("#unread-count")).to_have_count(0)
