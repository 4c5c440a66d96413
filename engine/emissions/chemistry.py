"""Stoichiometric CO2 factors of carbonates, computed from atomic masses.

Atomic masses are IUPAC standard values (as carbon_reference.md §5 used them for
C, O, Ca, Mg, Na and Fe); its derived factors (e.g. CaCO3 0.43971 tCO2/t) are reproduced to five
decimals by the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

ATOMIC_MASS: Mapping[str, Decimal] = {
    "C": Decimal("12.011"),
    "O": Decimal("15.999"),
    "Ca": Decimal("40.078"),
    "Mg": Decimal("24.305"),
    "Na": Decimal("22.990"),
    "Fe": Decimal("55.845"),
    "K": Decimal("39.098"),
    "Li": Decimal("6.94"),
    "Ba": Decimal("137.327"),
    "Sr": Decimal("87.62"),
    "Mn": Decimal("54.938"),
}


@dataclass(frozen=True, slots=True)
class Carbonate:
    formula: str
    names: tuple[str, ...]  # Chinese and English names accepted as ``material``
    metals: Mapping[str, int]  # metal atoms per formula unit
    carbonate_groups: int  # CO3 groups per formula unit, = CO2 released

    @property
    def molar_mass(self) -> Decimal:
        metals = sum((ATOMIC_MASS[element] * count for element, count in self.metals.items()), Decimal(0))
        return metals + self.carbonate_groups * (ATOMIC_MASS["C"] + 3 * ATOMIC_MASS["O"])

    @property
    def co2_per_tonne(self) -> Decimal:
        """tCO2 released by full calcination of one tonne of the pure carbonate."""
        co2 = ATOMIC_MASS["C"] + 2 * ATOMIC_MASS["O"]
        return self.carbonate_groups * co2 / self.molar_mass


CARBONATES: tuple[Carbonate, ...] = (
    Carbonate("CaCO3", ("碳酸钙", "石灰石", "limestone", "calcite"), {"Ca": 1}, 1),
    Carbonate("MgCO3", ("碳酸镁", "菱镁矿", "magnesite"), {"Mg": 1}, 1),
    Carbonate("CaMg(CO3)2", ("白云石", "dolomite"), {"Ca": 1, "Mg": 1}, 2),
    Carbonate("Na2CO3", ("碳酸钠", "纯碱", "soda ash"), {"Na": 2}, 1),
    Carbonate("FeCO3", ("碳酸亚铁", "菱铁矿", "siderite"), {"Fe": 1}, 1),
    Carbonate("K2CO3", ("碳酸钾", "potash"), {"K": 2}, 1),
    Carbonate("Li2CO3", ("碳酸锂",), {"Li": 2}, 1),
    Carbonate("BaCO3", ("碳酸钡", "witherite"), {"Ba": 1}, 1),
    Carbonate("SrCO3", ("碳酸锶", "strontianite"), {"Sr": 1}, 1),
    Carbonate("MnCO3", ("碳酸锰", "rhodochrosite"), {"Mn": 1}, 1),
)


def _fold(name: str) -> str:
    return name.strip().replace(" ", "").lower()


@cache
def _carbonate_index() -> Mapping[str, Carbonate]:
    return {
        _fold(name): carbonate for carbonate in CARBONATES for name in (carbonate.formula, *carbonate.names)
    }


def find_carbonate(name: str) -> Carbonate | None:
    return _carbonate_index().get(_fold(name))


def carbonate_names() -> tuple[str, ...]:
    return tuple(name for carbonate in CARBONATES for name in (carbonate.formula, *carbonate.names))


def co2_per_oxide(oxide: str) -> Decimal:
    """tCO2 released per tonne of CaO or MgO formed from its carbonate (lime output method)."""
    metal = {"CaO": "Ca", "MgO": "Mg"}[oxide]
    co2 = ATOMIC_MASS["C"] + 2 * ATOMIC_MASS["O"]
    return co2 / (ATOMIC_MASS[metal] + ATOMIC_MASS["O"])
