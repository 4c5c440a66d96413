"""Problems with emissions data: every problem found, by row and field, in Chinese and English."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MAX_LISTED_ISSUES = 500

# What a person reads for each field a problem can name (the key stays for programs: the API, the files).
FIELD_LABELS: dict[str, tuple[str, str]] = {
    "active": ("启用", "active"),
    "baseline_id": ("基准", "baseline"),
    "carbon_content": ("单位热值含碳量", "carbon content"),
    "category": ("排放类别", "category"),
    "code": ("编号", "code"),
    "entries": ("数据", "entries"),
    "evidence": ("证据文件", "evidence file"),
    "evidence_sha256": ("证据文件", "evidence file"),
    "factor_choice": ("排放因子选择", "factor choice"),
    "factor_uncertainty": ("因子不确定度", "factor uncertainty"),
    "factor_unit": ("排放因子单位", "factor unit"),
    "factor_value": ("排放因子", "emission factor"),
    "file": ("文件", "file"),
    "formula": ("计算公式", "formula"),
    "freeze_reason": ("冻结原因", "reason for freezing"),
    "fuel_or_material": ("燃料或物料", "fuel or material"),
    "gas": ("温室气体", "gas"),
    "kind": ("类型", "kind"),
    "meter": ("计量器具", "meter"),
    "method": ("计算方法", "method"),
    "name": ("名称", "name"),
    "ncv": ("低位发热量", "net calorific value"),
    "ncv_unit": ("低位发热量单位", "NCV unit"),
    "note": ("备注", "note"),
    "org_unit_id": ("设施", "facility"),
    "output_value_10k_cny": ("产值（万元）", "output value (10⁴ CNY)"),
    "owner_id": ("负责人", "owner"),
    "oxidation_rate": ("碳氧化率", "oxidation rate"),
    "laboratory": ("检测机构", "laboratory"),
    "accreditation": ("资质（CMA / CNAS）", "accreditation (CMA / CNAS)"),
    "report_no": ("报告编号", "report number"),
    "sampled_on": ("采样日期", "sample date"),
    "parameters": ("参数", "parameters"),
    "period": ("月份", "month"),
    "period_start": ("时间", "time"),
    "product_id": ("产品", "product"),
    "quantity": ("数量", "quantity"),
    "readings": ("读数", "readings"),
    "reason": ("修改原因", "reason"),
    "row": ("参数", "parameter"),
    "reduction_pct": ("降低比例", "reduction"),
    "region": ("电网区域", "grid region"),
    "source": ("排放源", "source"),
    "source_code": ("排放源编号", "source code"),
    "source_id": ("排放源", "source"),
    "target_id": ("目标", "target"),
    "target_year": ("目标年", "target year"),
    "base_year": ("基准年", "base year"),
    "tier": ("数据等级", "data tier"),
    "uncertainty": ("不确定度", "uncertainty"),
    "unit": ("单位", "unit"),
    "weight": ("权重", "weight"),
    "year": ("年份", "year"),
    "filename": ("文件名", "file name"),
    "content_type": ("文件类型", "file type"),
    "size_bytes": ("文件大小（字节）", "size (bytes)"),
    "sha256": ("SHA-256", "SHA-256"),
    "threshold_warn": ("预警阈值", "warning threshold"),
    "threshold_alarm": ("报警阈值", "alarm threshold"),
    "level": ("层级", "level"),
    "value": ("数值", "value"),
    "expires_at": ("到期时间", "expires"),
    "revoked_at": ("撤销时间", "revoked"),
    "last_used_at": ("最近使用", "last used"),
    "scopes": ("权限范围", "scopes"),
    "factor_set": ("因子库", "factor set"),
    "grid_year": ("电网因子年份", "grid factor year"),
    "gwp_set": ("GWP 取值", "GWP values"),
    "gbt32150_edition": ("GB/T 32150 版本", "GB/T 32150 edition"),
    "inputs_sha256": ("输入数据 SHA-256", "inputs SHA-256"),
    "total_tco2e": ("排放总量（tCO₂e）", "total (tCO₂e)"),
    "allocation_method": ("分摊方法", "allocation method"),
    "basis": ("分摊依据", "basis"),
    "made_by": ("生产单元", "made by"),
    "metered_quantity": ("分表计量值", "sub-meter quantity"),
    "shares": ("各生产线或工序的分摊", "the lines' shares"),
    "production": ("产量", "output"),
    "target_unit_id": ("分摊到的生产线或工序", "line or process"),
    "*": ("其他", "other"),
}


def field_label(name: str) -> tuple[str, str]:
    """(zh, en) for a field key; an unlisted key is shown as it is."""
    return FIELD_LABELS.get(name, (name, name))


# ---------------------------------------------------------------- errors


@dataclass(frozen=True, slots=True)
class DataIssue:
    """One problem: ``row`` is the 1-based position in the submitted list (sheet row for files)."""

    row: int | None
    field: str
    message_zh: str
    message_en: str
    source_code: str | None = None
    period: str | None = None

    @property
    def field_zh(self) -> str:
        return field_label(self.field)[0]

    @property
    def field_en(self) -> str:
        return field_label(self.field)[1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "field": self.field,
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "source_code": self.source_code,
            "period": self.period,
        }


class EmissionsDataError(ValueError):
    """Bad emissions data. ``issues`` lists every problem found (capped at MAX_LISTED_ISSUES + 1)."""

    def __init__(self, issues: Iterable[DataIssue]) -> None:
        listed = sorted(issues, key=lambda issue: (issue.row is None, issue.row or 0))
        if not listed:
            raise ValueError("EmissionsDataError needs at least one issue")
        if len(listed) > MAX_LISTED_ISSUES:
            more = len(listed) - MAX_LISTED_ISSUES
            listed = listed[:MAX_LISTED_ISSUES] + [
                DataIssue(
                    row=None,
                    field="*",
                    message_zh=f"另有 {more} 个问题未列出",
                    message_en=f"{more} more problems not listed",
                )
            ]
        self.issues: tuple[DataIssue, ...] = tuple(listed)
        first = self.issues[0]
        where = f"row {first.row}, " if first.row is not None else ""
        super().__init__(f"{len(self.issues)} problem(s); first: {where}{first.field}: {first.message_en}")

    def summary(self, locale: str) -> str:
        """One line for a person: how many problems, and the first with its row and field label."""
        first, count = self.issues[0], len(self.issues)
        if locale.startswith("zh"):
            where = f"第 {first.row} 行 · " if first.row is not None else ""
            more = f"（另有 {count - 1} 个问题）" if count > 1 else ""
            return f"{where}{first.field_zh}：{first.message_zh}{more}"
        where = f"row {first.row} · " if first.row is not None else ""
        more = f" ({count - 1} more problems)" if count > 1 else ""
        return f"{where}{first.field_en}: {first.message_en}{more}"

    @classmethod
    def single(cls, field: str, *, zh: str, en: str, row: int | None = None) -> "EmissionsDataError":
        return cls([DataIssue(row=row, field=field, message_zh=zh, message_en=en)])

    def to_json(self) -> dict[str, Any]:
        return {"errors": [issue.to_dict() for issue in self.issues]}


class BadValue(Exception):
    """A field could not be used; carries the two messages."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


def data_issue(field_name: str, zh: str, en: str, *, row: int | None = None) -> DataIssue:
    return DataIssue(row=row, field=field_name, message_zh=zh, message_en=en)
