"""What people read for the calculator's keys: data tiers of activity data and of emission factors (the
latter include the grid factor's level: provincial, regional, national). One mapping for the documents
and the pages."""

from engine.emissions.factors import FactorTier
from engine.emissions.model import ActivityTier

TIER_LABELS: dict[str, tuple[str, str]] = {
    ActivityTier.MEASURED: ("实测", "Measured"),
    ActivityTier.STATISTICAL: ("统计", "Statistical"),
    ActivityTier.ESTIMATED: ("估算", "Estimated"),
    ActivityTier.UNSPECIFIED: ("未注明", "Not specified"),
    FactorTier.PARTLY_MEASURED: ("部分实测（其余取缺省值）", "Partly measured (defaults for the rest)"),
    FactorTier.PROVINCIAL: ("省级因子", "Provincial factor"),
    FactorTier.REGIONAL: ("区域电网因子", "Regional grid factor"),
    FactorTier.NATIONAL: ("全国缺省值", "National default"),
    FactorTier.STOICHIOMETRIC: ("化学计量", "Stoichiometric"),
    FactorTier.DIRECT: ("直接给定的因子", "Factor given directly"),
}


def tier_label(tier: str, locale: str = "zh_CN") -> str:
    """The label of an activity-data or emission-factor tier (the key itself only if it is unknown)."""
    zh, en = TIER_LABELS.get(tier, (tier, tier))
    return zh if locale.startswith("zh") else en
