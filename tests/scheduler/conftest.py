"""The workflow tests' organization (one person per role), and helpers to run the scheduler as of a
frozen moment (China time): no clock is read, nothing sleeps."""

from datetime import datetime

from sqlalchemy import text

from engine.config import Settings
from engine.records.display import CHINA_TIME
from engine.scheduler.runner import run_jobs
from tests.workflow.conftest import catalog, shop  # noqa: F401  (fixtures)

REPORT = {
    "title": "窑尾烟气在线监测数据缺失",
    "source": "monitoring",
    "description": "3 月 5 日 2 小时数据缺失",
    "found_on": "2027-03-01",
    "clause": "8.6",
}


def at(text_: str) -> datetime:
    return datetime.fromisoformat(text_).replace(tzinfo=CHINA_TIME)


def run(db, moment: str, settings: Settings | None = None, **kwargs) -> list[str]:
    return run_jobs(db, now=at(moment), settings=settings or Settings(), **kwargs)


def notices(db) -> list[tuple[str, str, bool]]:
    """(person, kind, urgent) of every notification, in order."""
    with db.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT u.display_name, n.kind, n.urgent FROM notification n "
                "JOIN user_account u ON u.id = n.user_id ORDER BY n.id"
            )
        ).all()
    return [(name, kind, bool(urgent)) for name, kind, urgent in rows]
