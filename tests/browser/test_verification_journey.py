"""B9 in the browser, in Chinese: the admin grants the certification body's auditor access to 2024 (8.6);
the verifier lands on the portal, signs the conflict-of-interest declaration, records a verified value
beside the reported one and returns a month's batch; the carbon manager sees both; the verifier closes,
the year is locked (a production entry for it is refused), and two people unlock it again (so that the
shared demo server is left as it was)."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from engine.workflow.computed import china_today
from tests.browser.conftest import sign_in
from tests.browser.test_nonconformity import signed_in

pytestmark = pytest.mark.browser

ADMIN = "admin@xiangfeng.example"
VERIFIER = "verifier@cert.example"  # 孙立, 认证机构审核员
CARBON = "carbon@xiangfeng.example"
GM = "gm@xiangfeng.example"
YEAR = "2024"
MONTH = "2024-03"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
RETURN_REASON = "3 月入窑煤量与皮带秤台账不符，请补充皮带秤校准记录"


def test_a_verifier_verifies_returns_and_closes_and_two_people_unlock(contexts):
    # 1. The admin grants the certification body's auditor access to 2024, clause 8.6.
    admin = signed_in(contexts, ADMIN)
    admin.goto("/verification/grants")
    admin.fill("#grant-email", VERIFIER)
    admin.fill("#grant-body", "某认证机构")
    admin.fill("#grant-year", YEAR)
    admin.fill("#grant-clauses", "8.6")
    today = china_today()
    admin.fill("#grant-from", today.isoformat())
    admin.fill("#grant-until", (today + timedelta(days=30)).isoformat())
    admin.click("#grant-submit")
    expect(admin.locator("#granted")).to_contain_text("已授权")
    expect(admin.locator("#grants")).to_contain_text("孙立")

    # 2. The verifier lands on the portal; nothing before the declaration.
    verifier = contexts.new().new_page()
    sign_in(verifier, VERIFIER)
    expect(verifier).to_have_url(re.compile(r"/verification/portal$"))
    expect(verifier.locator("h1")).to_contain_text("核查门户")
    expect(verifier.locator("#value-form")).to_have_count(0)
    verifier.check("#coi-independent")
    verifier.click("#coi-submit")
    expect(verifier.locator("#coi-declared")).to_contain_text("已声明无利益冲突")

    # 3. A verified value beside the reported one, then the month's batch returned with a comment.
    verifier.select_option("#value-period", MONTH)
    verifier.fill("#value-verified", "100000")
    verifier.fill("#value-comment", "按皮带秤校准后的煤量重算")
    verifier.click("#value-submit")
    expect(verifier.locator(f'#months tr[data-period="{MONTH}"] [data-verified]')).to_have_text("100,000")
    verifier.select_option("#return-period", MONTH)
    verifier.fill("#return-comment", RETURN_REASON)
    verifier.click("#return-submit")
    expect(verifier.locator("#returns")).to_contain_text(RETURN_REASON)
    expect(verifier.locator(f'#months tr[data-period="{MONTH}"]')).to_contain_text("已采集")
    verifier.screenshot(path=str(SCREENSHOTS / "verification-portal-zh.png"), full_page=True)

    # 4. The enterprise sees reported beside verified, the difference, and the return.
    carbon = signed_in(contexts, CARBON)
    carbon.goto(f"/verification?year={YEAR}")
    row = carbon.locator(f'#comparison tr[data-period="{MONTH}"]')
    expect(row.locator("[data-verified]")).to_have_text("100,000")
    expect(row).to_contain_text("按皮带秤校准后的煤量重算")
    expect(row.locator("[data-difference]")).not_to_have_text("—")
    expect(carbon.locator("#returns")).to_contain_text(RETURN_REASON)
    carbon.goto("/notifications")
    expect(carbon.locator("body")).to_contain_text(RETURN_REASON)

    # 5. The verifier closes: the year is locked, a production entry for it is refused.
    verifier.click("#close-submit")
    expect(verifier.locator("#closed")).to_contain_text("核查已关闭")
    carbon.goto(f"/emissions/production?year={YEAR}")
    carbon.fill("#pr-period", MONTH)
    carbon.fill("#pr-quantity", "1")
    carbon.click("#save-production")
    expect(carbon.locator("body")).to_contain_text("已由核查关闭并锁定")
    carbon.goto(f"/verification?year={YEAR}")
    expect(carbon.locator("#year-locked")).to_be_visible()

    # 6. Unlocking: the carbon manager asks with a reason, top management confirms.
    lock = carbon.locator(f'#locks tr[data-lock="{YEAR}"]')
    lock.locator("input[name=reason]").fill("更正 3 月入窑煤量")
    with carbon.expect_navigation():
        lock.locator("#ask-unlock").click()
    expect(carbon.locator("#lock-error")).to_have_count(0)
    expect(carbon.locator(f'#locks tr[data-lock="{YEAR}"]')).to_contain_text(
        "李娜 申请解锁：更正 3 月入窑煤量"
    )
    gm = signed_in(contexts, GM)
    gm.goto(f"/verification?year={YEAR}")
    with gm.expect_navigation():
        gm.click("#confirm-unlock")
    expect(gm.locator(f'#locks tr[data-lock="{YEAR}"]')).to_contain_text("已解锁")
    expect(gm.locator("#year-locked")).to_have_count(0)
    gm.screenshot(path=str(SCREENSHOTS / "verification-results-zh.png"), full_page=True)
