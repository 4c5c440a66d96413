"""The notification centre: a person's own notifications, newest first, in their language and China time,
with the unread badge in the navbar, marking one or all read, and the mail preferences on the profile."""

import re
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import text

from engine.forms.spec import Text
from engine.notifications.service import notify, preferences_of
from tests.web.conftest import csrf_of
from tests.web.test_visible_text import ISO_INSTANT, visible_text

CARBON = "carbon@xiangfeng.example"
QUALITY = "quality@xiangfeng.example"
MORNING = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # 09:00 in China


def _ids(web) -> tuple[int, int, int]:
    with web.db.engine.connect() as connection:
        org = connection.execute(text("SELECT id FROM organization WHERE slug = 'xiangfeng-cement'")).scalar()
        user = connection.execute(
            text("SELECT id FROM user_account WHERE email = :e"), {"e": CARBON}
        ).scalar()
        record = connection.execute(
            text("SELECT id FROM record WHERE workflow_key = 'nonconformity' ORDER BY id LIMIT 1")
        ).scalar()
    return org, user, record


def _notify(web, user_id: int, *, zh: str, en: str, now: datetime, **extra) -> int:
    org_id = _ids(web)[0]
    with web.db.unit_of_work(org_id=org_id) as uow:
        (row,) = notify(
            uow.session, user_ids=[user_id], kind="reminder", subject=Text(zh=zh, en=en), now=now, **extra
        )
    assert row.id is not None
    return row.id


def _badge(page: str) -> str | None:
    found = re.search(r'id="unread-count">(\d+)<', page)
    return found.group(1) if found else None


def test_the_centre_lists_a_persons_notifications_newest_first_in_chinese_and_china_time(web):
    _org, user, record = _ids(web)
    older = _notify(web, user, zh="请填报十一月数据", en="Please file November's data", now=MORNING)
    newer = _notify(
        web,
        user,
        zh="不符合项即将到期",
        en="A nonconformity is due soon",
        now=MORNING + timedelta(hours=5, minutes=30),
        record_id=record,
        urgent=True,
    )
    page = web.signed_in(CARBON).get("/notifications")
    assert page.status_code == 200
    html = page.text
    assert html.index(f'data-notification="{newer}"') < html.index(f'data-notification="{older}"')
    assert "2026-12-07 09:00" in html and "2026-12-07 14:30" in html  # China time, UTC+8
    assert "请填报十一月数据" in html and "Please file November" not in html
    assert "提醒" in html and "未读" in html and html.count('data-read="false"') == 2
    assert f'href="/r/{record}"' in html and "打开记录" in html
    assert not [part for part in visible_text(html) if ISO_INSTANT.search(part)]
    assert _badge(html) == "2"  # counted by the centre itself, not twice (PAGES_COUNTING_UNREAD_THEMSELVES)
    assert 'data-unread="2"' in html


def test_a_china_time_now_from_the_scheduler_is_shown_as_given(web):
    _org, user, _record = _ids(web)
    china = timezone(timedelta(hours=8))
    _notify(
        web, user, zh="按中国时间发出", en="Sent in China time", now=datetime(2026, 12, 7, 9, 0, tzinfo=china)
    )
    assert "2026-12-07 09:00" in web.signed_in(CARBON).get("/notifications").text


def test_the_badge_counts_unread_notifications_on_every_page(web):
    _org, user, _record = _ids(web)
    client = web.signed_in(CARBON)
    assert _badge(client.get("/").text) is None and 'id="nav-notifications"' in client.get("/").text
    for hour in range(3):
        _notify(web, user, zh=f"提醒{hour}", en=f"Reminder {hour}", now=MORNING + timedelta(hours=hour))
    assert _badge(client.get("/").text) == "3"
    assert _badge(client.get("/profile").text) == "3"
    assert _badge(web.signed_in(QUALITY).get("/").text) is None  # not someone else's


