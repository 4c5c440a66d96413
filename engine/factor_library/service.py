"""The factor library as the organization keeps it (issue 14 item 5, ADR 0039): grid factors published after
this release, entered by an administrator or carbon manager with the notice as evidence. Every entry is
checked field by field (all problems named, nothing kept), versioned (a correction is a new version with a
reason; the earlier one stays, superseded) and audited. The inventory uses the current version ahead of
the shipped factor of the same region, data year and caliber."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlmodel import Session, col, select

from engine.audit import Actor, append_event
from engine.carbon_data.versions import EVERY_YEAR, bump_input_versions
from engine.emissions.errors import CalcError
from engine.emissions.factors import (
    GRID_CALIBERS,
    MAX_GRID_FACTOR,
    GridFactor,
    normalize_region,
    published_grid_factor,
)
from engine.evidence.models import EvidenceFile
from engine.factor_library.models import PublishedGridFactor
from engine.forms.spec import Text
from engine.models.base import utcnow
from engine.values import forbidden_character

SUBJECT = "grid_factor"
MAX_DOCUMENT = 300
MAX_REASON = 1000
MAX_DECIMALS = 6


class FactorProblem(Exception):
    """What is wrong with an entry, by form field (every problem at once)."""

    def __init__(self, errors: Mapping[str, Text]) -> None:
        super().__init__("; ".join(f"{name}: {text.en}" for name, text in errors.items()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class GridFactorEntry:
    region: str  # normalized
    data_year: int
    caliber: str
    value: Decimal
    document: str
    published_on: date | None
    reason: str


def _text_problem(value: str, *, limit: int) -> Text | None:
    bad = forbidden_character(value)
    if bad is not None:
        return Text(zh="含有不允许的控制字符", en="contains a control character that is not allowed")
    if len(value) > limit:
        return Text(zh=f"最多 {limit} 字", en=f"at most {limit} characters")
    return None


def check_entry(
    *,
    region: str,
    data_year: str,
    value: str,
    caliber: str,
    document: str,
    published_on: str = "",
    reason: str = "",
) -> GridFactorEntry:
    """The entry as typed, checked; FactorProblem names every field at fault."""
    errors: dict[str, Text] = {}
    year: int | None = None
    text = data_year.strip()
    if not text:
        errors["data_year"] = Text(zh="请填写数据年份", en="the data year is required")
    elif not text.isdigit() or not 1990 <= int(text) <= 2100:
        errors["data_year"] = Text(
            zh="数据年份应为 1990–2100 的整数", en="the data year must be a year 1990–2100"
        )
    else:
        year = int(text)
    number: Decimal | None = None
    text = value.strip().replace(",", "")
    if not text:
        errors["value"] = Text(zh="请填写排放因子", en="the factor is required")
    else:
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            errors["value"] = Text(
                zh=f"排放因子必须是数字（“{value.strip()[:40]}”）", en="the factor must be a number"
            )
            number = None
        elif -number.as_tuple().exponent > MAX_DECIMALS:  # type: ignore[operator]
            errors["value"] = Text(zh=f"最多 {MAX_DECIMALS} 位小数", en=f"at most {MAX_DECIMALS} decimals")
            number = None
    if caliber not in GRID_CALIBERS:
        errors["caliber"] = Text(zh="请选择口径", en="choose a caliber")
    for name, given, limit in (("document", document, MAX_DOCUMENT), ("reason", reason, MAX_REASON)):
        problem = _text_problem(given, limit=limit)
        if problem is not None:
            errors[name] = problem
    if not document.strip() and "document" not in errors:
        errors["document"] = Text(zh="请填写发布文件（如公告文号）", en="the publishing document is required")
    published: date | None = None
    if published_on.strip():
        try:
            published = date.fromisoformat(published_on.strip())
        except ValueError:
            errors["published_on"] = Text(zh="日期格式应为 YYYY-MM-DD", en="a date is written YYYY-MM-DD")
    if number is not None and not Decimal(0) < number <= MAX_GRID_FACTOR:
        errors["value"] = Text(
            zh=f"电网排放因子应大于 0 且不超过 {MAX_GRID_FACTOR} tCO2/MWh",
            en=f"a grid emission factor must be above 0 and at most {MAX_GRID_FACTOR} tCO2/MWh",
        )
    normalized = region.strip()
    if not normalized:
        errors["region"] = Text(zh="请填写地区", en="the region is required")
    else:
        try:
            normalized = normalize_region(normalized)
        except CalcError as error:
            errors["region"] = Text(zh=error.message_zh, en=error.message_en)
    if errors:
        raise FactorProblem(errors)
    assert year is not None and number is not None
    return GridFactorEntry(
        region=normalized,
        data_year=year,
        caliber=caliber,
        value=number,
        document=document.strip(),
        published_on=published,
        reason=reason.strip(),
    )


def versions_of(session: Session, *, region: str, data_year: int, caliber: str) -> list[PublishedGridFactor]:
    """Every version of one factor, newest first."""
    return list(
        session.exec(
            select(PublishedGridFactor)
            .where(
                PublishedGridFactor.region == region,
                PublishedGridFactor.data_year == data_year,
                PublishedGridFactor.caliber == caliber,
            )
            .order_by(col(PublishedGridFactor.version).desc())
        ).all()
    )


def check_correction(session: Session, *, entry: GridFactorEntry) -> PublishedGridFactor | None:
    """The version in force that the entry would supersede; a correction without a reason is refused."""
    current = next(
        (
            row
            for row in versions_of(
                session, region=entry.region, data_year=entry.data_year, caliber=entry.caliber
            )
            if row.current
        ),
        None,
    )
    if current is not None and not entry.reason:
        raise FactorProblem(
            {
                "reason": Text(
                    zh=f"{entry.region} {entry.data_year} 年的因子已有第 {current.version} 版："
                    "更正须填写原因",
                    en=f"{entry.region} {entry.data_year} already has version {current.version}: "
                    "a correction needs a reason",
                )
            }
        )
    return current


def add_grid_factor(
    session: Session, *, org_id: int, actor: Actor, entry: GridFactorEntry, evidence_id: int
) -> PublishedGridFactor:
    """Keep the entry as the factor's next version (the current one superseded), audited; the inventory's
    input versions are bumped so every year's cached inventory is recomputed with it."""
    evidence = session.exec(select(EvidenceFile).where(EvidenceFile.id == evidence_id)).first()
    if evidence is None:
        raise FactorProblem(
            {"evidence": Text(zh="请上传发布公告作为证据", en="upload the notice as evidence")}
        )
    current = check_correction(session, entry=entry)
    row = PublishedGridFactor(
        org_id=org_id,
        region=entry.region,
        data_year=entry.data_year,
        caliber=entry.caliber,
        version=(current.version if current else 0) + 1,
        value=entry.value,
        document=entry.document,
        published_on=entry.published_on,
        evidence_id=evidence_id,
        reason=entry.reason or None,
        entered_by=actor.id,
    )
    session.add(row)
    session.flush()
    if current is not None:
        current.superseded_at, current.superseded_by = utcnow(), row.id
        session.add(current)
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type=SUBJECT,
        subject_id=subject_id(row),
        action="grid_factor_corrected" if current else "grid_factor_added",
        changes={
            "value": [str(current.value) if current else None, str(row.value)],
            "document": [current.document if current else None, row.document],
            "evidence": [current.evidence_id if current else None, evidence.sha256],
            "version": [current.version if current else None, row.version],
            **({"published_on": [None, row.published_on.isoformat()]} if row.published_on else {}),
        },
        reason=row.reason,
    )
    bump_input_versions(session, org_id=org_id, years=[EVERY_YEAR])
    return row


