"""The event outbox's two jobs (docs/adr/0045): redeliver the events a process did not dispatch (killed after
COMMIT, or a subscriber failed), and delete dispatched events after the retention."""

from collections.abc import Iterator
from datetime import timedelta

from engine.events import delete_dispatched, take_for_redelivery
from engine.scheduler.registry import JobContext

REDELIVERY_BATCH = 500  # events per run; the rest in the next slot


def run_outbox_redelivery(ctx: JobContext) -> Iterator[str]:
    """Events left undispatched past the grace period, taken in this run's transaction and published after
    its COMMIT by the unit of work (with this process's subscribers), at least once."""
    grace = timedelta(seconds=ctx.settings.outbox_grace_seconds)
    taken = take_for_redelivery(ctx.session, now=ctx.now, grace=grace, limit=REDELIVERY_BATCH)
    if taken:
        yield f"补发 {len(taken)} 个未分发的事件"


def run_outbox_cleanup(ctx: JobContext) -> Iterator[str]:
    days = ctx.settings.outbox_retention_days
    deleted = delete_dispatched(ctx.session, before=ctx.now - timedelta(days=days))
    if deleted:
        yield f"删除 {deleted} 条 {days} 天前已分发的事件"
