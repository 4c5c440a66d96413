"""The scheduler's jobs, in the order they run. Another module's job is one line appended to ``JOBS``
(docs/adr/0019); the runner reads nothing else."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from engine.audit_trail.checkpoints import sign_checkpoint
from engine.dqcp.jobs import run_anomaly_checks, run_monthly_filing
from engine.evidence.lifecycle import expiring_for_reminder
from engine.evidence.store import abandoned_uploads, orphan_files
from engine.forms.spec import Text
from engine.notifications.delivery import run_digest_mail, run_urgent_mail
from engine.notifications.security import ALERT_JOB
from engine.records.display import china_time
from engine.scheduler.deadlines import run_overdue, run_reminders
from engine.scheduler.outbox import run_outbox_cleanup, run_outbox_redelivery
from engine.scheduler.registry import JobContext, ScheduledJob, delete_spent_claims
from engine.scheduler.reviews import REVIEW_HOOKS
from engine.scheduler.starts import run_recurring_starts


def run_periodic_reviews(ctx: JobContext) -> Iterator[str]:
    for hook in list(REVIEW_HOOKS):
        for due in hook.due(ctx.session, ctx.today):
            if ctx.claim(f"{hook.name}:{due.subject}", due.period):
                ctx.notify(user_ids=due.user_ids, kind="review", subject=due.title, record_id=due.record_id)
                yield f"{hook.label.zh}：{due.title.zh}"


def run_evidence_cleanup(ctx: JobContext) -> Iterator[str]:
    """Stored files no row refers to (a rolled-back upload), once older than the grace period."""
    grace = timedelta(hours=ctx.settings.evidence_orphan_grace_hours)
    store = ctx.settings.evidence_store
    for orphan in orphan_files(ctx.session, evidence_store=store):
        if ctx.now - orphan.written < grace or not ctx.claim(orphan.sha256, orphan.written.isoformat()):
            continue
        store.delete(orphan.sha256)
        yield f"删除孤立的证据文件（{orphan.size} 字节，写入于 {china_time(orphan.written)}）"
    for upload in abandoned_uploads(evidence_store=store):
        written = datetime.fromtimestamp(upload.stat().st_mtime, UTC)
        if ctx.now - written < grace:
            continue
        upload.unlink(missing_ok=True)
        yield f"删除未完成上传的临时文件（写入于 {china_time(written)}）"


def run_audit_checkpoint(ctx: JobContext) -> Iterator[str]:
    """Once a day, the chain head signed (docs/adr/0032). Quiet: the checkpoint row is its record, and
    `tanguan audit verify` names the latest."""
    if ctx.claimed("chain", ctx.today.isoformat()):
        return
    sign_checkpoint(
        ctx.session,
        org_id=ctx.org_id,
        key_ring=ctx.settings.key_ring(),
        reason="daily",
        mirror_dir=ctx.settings.checkpoint_dir,
    )
    ctx.claim("chain", ctx.today.isoformat())
    yield from ()


def run_evidence_expiry(ctx: JobContext) -> Iterator[str]:
    """The owner of each current evidence file whose validity ends within the lead time is told once per
    validity end (a new version or a changed date is a new reminder)."""
    within = ctx.settings.evidence_reminder_days
    for row in expiring_for_reminder(ctx.session, today=ctx.today, within_days=within):
        assert row.valid_until is not None and row.owner_id is not None
        if not ctx.claim(f"evidence:{row.id}", row.valid_until.isoformat()):
            continue
        until = row.valid_until.isoformat()
        ended = row.valid_until < ctx.today
        name = row.filename
        if ended:
            subject = Text(
                zh=f"证据已过期：{name}（有效期至 {until}）",
                en=f"Evidence expired: {name} (valid until {until})",
            )
        else:
            subject = Text(
                zh=f"证据即将到期：{name}（有效期至 {until}）",
                en=f"Evidence expiring: {name} (valid until {until})",
            )
        body = Text(
            zh="请在证据登记表中上传新版本：/evidence",
            en="Upload a new version from the evidence register: /evidence",
        )
        ctx.notify(user_ids=[row.owner_id], kind="evidence", subject=subject, body=body)
        yield subject.zh


CLAIM_RETENTION = timedelta(days=7)  # spent slot and alert-window claims kept a week for a look back


def run_claims_cleanup(ctx: JobContext) -> Iterator[str]:
    deleted = delete_spent_claims(ctx.session, jobs=[ALERT_JOB], before=ctx.now - CLAIM_RETENTION)
    if deleted:
        yield f"删除 {deleted} 条 7 天前的调度时段与警报窗口记录"


JOBS: list[ScheduledJob] = [
    ScheduledJob("reminders", Text(zh="提醒与升级", en="Reminders and escalations"), run_reminders),
    ScheduledJob("overdue", Text(zh="逾期", en="Overdue"), run_overdue),
    ScheduledJob("recurring_starts", Text(zh="定期启动", en="Recurring starts"), run_recurring_starts),
    ScheduledJob("periodic_reviews", Text(zh="定期评审", en="Periodic reviews"), run_periodic_reviews),
    ScheduledJob(
        "evidence_cleanup",
        Text(zh="清理孤立证据文件", en="Orphaned evidence cleanup"),
        run_evidence_cleanup,
        every=timedelta(hours=1),
        per_org=False,
    ),
    ScheduledJob(
        "evidence_expiry", Text(zh="证据到期提醒", en="Evidence expiry reminders"), run_evidence_expiry
    ),
    ScheduledJob("monthly_filing", Text(zh="月度存证任务", en="Monthly filing tasks"), run_monthly_filing),
    ScheduledJob("anomaly_checks", Text(zh="异常检查", en="Anomaly checks"), run_anomaly_checks),
    ScheduledJob(
        "audit_checkpoint",
        Text(zh="审计链签名检查点", en="Signed audit checkpoint"),
        run_audit_checkpoint,
        every=timedelta(hours=1),
    ),
    ScheduledJob("urgent_mail", Text(zh="即时邮件", en="Immediate mail"), run_urgent_mail),
    ScheduledJob("digest_mail", Text(zh="每日摘要邮件", en="Daily digest mail"), run_digest_mail),
    ScheduledJob(
        "outbox_redelivery",
        Text(zh="补发未分发的事件", en="Undispatched events redelivered"),
        run_outbox_redelivery,
        per_org=False,
    ),
    ScheduledJob(
        "outbox_cleanup",
        Text(zh="清理已分发的事件", en="Dispatched events cleaned up"),
        run_outbox_cleanup,
        every=timedelta(hours=1),
        per_org=False,
    ),
    ScheduledJob(
        "claims_cleanup",
        Text(zh="清理过期的调度记录", en="Spent scheduler claims cleaned up"),
        run_claims_cleanup,
        every=timedelta(hours=1),
        per_org=False,
    ),
]
