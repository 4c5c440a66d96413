"""The web app in a real browser: sign-in, language, organization switch, invitations and the forced
password change, CSRF, htmx-boosted navigation, the Content-Security-Policy, and the screenshots in
docs/screenshots/. Every test signs in afresh in its own browser context."""

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import MAIN_ORG, OTHER_ORG, htmx_settled, sign_in, sign_out

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
NAV_DASHBOARD = "#main-menu a.navbar-item[href='/']"
NAV_AUDIT = "main a[href='/audit']"  # the dashboard's link to the trail (the nav entry sits in a hover menu)


def expect_dashboard(page, org_name: str = MAIN_ORG) -> None:
    expect(page).to_have_url(re.compile(r"/(\?.*)?$"))
    expect(page.locator("h1#org-name")).to_have_text(org_name)
    htmx_settled(page)


def expect_language(page, locale: str) -> None:
    nav = page.locator(NAV_DASHBOARD)
    if locale == "en":
        expect(nav).to_have_text(re.compile(r"^Dashboard(\s+\d+)?\s*$"))  # an open-task count may follow
        expect(page.locator("#locale-en")).to_have_class(re.compile(r"\bis-active\b"))
    else:
        expect(nav).to_have_text(re.compile(r"^工作台(\s+\d+)?\s*$"))
        expect(page.locator("#locale-zh_CN")).to_have_class(re.compile(r"\bis-active\b"))
    htmx_settled(page)


