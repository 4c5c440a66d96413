"""Sector factor sets (issue 14 item 2): one per GB/T 32151 part in scope, or the guideline the reference
took values from, each with its document, edition, effective date and status. Only values the reference
gives are shipped, each with its document, edition, table, year and confidence tag; a part whose tables
are not in the reference is shipped with its metadata, its status ``not_transcribed`` and no factors —
never a made-up number. A set chosen for a calculation (``sector_set``) lends a process material its
per-tonne factor (steel electrodes) when the line gives none."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from engine.emissions.factors import Source, _decimal, _fold, _read, canonical_id

TRANSCRIBED, PARTIAL, NOT_TRANSCRIBED = "transcribed", "partial", "not_transcribed"
PER_TONNE = "tCO2/t"


@dataclass(frozen=True, slots=True)
class SectorFactor:
    key: str
    material: str  # the process material it is the factor of ("" for a method's parameter)
    name_zh: str
    name_en: str
    value: Decimal
    value_text: str  # as the table prints it (44/56)
    unit: str
    edition: str
    table_ref: str
    source: Source


@dataclass(frozen=True, slots=True)
class SectorSet:
    id: str
    aliases: tuple[str, ...]
    part: str
    sector_zh: str
    sector_en: str
    document: str
    edition: str
    effective_from: str
    status: str
    confidence: str
    notes: str
    factors: tuple[SectorFactor, ...]
    materials: Mapping[str, SectorFactor]  # folded material spelling → its per-tonne factor
    document_zh: str = ""
    notes_zh: str = ""

    @property
    def transcribed(self) -> bool:
        return bool(self.factors)


@cache
def sector_sets() -> Mapping[str, SectorSet]:
    factors: dict[str, list[SectorFactor]] = {}
    materials: dict[str, dict[str, SectorFactor]] = {}
    for row in _read("sector_factors.csv"):
        factor = SectorFactor(
            key=row["key"],
            material=row["material"],
            name_zh=row["name_zh"],
            name_en=row["name_en"],
            value=_decimal(row["value"]),
            value_text=row["value"],
            unit=row["unit"],
            edition=row["edition"],
            table_ref=row["table_ref"],
            source=Source(
                document=row["document"],
                year=int(row["year"]) if row["year"] else None,
                confidence=row["confidence"],
                detail=row["source"],
            ),
        )
        factors.setdefault(row["set"], []).append(factor)
        if factor.material and factor.unit == PER_TONNE:
            spellings = (factor.material, *filter(None, row["aliases"].split("|")))
            for spelling in spellings:
                materials.setdefault(row["set"], {})[_fold(spelling)] = factor
    sets = {
        row["id"]: SectorSet(
            id=row["id"],
            aliases=tuple(filter(None, row["aliases"].split("|"))),
            part=row["part"],
            sector_zh=row["sector_zh"],
            sector_en=row["sector_en"],
            document=row["document"],
            edition=row["edition"],
            effective_from=row["effective_from"],
            status=row["status"],
            confidence=row["confidence"],
            notes=row["notes"],
            factors=tuple(factors.get(row["id"], ())),
            materials=materials.get(row["id"], {}),
            document_zh=row["document_zh"],
            notes_zh=row["notes_zh"],
        )
        for row in _read("sector_sets.csv")
    }
    unknown = set(factors) - set(sets)
    assert not unknown, f"sector_factors.csv names unknown sets: {sorted(unknown)}"
    return sets


@cache
def _aliases() -> Mapping[str, str]:
    found: dict[str, str] = {}
    for sector_set in sector_sets().values():
        for spelling in (sector_set.id, *sector_set.aliases):
            found[_fold(spelling)] = sector_set.id
    return found


def sector_set(name: str) -> SectorSet:
    sets = sector_sets()
    canonical = canonical_id(
        name,
        aliases=_aliases(),
        known=list(sets),
        field="sector_set",
        what_zh="行业因子集",
        what_en="sector factor set",
    )
    return sets[canonical]
