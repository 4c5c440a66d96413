"""Shared set-up of the support tests (7.1–7.4): the demo plant's frozen inventory snapshots, through the
engine, and the organization's people by role."""

from dataclasses import dataclass

from sqlalchemy import text

from demo.seed import DEMO_LOGINS, DEMO_SLUG
from engine.audit import Actor
from engine.carbon_data.snapshots import freeze_snapshot
from engine.carbon_data.year_settings import change_year_settings
from engine.identity.users import get_user_by_email
from workflows.hooks.disclosure import snapshot_figures

REASON = "测试：电网因子尚未发布，先行冻结"


@dataclass(frozen=True)
class Frozen:
    org_id: int
    people: dict[str, int]  # role → user id
    snapshots: dict[str, int]  # "2025", "2025b" (the same year frozen again), "2024" → snapshot id
    figures: dict[int, dict]  # snapshot id → the figures a disclosure copies


def org_id_of(web) -> int:
    with web.db.engine.connect() as connection:
        return connection.execute(
            text("SELECT id FROM organization WHERE slug = :s"), {"s": DEMO_SLUG}
        ).scalar()


def people_of(web) -> dict[str, int]:
    with web.db.read_session(all_orgs=True) as session:
        return {login.role.value: get_user_by_email(session, email=login.email).id for login in DEMO_LOGINS}


def freeze_years(web, *, again: bool = True) -> Frozen:
    """2025 (and, with ``again``, 2025 once more with another GWP set: a later snapshot of the year) and
    2024, frozen by the carbon manager."""
    org_id, people = org_id_of(web), people_of(web)
    actor = Actor(people["carbon_manager"], "李娜")
    frozen: dict[str, int] = {}
    figures: dict[int, dict] = {}
    with web.db.unit_of_work(org_id=org_id) as uow:
        for name, year in (("2025", 2025), ("2024", 2024)):
            snapshot = freeze_snapshot(uow.session, org_id=org_id, year=year, actor=actor, reason=REASON)
            frozen[name] = snapshot.id
            figures[snapshot.id] = snapshot_figures(uow.session, snapshot)
        if again:  # the year's GWP set changed: 2025 recalculated and frozen again
            change = change_year_settings(
                uow.session,
                org_id=org_id,
                year=2025,
                actor=actor,
                gbt32150_edition="2015",
                gwp_set="AR5",
                reason=REASON,
            )
            assert change.restated is not None
            frozen["2025b"] = change.restated.id
            figures[change.restated.id] = snapshot_figures(uow.session, change.restated)
    return Frozen(org_id=org_id, people=people, snapshots=frozen, figures=figures)