def test_marking_one_and_then_all_read(web):
    _org, user, _record = _ids(web)
    first = _notify(web, user, zh="第一条", en="First", now=MORNING)
    _notify(web, user, zh="第二条", en="Second", now=MORNING + timedelta(minutes=1))
    client = web.signed_in(CARBON)
    token = csrf_of(client.get("/notifications").text)
    answer = client.post(f"/notifications/{first}/read", data={"csrf_token": token, "page": "1"})
    assert answer.status_code == 303 and answer.headers["location"] == "/notifications"
    html = client.get("/notifications").text
    assert re.search(rf'data-notification="{first}" data-read="true"', html)
    assert _badge(client.get("/").text) == "1"
    again = client.post(f"/notifications/{first}/read", data={"csrf_token": token})
    assert again.status_code == 303  # already read: nothing to do, no error
    assert client.post("/notifications/read-all", data={"csrf_token": token}).status_code == 303
    assert _badge(client.get("/").text) is None
    html = client.get("/notifications").text
    assert 'data-read="false"' not in html and 'id="mark-all-read"' not in html and "已全部读过" in html


def test_another_persons_notification_is_neither_shown_nor_marked(web):
    _org, user, _record = _ids(web)
    mine = _notify(web, user, zh="只给李娜", en="For Li Na only", now=MORNING)
    other = web.signed_in(QUALITY)
    assert "只给李娜" not in other.get("/notifications").text
    token = csrf_of(other.get("/notifications").text)
    refused = other.post(f"/notifications/{mine}/read", data={"csrf_token": token})
    assert refused.status_code == 404 and 'data-status="404"' in refused.text
    assert other.post("/notifications/999999/read", data={"csrf_token": token}).status_code == 404
    other.post("/notifications/read-all", data={"csrf_token": token})
    assert _badge(web.signed_in(CARBON).get("/").text) == "1"  # still unread for its owner


def test_marking_read_needs_the_csrf_token(web):
    _org, user, _record = _ids(web)
    mine = _notify(web, user, zh="需要令牌", en="Needs a token", now=MORNING)
    client = web.signed_in(CARBON)
    assert client.post(f"/notifications/{mine}/read", data={}).status_code == 403
    assert client.post("/notifications/read-all", data={"csrf_token": "forged"}).status_code == 403
    assert _badge(client.get("/").text) == "1"


def test_english_readers_see_the_english_subject(web):
    _org, user, _record = _ids(web)
    _notify(web, user, zh="请填报十一月数据", en="Please file November's data", now=MORNING)
    page = web.signed_in(CARBON, **{"Accept-Language": "en"}).get("/notifications").text
    assert "Please file November&#39;s data" in page and "请填报十一月数据" not in page
    assert "Mark all read" in page and "Reminder" in page


def test_the_centre_pages_fifty_at_a_time(web):
    _org, user, _record = _ids(web)
    for minute in range(51):
        _notify(web, user, zh=f"第{minute}条", en=f"No. {minute}", now=MORNING + timedelta(minutes=minute))
    client = web.signed_in(CARBON)
    first = client.get("/notifications").text
    assert first.count("data-notification=") == 50 and 'id="older-page"' in first and "第0条" not in first
    second = client.get("/notifications?page=2").text
    assert second.count("data-notification=") == 1 and "第0条" in second and 'id="newer-page"' in second
    assert client.get("/notifications?page=0").status_code == 422


def test_mail_preferences_are_saved_from_the_profile_and_audited(web):
    org, user, _record = _ids(web)
    client = web.signed_in(CARBON)
    profile = client.get("/profile").text
    assert 'id="email-urgent-yes" checked' in profile and 'id="email-digest-yes" checked' in profile
    answer = client.post(
        "/notifications/preferences",
        data={"csrf_token": csrf_of(profile), "email_urgent": "yes", "email_digest": "no"},
    )
    assert answer.status_code == 303 and answer.headers["location"].startswith("/profile?saved=true")
    with web.db.read_session(org_id=org) as session:
        saved = preferences_of(session, user_id=user)
    assert saved.email_urgent is True and saved.email_digest is False
    shown = client.get(answer.headers["location"]).text
    assert 'id="email-digest-no" checked' in shown and "通知偏好已保存" in shown
    with web.db.engine.connect() as connection:
        audited = connection.execute(
            text(
                "SELECT count(*) FROM audit_event"
                " WHERE action = 'notification_preferences' AND subject_id = :u"
            ),
            {"u": str(user)},  # subject ids are text
        ).scalar()
    assert audited == 1
    bad = client.post(
        "/notifications/preferences",
        data={"csrf_token": csrf_of(shown), "email_urgent": "maybe", "email_digest": "no"},
    )
    assert bad.status_code == 422