def test_sign_in_refuses_a_wrong_password_and_accepts_the_right_one(page):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login(\?.*)?$"))  # signed out: sent to sign in

    sign_in(page, "carbon@xiangfeng.example", "not-the-password")
    expect(page.locator("#login-error")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/login(\?.*)?$"))
    expect(page.locator("h1#org-name")).to_have_count(0)

    sign_in(page, "carbon@xiangfeng.example")
    expect_dashboard(page)
    expect(page.locator("[data-role=carbon_manager]")).to_be_visible()
    expect(page.locator("#login-error")).to_have_count(0)


def test_language_switch_to_english_and_back_persists_over_reloads(page):
    sign_in(page, "quality@xiangfeng.example")
    expect_dashboard(page)
    expect_language(page, "zh_CN")  # the default

    page.click("#locale-en")
    expect_language(page, "en")
    expect(page.get_by_text("Latest audit events")).to_be_visible()
    page.reload()
    expect_language(page, "en")
    expect_dashboard(page)

    page.click("#locale-zh_CN")
    expect_language(page, "zh_CN")
    page.reload()
    expect_language(page, "zh_CN")
    expect_dashboard(page)


def test_admin_switches_organization(page):
    sign_in(page, "admin@xiangfeng.example")
    expect_dashboard(page, MAIN_ORG)
    switcher = page.locator("form#org-switcher select[name=org_id]")
    expect(switcher.locator("option")).to_have_count(2)

    switcher.select_option(label=OTHER_ORG)  # app.js submits the form on change
    expect_dashboard(page, OTHER_ORG)
    expect(page.locator("form#org-switcher select[name=org_id] option:checked")).to_have_text(OTHER_ORG)
    page.reload()
    expect_dashboard(page, OTHER_ORG)  # the session stays in the chosen organization


def test_invited_user_must_replace_the_one_time_password(contexts):
    admin = contexts.new().new_page()
    sign_in(admin, "admin@xiangfeng.example")
    admin.goto("/admin/users")
    email = f"new-{uuid.uuid4().hex[:8]}@xiangfeng.example"
    admin.fill("#invite-email", email)
    admin.fill("#invite-name", "吴新")
    admin.check("input[name=roles][value=staff]")
    admin.click("#invite-submit")
    one_time = admin.locator("code#one-time-password")
    expect(one_time).to_be_visible()
    one_time_password = one_time.inner_text().strip()
    assert len(one_time_password) >= 8
    expect(admin.locator("#members")).to_contain_text(email)

    newcomer = contexts.new().new_page()
    sign_in(newcomer, email, one_time_password)
    expect(newcomer).to_have_url(re.compile(r"/password/change$"))
    newcomer.goto("/")  # nothing else is reachable before the change
    expect(newcomer).to_have_url(re.compile(r"/password/change$"))

    for common in ("password1", "12345678"):
        newcomer.fill("#new_password", common)
        newcomer.fill("#confirm_password", common)
        newcomer.click("#save-password")
        expect(newcomer.locator("#password-error")).to_be_visible()
        expect(newcomer).to_have_url(re.compile(r"/password/change$"))

    newcomer.fill("#new_password", "Granite-Kiln-Lantern-58")
    newcomer.fill("#confirm_password", "Granite-Kiln-Lantern-58")
    newcomer.click("#save-password")
    expect_dashboard(newcomer)
    expect(newcomer).to_have_url(re.compile(r"/\?password_changed=1$"))
    expect(newcomer.locator("[data-role=staff]")).to_be_visible()

    again = contexts.new().new_page()  # the new password is the password now
    sign_in(again, email, "Granite-Kiln-Lantern-58")
    expect_dashboard(again)


def test_form_post_without_csrf_token_is_refused(page):
    sign_in(page, "auditor@xiangfeng.example")
    expect_dashboard(page)
    expect_language(page, "zh_CN")

    status = page.evaluate("""async () => {
        const response = await fetch("/audit/verify", {method: "POST"});
        return response.status;
    }""")
    assert status == 403

    with page.expect_navigation():
        page.evaluate("""() => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = "/locale";
            const field = document.createElement("input");
            field.type = "hidden";
            field.name = "locale";
            field.value = "en";
            form.appendChild(field);
            document.body.appendChild(form);
            form.submit();  // a plain submit: no htmx, no X-CSRF-Token header, no csrf_token field
        }""")
    expect(page.locator("div#error-page")).to_have_attribute("data-status", "403")

    page.goto("/")
    expect_dashboard(page)
    expect_language(page, "zh_CN")  # the refused post changed nothing


def test_boosted_navigation_keeps_the_csrf_token_valid(page):
    sign_in(page, "admin@xiangfeng.example")
    expect_dashboard(page)
    page.evaluate("window.__sameDocument = 'yes'")  # lost on any full page load

    for _ in range(10):
        page.click(NAV_AUDIT)
        expect(page).to_have_url(re.compile(r"/audit$"))
        expect(page.locator("#verify-chain")).to_be_visible()
        htmx_settled(page)
        page.click(NAV_DASHBOARD)
        expect_dashboard(page)
        expect(page.locator("#verify-chain")).to_have_count(0)
    page.click(NAV_AUDIT)
    expect(page.locator("#verify-chain")).to_be_visible()
    htmx_settled(page)

    assert page.evaluate("window.__sameDocument") == "yes", "the links were not boosted"
    page.click("#verify-chain")
    expect(page.locator("#chain-ok")).to_be_visible()
    assert page.evaluate("window.__sameDocument") == "yes"


def test_a_boosted_link_to_a_missing_page_shows_the_error_page(page):
    sign_in(page, "staff@xiangfeng.example")
    expect_dashboard(page)
    page.evaluate("window.__sameDocument = 'yes'")
    page.evaluate(
        """() => {
          const link = document.createElement("a");
          link.href = "/no/such/page"; link.id = "missing-link"; link.textContent = "missing";
          document.querySelector("main").appendChild(link);
          window.htmx.process(link);
        }"""
    )
    page.click("#missing-link")
    expect(page.locator("body")).to_contain_text("未找到")
    assert page.evaluate("window.__sameDocument") == "yes", "the link was not boosted"


def test_a_refused_htmx_request_says_so(page):
    sign_in(page, "staff@xiangfeng.example")
    expect_dashboard(page)
    page.evaluate(
        """() => window.htmx.ajax(
          "POST", "/locale", {target: "main", values: {locale: "a".repeat(3 * 1024 * 1024)}})"""
    )
    expect(page.locator("#request-error")).to_contain_text("请求内容过大")
    expect(page.locator("h1#org-name")).to_be_visible()  # the page itself is untouched


def test_no_csp_violation_on_any_page_and_no_html_left_in_local_storage(contexts):
    context = contexts.new()
    log = context.csp_log
    page = context.new_page()

    # The detector works: an inline script without the nonce is a violation.
    page.goto("/login")
    page.evaluate("""() => {
        const script = document.createElement("script");
        script.textContent = "window.__inlineRan = true";
        document.head.appendChild(script);
    }""")
    page.wait_for_function("window.__csp.length > 0")
    assert page.evaluate("window.__inlineRan") is None
    page.wait_for_timeout(100)  # let the binding deliver
    assert log.violations and log.violations[0]["directive"].startswith("script-src")
    log.clear()

    sign_in(page, "admin@xiangfeng.example")
    expect_dashboard(page)
    for path, marker in [
        ("/audit", "#verify-chain"),
        ("/admin/users", "#invite-submit"),
        ("/profile", "h1"),
        ("/password/change", "#save-password"),
        ("/no-such-page", "div#error-page[data-status='404']"),
        ("/", "h1#org-name"),
    ]:
        page.goto(path)
        expect(page.locator(marker).first).to_be_visible()
    page.click(NAV_AUDIT)  # boosted
    expect(page).to_have_url(re.compile(r"/audit$"))
    htmx_settled(page)
    page.click("#verify-chain")  # htmx swap
    expect(page.locator("#chain-ok")).to_be_visible()
    page.select_option("#actor_id", label="王磊")
    page.click("#apply-filter")  # htmx swap with hx-select and a pushed URL
    expect(page).to_have_url(re.compile(r"/audit\?.*actor_id=\d+"))
    expect(page.locator("#trail-rows tr[data-seq]").first).to_be_visible()
    htmx_settled(page)
    page.click(NAV_DASHBOARD)
    expect_dashboard(page)
    page.locator("form#org-switcher select[name=org_id]").select_option(label=OTHER_ORG)
    expect_dashboard(page, OTHER_ORG)
    page.click("#locale-en")
    expect_language(page, "en")
    page.click("#locale-zh_CN")
    expect_language(page, "zh_CN")
    with page.expect_event("load"):  # no htmx history cache: going back reloads the page from the server
        page.go_back()
    expect_dashboard(page, OTHER_ORG)

    page.goto("/")
    sign_out(page)
    stored = page.evaluate("""() => {
        const entries = [];
        for (let i = 0; i < localStorage.length; i++) {
            const key = localStorage.key(i);
            entries.push([key, localStorage.getItem(key)]);
        }
        return entries;
    }""")
    html_entries = [key for key, value in stored if "<html" in value or "<div" in value]
    assert html_entries == [], f"page HTML kept in localStorage after sign-out: {html_entries}"

    page.wait_for_timeout(100)
    assert log.violations == [], log.violations
    assert log.console_errors == [], log.console_errors
    assert len(log.pages) >= 10


def test_audit_filter_with_the_default_choices_shows_the_trail(page):
    sign_in(page, "auditor@xiangfeng.example")
    page.click(NAV_AUDIT)
    expect(page.locator("#trail-rows tr[data-seq]").first).to_be_visible()
    htmx_settled(page)
    page.click("#apply-filter")  # every field left at its default ("All", empty)
    expect(page).to_have_url(re.compile(r"/audit\?"))
    expect(page.locator("#error-page")).to_have_count(0)
    expect(page.locator("#trail-rows tr[data-seq]").first).to_be_visible()


def test_dashboard_fits_a_1366_pixel_wide_screen_in_both_languages(page):
    sign_in(page, "admin@xiangfeng.example")  # the widest menu: audit trail, users, organization switcher
    expect_dashboard(page)
    overflow = "document.documentElement.scrollWidth - window.innerWidth"
    widths = {"zh_CN": page.evaluate(overflow)}
    page.click("#locale-en")
    try:
        expect_language(page, "en")
        widths["en"] = page.evaluate(overflow)
    finally:
        page.click("#locale-zh_CN")
        expect_language(page, "zh_CN")
    assert widths == {"zh_CN": 0, "en": 0}, f"pixels scrolled off to the right at 1366 px: {widths}"


def test_dashboard_screenshots(page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    sign_in(page, "carbon@xiangfeng.example")
    expect_dashboard(page)
    expect_language(page, "zh_CN")
    page.mouse.move(0, 0)
    page.screenshot(path=str(SCREENSHOTS / "dashboard-zh.png"), full_page=True)

    page.click("#locale-en")
    expect_language(page, "en")
    expect_dashboard(page)
    page.mouse.move(0, 0)
    page.screenshot(path=str(SCREENSHOTS / "dashboard-en.png"), full_page=True)

    page.click("#locale-zh_CN")  # leave the demo user in Chinese
    expect_language(page, "zh_CN")
