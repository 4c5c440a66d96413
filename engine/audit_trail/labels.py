"""The audit trail as people read it: what each subject is (记录 NC-2026-0001, 用户 王磊, 活动数据 KILN1-COAL
2026-01), what was done, the states and the changed fields by their labels, and China time. The stored
keys stay in the trail (they are what the hash chain covers); only their display is translated."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from engine.audit_trail.service import TrailEvent, actor_shown
from engine.carbon_data.allocation import METHOD_LABELS
from engine.carbon_data.errors import FIELD_LABELS
from engine.carbon_data.models import EmissionSource
from engine.forms.spec import Text
from engine.identity.models import ROLE_LABELS, User
from engine.identity.org_tree import KIND_LABELS
from engine.notifications.models import Notification
from engine.notifications.service import KINDS
from engine.records.display import china_time
from engine.report_templates.registry import report_type
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.models import Record

CHINA = timedelta(hours=8)
# Fields of the notification events (who was notified, of what kind; the mail preferences) that no form names.
NOTIFICATION_FIELDS = {
    "user_id": Text(zh="人员", en="Person"),  # the one notified (or, of a membership, its member)
    "email_urgent": Text(zh="紧急通知立即发邮件", en="Urgent notifications by e-mail"),
    "email_digest": Text(zh="其他通知每日摘要邮件", en="Daily digest by e-mail"),
}
# Fields of an org unit's events (engine.identity.org_tree).
UNIT_FIELDS = {
    "parent": Text(zh="上级单元", en="Parent unit"),
    "name_en": Text(zh="英文名称", en="English name"),
}
# Fields of an evidence file's events (engine.evidence).
EVIDENCE_FIELDS = {
    "owner": Text(zh="负责人", en="Owner"),
    "valid_from": Text(zh="有效期起", en="Valid from"),
    "valid_until": Text(zh="有效期止", en="Valid until"),
    "version": Text(zh="版本", en="Version"),
    "supersedes": Text(zh="取代的版本", en="Supersedes"),
    "withdrawn_reason": Text(zh="撤回原因", en="Reason for withdrawal"),
    # and of a report template's (engine.report_templates)
    "placeholders": Text(zh="使用的占位符个数", en="Placeholders used"),
    "retired_reason": Text(zh="停用原因", en="Reason for retiring"),
}
# Fields of a grid factor's events (engine.factor_library).
GRID_FACTOR_FIELDS = {
    "document": Text(zh="发布文件", en="Publishing document"),
    "published_on": Text(zh="发布日期", en="Published on"),
    "evidence": Text(zh="发布公告（证据文件）", en="Notice (evidence file)"),
}
SUBJECTS = {
    "record": Text(zh="记录", en="Record"),
    "user": Text(zh="用户", en="User"),
    "organization": Text(zh="组织", en="Organization"),
    "membership": Text(zh="成员资格", en="Membership"),
    "org_unit": Text(zh="部门/设施", en="Unit"),
    "product": Text(zh="产品", en="Product"),
    "api_token": Text(zh="接口令牌", en="API token"),
    "evidence": Text(zh="证据文件", en="Evidence file"),
    "emission_source": Text(zh="排放源", en="Emission source"),
    "activity_reading": Text(zh="活动数据", en="Activity data"),
    "reading_batch": Text(zh="数据批量", en="Data batch upload"),
    "production_output": Text(zh="产量", en="Production"),
    "measured_parameter": Text(zh="实测参数", en="Measured parameter"),
    "emission_baseline": Text(zh="排放基准", en="Baseline"),
    "emission_target": Text(zh="减排目标", en="Target"),
    "performance_parameter": Text(zh="绩效参数", en="Performance parameter"),
    "inventory_snapshot": Text(zh="排放清单快照", en="Inventory snapshot"),
    "notification": Text(zh="通知", en="Notification"),
    "verification_grant": Text(zh="核查授权", en="Verification grant"),
    "verification_view": Text(zh="核查查阅", en="Verifier's view"),
    "verified_value": Text(zh="核查值", en="Verified value"),
    "verification_return": Text(zh="核查退回", en="Verifier's return"),
    "year_lock": Text(zh="年度锁定", en="Year lock"),
    "report_template": Text(zh="报告模板", en="Report template"),
    "grid_factor": Text(zh="电网排放因子", en="Grid emission factor"),
    "reporting_year_setting": Text(zh="报告年度设置", en="Reporting-year settings"),
    "allocation_key": Text(zh="共用电力、热力的分摊方法", en="Allocation key"),
}
ACTIONS = {
    "create": Text(zh="创建", en="Created"),
    "created": Text(zh="创建", en="Created"),
    "updated": Text(zh="修改", en="Updated"),
    "corrected": Text(zh="更正", en="Corrected"),
    "enabled": Text(zh="启用", en="Enabled"),
    "revoked": Text(zh="撤销", en="Revoked"),
    "roles_set": Text(zh="设置角色", en="Roles set"),
    "login": Text(zh="登录", en="Signed in"),
    "login_failed": Text(zh="登录失败", en="Sign-in failed"),
    "login_throttled": Text(zh="登录受限", en="Sign-in throttled"),
    "password_changed": Text(zh="修改密码", en="Password changed"),
    "security_alert": Text(zh="安全警报", en="Security alert"),
    "signature_failed": Text(zh="签名失败", en="Signature failed"),
    "participant_added": Text(zh="加入参与人", en="Participant added"),
    "event_start_failed": Text(zh="未能自动创建关联记录", en="A linked record could not be started"),
    "evidence_attached": Text(zh="附加证据", en="Evidence attached"),
    "uploaded": Text(zh="上传", en="Uploaded"),
    "new_version": Text(zh="上传新版本", en="New version uploaded"),
    "period_changed": Text(zh="修改负责人或有效期", en="Owner or validity changed"),
    "evidence_withdrawn": Text(zh="撤回证据", en="Evidence withdrawn"),
    "imported": Text(zh="导入", en="Imported"),
    "ingested": Text(zh="接收计量数据", en="Meter data received"),
    "frozen": Text(zh="冻结", en="Frozen"),
    "notified": Text(zh="发出通知", en="Notified"),
    "notification_preferences": Text(zh="修改通知设置", en="Notification settings changed"),
    "granted": Text(zh="授权", en="Granted"),
    "viewed": Text(zh="查阅", en="Viewed"),
    "downloaded": Text(zh="下载", en="Downloaded"),
    "coi_declared": Text(zh="签署利益冲突声明", en="Conflict of interest declared"),
    "verified_value_recorded": Text(zh="记录核查值", en="Verified value recorded"),
    "returned_for_supplement": Text(zh="退回补充", en="Returned for supplement"),
    "verification_closed": Text(zh="关闭核查", en="Verification closed"),
    "year_locked": Text(zh="锁定年度", en="Year locked"),
    "unlock_requested": Text(zh="申请解锁", en="Unlock requested"),
    "year_unlocked": Text(zh="解锁年度", en="Year unlocked"),
    "template_uploaded": Text(zh="上传报告模板", en="Report template uploaded"),
    "template_retired": Text(zh="停用报告模板（恢复内置版式）", en="Report template retired"),
    "grid_factor_added": Text(zh="录入新发布的电网排放因子", en="Published grid factor added"),
    "grid_factor_corrected": Text(zh="更正电网排放因子（新版本）", en="Grid factor corrected (new version)"),
    "changed": Text(zh="修改", en="Changed"),
}
# Fields of the verifier's portal events (engine.verification).
VERIFICATION_FIELDS = {
    "clauses": Text(zh="核查条款", en="Clauses"),
    "valid_from": Text(zh="生效日期", en="Valid from"),
    "valid_until": Text(zh="截止日期", en="Valid until"),
    "reported_tco2e": Text(zh="报告值（tCO₂e）", en="Reported (tCO₂e)"),
    "verified_tco2e": Text(zh="核查值（tCO₂e）", en="Verified (tCO₂e)"),
    "roles": Text(zh="角色", en="Roles"),
}


def subject_label(subject_type: str) -> Text:
    return SUBJECTS.get(subject_type, Text(zh=subject_type, en=subject_type))


@dataclass(frozen=True)
class TrailChange:
    field: Text
    old: str
    new: str


@dataclass(frozen=True)
class TrailEntry:
    seq: int
    hash: str
    when: str  # China time
    actor: str
    subject: Text  # what kind of thing
    subject_name: str  # which one
    action: Text
    from_state: Text | None
    to_state: Text | None
    changes: tuple[TrailChange, ...]
    reason: str


class TrailLabels:
    """The labels of the workflows in force: their triggers, states and form fields, by key."""

    def __init__(self, catalog: WorkflowCatalog) -> None:
        self.triggers: dict[str, Text] = {}
        self.states: dict[str, Text] = {}
        self.fields: dict[str, Text] = {}
        self.choices: dict[tuple[str, str], Text] = {}
        for workflow in catalog.current.values():
            for transition in workflow.spec.transitions:
                self.triggers.setdefault(transition.trigger, transition.label)
            for name, state in workflow.spec.states.items():
                self.states.setdefault(name, state.label)
            for form in workflow.forms.values():
                for field in form.fields:
                    self.fields.setdefault(field.name, field.label)
                    for choice in field.choices:
                        self.choices.setdefault((field.name, choice.value), Text(zh=choice.zh, en=choice.en))
        for kind, label in KINDS.items():
            self.choices.setdefault(("kind", kind), label)
        for unit_kind, label in KIND_LABELS.items():
            self.choices.setdefault(("kind", unit_kind.value), label)
        for role, (zh, en) in ROLE_LABELS.items():
            self.choices.setdefault(("roles", str(role)), Text(zh=zh, en=en))
        for method, label in METHOD_LABELS.items():
            self.choices.setdefault(("allocation_method", method.value), label)

    def action(self, action: str) -> Text:
        return ACTIONS.get(action) or self.triggers.get(action) or Text(zh=action, en=action)

    def state(self, state: str | None) -> Text | None:
        return None if state is None else self.states.get(state, Text(zh=state, en=state))

    def shown(self, name: str, value: Any, locale: str) -> str:
        """A changed value as text: a choice by its label, lists joined, instants in China time."""
        if isinstance(value, list):
            return "、".join(self.shown(name, item, locale) for item in value) or "—"
        choice = self.choices.get((name, value)) if isinstance(value, str) else None
        return choice.get(locale) if choice else _shown(value)

    def field(self, name: str) -> Text:
        if name in self.fields:
            return self.fields[name]
        if name in NOTIFICATION_FIELDS:
            return NOTIFICATION_FIELDS[name]
        if name in UNIT_FIELDS:
            return UNIT_FIELDS[name]
        if name in EVIDENCE_FIELDS:
            return EVIDENCE_FIELDS[name]
        if name in VERIFICATION_FIELDS:
            return VERIFICATION_FIELDS[name]
        if name in GRID_FACTOR_FIELDS:
            return GRID_FACTOR_FIELDS[name]
        zh, en = FIELD_LABELS.get(name, (name, name))
        return Text(zh=zh, en=en)


def trail_entries(
    session: Session,
    events: Iterable[TrailEvent],
    *,
    labels: TrailLabels,
    locale: str = "zh_CN",
    with_changes: bool = True,
) -> list[TrailEntry]:
    """The events as people read them; ``with_changes=False`` leaves the changed values out (a list that
    does not show them)."""
    listed = list(events)
    names = _subject_names(session, listed)
    return [
        TrailEntry(
            seq=event.seq,
            hash=event.hash,
            when=china_time(event.ts),
            actor=actor_shown(event, locale=locale),
            subject=subject_label(event.subject_type),
            subject_name=names.get((event.subject_type, event.subject_id), f"#{event.subject_id}"),
            action=labels.action(event.action),
            from_state=labels.state(event.from_state),
            to_state=labels.state(event.to_state),
            changes=tuple(
                TrailChange(
                    labels.field(name), labels.shown(name, old, locale), labels.shown(name, new, locale)
                )
                for name, (old, new) in sorted(event.changes.items())
            )
            if with_changes
            else (),
            reason=event.reason or "",
        )
        for event in listed
    ]


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list):
        return "、".join(_shown(item) for item in value)
    if isinstance(value, dict):
        return "；".join(f"{_shown(v)}" for v in value.values())
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, str) and len(value) >= 16 and value[10:11] == "T":
        return china_time(value)
    return str(value)


def _subject_names(session: Session, events: list[TrailEvent]) -> dict[tuple[str, str], str]:
    """Names for the subjects people know by name: records by number, users by name, readings by source
    and China month."""
    ids: dict[str, set[int]] = {"record": set(), "user": set(), "source": set(), "notification": set()}
    for event in events:
        if event.subject_type in ("record", "user", "notification") and event.subject_id.isdigit():
            ids[event.subject_type].add(int(event.subject_id))
        elif event.subject_type == "activity_reading" and event.subject_id.split("@")[0].isdigit():
            ids["source"].add(int(event.subject_id.split("@")[0]))
    records = (
        dict(
            session.execute(
                select(col(Record.id), col(Record.number)).where(col(Record.id).in_(ids["record"]))
            ).all()
        )
        if ids["record"]
        else {}
    )
    users = (
        dict(
            session.execute(
                select(col(User.id), col(User.display_name)).where(col(User.id).in_(ids["user"]))
            ).all()
        )
        if ids["user"]
        else {}
    )
    sources = (
        dict(
            session.execute(
                select(col(EmissionSource.id), col(EmissionSource.code)).where(
                    col(EmissionSource.id).in_(ids["source"])
                )
            ).all()
        )
        if ids["source"]
        else {}
    )
    # A notification by its recipient, not its number (its text is the recipient's).
    recipients = (
        dict(
            session.execute(
                select(col(Notification.id), col(User.display_name))
                .join(User, col(User.id) == col(Notification.user_id))
                .where(col(Notification.id).in_(ids["notification"]))
            ).all()
        )
        if ids["notification"]
        else {}
    )
    names: dict[tuple[str, str], str] = {}
    for event in events:
        key = (event.subject_type, event.subject_id)
        if event.subject_type == "record" and event.subject_id.isdigit():
            names[key] = records.get(int(event.subject_id), f"#{event.subject_id}")
        elif event.subject_type == "user" and event.subject_id.isdigit():
            names[key] = users.get(int(event.subject_id), f"#{event.subject_id}")
        elif event.subject_type == "notification" and int(event.subject_id) in recipients:
            names[key] = f"→ {recipients[int(event.subject_id)]}"
        elif event.subject_type == "report_template" and ":v" in event.subject_id:
            kind, _, version = event.subject_id.rpartition(":v")
            described = report_type(kind)
            names[key] = f"{described.title.zh if described else kind} v{version}"
        elif event.subject_type == "grid_factor" and event.subject_id.count(":") == 3:
            region, year, _, version = event.subject_id.split(":")  # 湖南:2025:average:v1
            names[key] = f"{region} {year} 年 第 {version.lstrip('v')} 版"
        elif event.subject_type == "activity_reading" and "@" in event.subject_id:
            source, _, at = event.subject_id.partition("@")
            names[key] = (
                f"{sources.get(int(source), '#' + source) if source.isdigit() else source} {_china_month(at)}"
            )
    return names


def _china_month(instant: str) -> str:
    try:
        moment = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    except ValueError:
        return instant
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment.astimezone(UTC) + CHINA).strftime("%Y-%m")