def subject_id(row: PublishedGridFactor) -> str:
    """How the audit trail names a version: region, data year, caliber and version."""
    return f"{row.region}:{row.data_year}:{row.caliber}:v{row.version}"


def all_versions(session: Session) -> list[PublishedGridFactor]:
    """The organization's entries, every version: by caliber, region, data year, newest version first."""
    return list(
        session.exec(
            select(PublishedGridFactor).order_by(
                col(PublishedGridFactor.caliber),
                col(PublishedGridFactor.region),
                col(PublishedGridFactor.data_year).desc(),
                col(PublishedGridFactor.version).desc(),
            )
        ).all()
    )


def current_factors(session: Session, *, caliber: str | None = None) -> list[PublishedGridFactor]:
    query = select(PublishedGridFactor).where(col(PublishedGridFactor.superseded_at).is_(None))
    if caliber is not None:
        query = query.where(PublishedGridFactor.caliber == caliber)
    return list(session.exec(query.order_by(col(PublishedGridFactor.id))).all())


def published_for_calculation(session: Session, *, caliber: str) -> tuple[GridFactor, ...]:
    """The current versions of ``caliber`` as the calculator takes them (ahead of the shipped table)."""
    rows = current_factors(session, caliber=caliber)
    hashes = (
        dict(
            session.exec(
                select(EvidenceFile.id, EvidenceFile.sha256).where(
                    col(EvidenceFile.id).in_(sorted({row.evidence_id for row in rows}))
                )
            ).all()
        )
        if rows
        else {}
    )
    return tuple(
        published_grid_factor(
            region=row.region,
            year=row.data_year,
            value=row.value,
            caliber=row.caliber,
            document=row.document,
            detail=f"本组织因子库第 {row.version} 版 / organization's factor library, version {row.version}; "
            f"notice SHA-256 {hashes.get(row.evidence_id, '?')}",
        )
        for row in rows
    )
