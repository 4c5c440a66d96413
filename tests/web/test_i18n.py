"""Languages: every shipped template string has a zh_CN translation; the locale is negotiated."""

import pytest

from web.i18n import LOCALES, negotiate, template_messages, translations


def test_every_template_string_has_a_zh_cn_translation():
    catalog = translations("zh_CN")
    messages = template_messages()
    assert len(messages) > 50
    missing = sorted(msgid for msgid in messages if catalog.gettext(msgid) == msgid)
    assert missing == []


def test_placeholders_survive_translation():
    for locale in LOCALES:
        catalog = translations(locale)
        for msgid in template_messages():
            placeholders = {part.split(")")[0] for part in msgid.split("%(")[1:]}
            translated = catalog.gettext(msgid)
            assert all(f"%({name})s" in translated for name in placeholders), (locale, msgid)


@pytest.mark.parametrize(
    ("user", "cookie", "header", "expected"),
    [
        ("en", "zh_CN", "zh-CN", "en"),
        (None, "en", "zh-CN,zh;q=0.9", "en"),
        (None, None, "en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        (None, None, "zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        (None, None, "fr-FR,en;q=0.5", "en"),
        (None, None, "fr-FR", "zh_CN"),
        (None, None, None, "zh_CN"),
        (None, None, "en;q=0.2,zh-TW;q=0.9", "zh_CN"),
    ],
)
def test_locale_negotiation(user, cookie, header, expected):
    assert negotiate(user_locale=user, cookie_locale=cookie, accept_language=header) == expected


def test_pages_render_in_the_negotiated_language(web):
    chinese = web.client().get("/login")
    english = web.client(**{"Accept-Language": "en-GB,en;q=0.9"}).get("/login")
    assert "登录" in chinese.text and 'lang="zh-CN"' in chinese.text
    assert "Sign in" in english.text and 'lang="en"' in english.text and "登录" not in english.text


def test_a_user_setting_beats_the_browser(web):
    from tests.web.conftest import csrf_of

    client = web.as_role("carbon_manager")
    page = client.get("/profile", headers={"Accept-Language": "zh-CN"})
    client.post("/locale", data={"csrf_token": csrf_of(page.text), "locale": "en", "next": "/profile"})
    client.cookies.delete("tanguan_locale")  # the account setting alone must carry it
    assert "Dashboard" in client.get("/", headers={"Accept-Language": "zh-CN"}).text


def test_dates_and_numbers_are_formatted_by_babel():
    from datetime import UTC, datetime

    from web.i18n import format_datetime, format_number

    moment = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)  # 16:30 in China
    assert "16:30" in format_datetime(moment, "zh_CN") and "2026" in format_datetime(moment, "zh_CN")
    assert "4:30" in format_datetime(moment, "en")
    assert format_number(1234567.5, "zh_CN") == "1,234,567.5"


def test_things_have_a_name_and_people_a_full_name(web):
    """名称 labels the names of things (sources, baselines, parameters); 姓名 only a person's."""
    manager = web.as_role("carbon_manager")
    for path in ("/emissions/sources", "/emissions/targets", "/emissions/parameters"):
        page = manager.get(path).text
        assert "<th>名称</th>" in page and "姓名" not in page, path
    users = web.as_role("admin").get("/admin/users").text
    assert "<th>姓名</th>" in users
