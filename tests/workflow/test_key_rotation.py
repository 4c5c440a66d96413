"""A rotated installation key: the new key seals, the old one still verifies what it sealed (ADR 0017)."""

from engine.records.signatures import seal_census, signatures_of
from engine.workflow.lifecycle import PROCESS_CONTEXT, ProcessContext
from tests.workflow.conftest import PASSWORD, SECRET
from tests.workflow.test_nonconformity import fire, run_to_review, state_of

NEW_KEY = "the-key-after-the-rotation-0123456789"
EFFECTIVE = {"criteria": "连续 30 天数据完整率 100%", "evidence": "平台导出记录", "result": "effective"}


def sign_one(shop) -> int:
    nc = run_to_review(shop)
    fire(shop, nc, "verify_effective", "auditor", EFFECTIVE, signature_password=PASSWORD)
    return nc


def statuses(shop, nc, **keys) -> list[str]:
    with shop.db.read_session(org_id=shop.org_id) as session:
        return [s.status for s in signatures_of(session, record=state_of(shop, nc), **keys)]


def test_signatures_sealed_before_a_rotation_stay_valid_while_the_old_key_is_listed(shop):
    before = sign_one(shop)  # sealed with SECRET
    shop.db.session_info[PROCESS_CONTEXT] = ProcessContext(shop.catalog, NEW_KEY)
    after = sign_one(shop)

    rotated = {"secret_key": NEW_KEY, "old_secret_keys": (SECRET,)}
    assert statuses(shop, before, **rotated) == ["valid"]
    assert statuses(shop, after, **rotated) == ["valid"]
    assert statuses(shop, before, secret_key=NEW_KEY) == ["invalid"]  # the old key dropped: unverifiable
    assert statuses(shop, after, secret_key=SECRET) == ["invalid"]

    with shop.db.read_session(all_orgs=True) as session:
        assert seal_census(session, keys=(NEW_KEY, SECRET)) == [1, 1, 0]
        assert seal_census(session, keys=(NEW_KEY,)) == [1, 1]
