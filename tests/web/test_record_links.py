"""A record-link field links two records: both detail pages show the link; a record of another
organization cannot be named."""

import re

from sqlalchemy import text

from tests.web.conftest import csrf_of


def _record(web, title: str) -> tuple[int, str]:
    with web.db.engine.connect() as connection:
        return connection.execute(
            text("SELECT id, number FROM record WHERE title = :t"), {"t": title}
        ).first()


def _report(client, **extra):
    form = client.get("/records/nonconformity/new")
    return client.post(
        "/records/nonconformity",
        data={
            "csrf_token": csrf_of(form.text),
            "title": "余热电站发电量日报再次漏报",
            "source": "monitoring",
            "description": "11 月 24 日余热发电量再次未录入。",
            "found_on": "2026-11-24",
            **extra,
        },
    )


def test_a_related_record_is_linked_both_ways(web):
    client = web.as_role("staff")
    earlier_id, earlier_number = _record(web, "余热电站发电量日报漏报")
    form = client.get("/records/nonconformity/new").text
    assert re.search(
        rf'<option value="{earlier_id}"\s*>{earlier_number} · 余热电站发电量日报漏报</option>', form
    )
    created = _report(client, related_record=str(earlier_id))
    assert created.status_code == 303
    new_id = int(created.headers["location"].rsplit("/", 1)[1])
    detail = client.get(f"/r/{new_id}").text
    assert f'<a href="/r/{earlier_id}">{earlier_number} · 余热电站发电量日报漏报</a>' in detail
    back = client.get(f"/r/{earlier_id}").text
    assert re.search(rf'<a href="/r/{new_id}">NC-\d{{4}}-\d{{4}}</a> 余热电站发电量日报再次漏报', back)
    with web.db.engine.connect() as connection:
        kinds = (
            connection.execute(
                text("SELECT kind FROM record_link WHERE from_record_id = :f AND to_record_id = :t"),
                {"f": new_id, "t": earlier_id},
            )
            .scalars()
            .all()
        )
    assert kinds == ["related_record"]


def test_a_record_of_another_organization_cannot_be_linked(web):
    from tests.web.conftest import OTHER_ORG_ADMIN, OTHER_PASSWORD

    other = web.signed_in(OTHER_ORG_ADMIN, OTHER_PASSWORD)
    created = _report(other, title="别家的不符合")
    assert created.status_code == 303
    foreign_id = int(created.headers["location"].rsplit("/", 1)[1])
    with web.db.engine.connect() as connection:
        before = connection.execute(text("SELECT count(*) FROM record")).scalar()
    refused = _report(web.as_role("staff"), related_record=str(foreign_id))
    assert refused.status_code == 422 and 'data-error-for="related_record"' in refused.text
    assert "本组织没有该记录" in refused.text
    with web.db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM record")).scalar() == before
