"""The long-running scheduler's clock: the real time, or — for reliability runs only (RELIABILITY T25,
``python -m bench.t25``) — a simulated one shared by every instance: from the real moment
``scheduler_clock_anchor`` on, ``scheduler_clock_start`` + elapsed × ``scheduler_clock_speed``; before the
anchor (or with no anchor) it stands at the start. Instances given the same three settings agree on
the time, so simulated
minutes can pass in seconds, and a restart with a later start simulates downtime (ADR 0019)."""

from datetime import datetime, timedelta

from engine.config import Settings
from engine.models.base import utcnow


def scheduler_now(settings: Settings, *, real: datetime | None = None) -> datetime:
    """The scheduler's 'now' (aware) at the real moment ``real`` (default: now)."""
    real = real or utcnow()
    start, anchor = settings.scheduler_clock_start, settings.scheduler_clock_anchor
    if start is None:
        return real
    elapsed = max(real - (anchor or real), timedelta(0))
    return start + elapsed * settings.scheduler_clock_speed
