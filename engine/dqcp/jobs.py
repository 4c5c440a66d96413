"""The scheduler's jobs of the data-quality control plan (engine.scheduler.jobs.JOBS lists them): the
monthly filing tasks, and the anomaly checks that open nonconformities."""

from collections.abc import Iterator

from engine.dqcp.anomalies import anomalies_of, open_findings
from engine.dqcp.filing import open_filing_tasks
from engine.dqcp.plan import plan_in_force
from engine.dqcp.values import previous_months
from engine.scheduler.registry import JobContext


def run_monthly_filing(ctx: JobContext) -> Iterator[str]:
    """Each ended month's filing task per plan row (due 40 days after the month); a filed month's task
    closed. Idempotent by the (row, month) filing rows."""
    plan = plan_in_force(ctx.session)
    if plan is None:
        return
    for line in open_filing_tasks(ctx.session, org_id=ctx.org_id, plan=plan, today=ctx.today):
        yield line.zh


def run_anomaly_checks(ctx: JobContext) -> Iterator[str]:
    """Last month's anomalies, each opening one nonconformity per (rule, subject, period)."""
    period = previous_months(ctx.today.isoformat()[:7], 1)[0]
    found = anomalies_of(
        ctx.session, org_id=ctx.org_id, plan=plan_in_force(ctx.session), period=period, today=ctx.today
    )
    for line in open_findings(
        ctx.session, org_id=ctx.org_id, anomalies=found, claim=ctx.claim, today=ctx.today
    ):
        yield line.zh
