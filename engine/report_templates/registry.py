"""The documents an organization may lay out with its own Word template, each with the placeholders its
template may use: the values the product already computes for that document, named and described in
Chinese and English. The module that builds a document registers its type (the GHG report and the record
export here in the engine, a process's own report in its hooks module)."""

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.forms.spec import Text

# The modules of the engine that register a type; processes register theirs when their hooks load.
ENGINE_MODULES = ("engine.reports.ghg_report", "engine.reports.records")


@dataclass(frozen=True)
class Placeholder:
    """A value a template may show: text, or — when it has ``fields`` — a row (``many=False``) or a list of
    rows to loop over (``many=True``), each with those fields."""

    name: str
    zh: str
    en: str
    fields: tuple["Placeholder", ...] = ()
    many: bool = False
    example: str = ""

    def field(self, name: str) -> "Placeholder | None":
        return next((f for f in self.fields if f.name == name), None)

    @property
    def text(self) -> Text:
        return Text(zh=self.zh, en=self.en)


def text(name: str, zh: str, en: str, example: str = "") -> Placeholder:
    return Placeholder(name=name, zh=zh, en=en, example=example)


def rows(name: str, zh: str, en: str, *fields: Placeholder) -> Placeholder:
    return Placeholder(name=name, zh=zh, en=en, fields=tuple(fields), many=True)


APPROVAL_ROW = (
    text(
        "role",
        "职责（编制、审核、批准或电子签名的含义）",
        "Role (prepared, reviewed, approved or a signature's meaning)",
    ),
    text("name", "姓名（未签时为空）", "Name (blank until signed)"),
    text(
        "signature",
        "签名方式（电子签名时含内容哈希与状态）",
        "Signature (with the content hash and status if electronic)",
    ),
    text("date", "日期（北京时间）", "Date (China time)"),
)

# Every type has these.
COMMON = (
    text("organization", "组织名称", "Organization name", "湖南湘峰水泥有限公司"),
    text("title", "文档标题", "Document title"),
    text(
        "period",
        "报告期（中文，如“2026年1月1日至2026年12月31日”；无报告期时为空）",
        "Reporting period in Chinese (blank when the document has none)",
    ),
    text("period_en", "报告期（英文）", "Reporting period in English"),
    text("exported_by", "导出人", "Exported by"),
    text("exported_at", "导出时间（北京时间）", "Exported at (China time)"),
    rows("approvals", "审批栏：每行一个职责", "Approval block: one row per role", *APPROVAL_ROW),
)


@dataclass(frozen=True)
class ReportType:
    key: str
    title: Text
    placeholders: tuple[Placeholder, ...]
    where: Text = field(default_factory=lambda: Text(zh="", en=""))  # the page that exports it
    order: int = 100  # place on the templates page

    def placeholder(self, name: str) -> Placeholder | None:
        return next((p for p in self.placeholders if p.name == name), None)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.placeholders]


REPORT_TYPES: dict[str, ReportType] = {}


def register_report_type(
    key: str, *, title: Text, where: Text, placeholders: Sequence[Placeholder], order: int = 100
) -> None:
    own = tuple(placeholders)
    clash = {p.name for p in own} & {p.name for p in COMMON}
    assert not clash, f"{key}: {clash} are common placeholders"
    REPORT_TYPES[key] = ReportType(key=key, title=title, where=where, placeholders=COMMON + own, order=order)


def report_types() -> list[ReportType]:
    """Every registered type, in their order."""
    for module in ENGINE_MODULES:
        importlib.import_module(module)
    return sorted(REPORT_TYPES.values(), key=lambda kind: kind.order)


def report_type(key: str) -> ReportType | None:
    if key not in REPORT_TYPES:
        report_types()
    return REPORT_TYPES.get(key)
