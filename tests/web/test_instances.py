"""Several `tanguan serve` processes on one database, each with its own data directory, as behind a load
balancer (ADR 0017): with one TANGUAN_SECRET_KEY they accept each other's forms and show every
e-signature alike; a rotated key keeps both working; an instance with another key is the failure this
guards against."""

import httpx
from sqlalchemy import create_engine, text

from demo.seed import DEMO_PASSWORD
from tests.serving import run_tanguan, serving, signature_statuses, tanguan_env
from tests.web.conftest import csrf_of

KEY = "shared-installation-key-0123456789abcdef"
NEW_KEY = "rotated-installation-key-0123456789abcdef"
OTHER_KEY = "some-other-instances-key-0123456789abcdef"
SIGNER_ORG_MEMBER = "quality@xiangfeng.example"


def signed_record_ids(database_url: str) -> list[int]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT DISTINCT s.record_id FROM signature s JOIN organization o ON o.id = s.org_id "
                    "WHERE o.slug = 'xiangfeng-cement' ORDER BY s.record_id"
                )
            )
            return [row[0] for row in rows]
    finally:
        engine.dispose()


def switch_locale(client: httpx.Client, base_url: str, token: str) -> int:
    """A form bound to the session: the locale switch, with a token some instance rendered."""
    data = {"locale": "en", "next": "/", "csrf_token": token}
    return client.post(f"{base_url}/locale", data=data).status_code


def test_instances_sharing_the_key_accept_each_others_forms_and_agree_on_signatures(tmp_path, database_url):
    shared = {"TANGUAN_DATABASE_URL": database_url}
    env_a = tanguan_env(tmp_path / "a", **shared, TANGUAN_SECRET_KEY=KEY)
    env_b = tanguan_env(tmp_path / "b", **shared, TANGUAN_SECRET_KEY=KEY)
    run_tanguan("demo", env=env_a)
    record_ids = signed_record_ids(database_url)
    assert record_ids, "the demo has signed records"

    with httpx.Client(timeout=60) as client:
        with serving(env_a, tmp_path / "a.log") as a, serving(env_b, tmp_path / "b.log") as b:
            login_token = csrf_of(client.get(f"{a}/login").text)  # the sign-in form of A, posted to B
            signed_in = client.post(
                f"{b}/login",
                data={"email": SIGNER_ORG_MEMBER, "password": DEMO_PASSWORD, "csrf_token": login_token},
            )
            assert signed_in.status_code == 303, signed_in.text[:500]
            on_a = signature_statuses(client, a, record_ids)
            on_b = signature_statuses(client, b, record_ids)
            # Both instances verify every seal alike. (An approval a process adds data after reads "stale":
            # a signature covers the whole record as signed — a known gap of multi-step signed processes.)
            assert on_a == on_b and on_a and "valid" in on_a and "invalid" not in on_a, (on_a, on_b)
            token_of_b = csrf_of(client.get(f"{b}/r/{record_ids[0]}").text)
            assert switch_locale(client, a, token_of_b) == 303

        rotated = tanguan_env(
            tmp_path / "d", **shared, TANGUAN_SECRET_KEY=NEW_KEY, TANGUAN_OLD_SECRET_KEYS=KEY
        )
        with serving(rotated, tmp_path / "d.log") as d:
            assert signature_statuses(client, d, record_ids) == on_a
            assert switch_locale(client, d, token_of_b) == 303  # a form opened before the rotation

        other = tanguan_env(tmp_path / "c", **shared, TANGUAN_SECRET_KEY=OTHER_KEY)
        with serving(other, tmp_path / "c.log") as c:
            assert set(signature_statuses(client, c, record_ids)) == {"invalid"}
            assert switch_locale(client, c, token_of_b) == 403
