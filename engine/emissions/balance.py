"""Carbon mass balance of chemicals and coking (see docs/emissions.md): process lines that share a
``mass_balance`` group, inputs positive and products and wastes as their own ``flow: output`` lines, each
M × C × 44/12; the group's net is E = (Σ inputs × C − Σ outputs × C) × 44/12."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from enum import StrEnum

from engine.emissions.errors import CalcError, Issue
from engine.emissions.lines import (
    TONNE,
    Found,
    Outcome,
    carbon_outcome,
    need,
    only_co2,
    reject_unused,
    require_dimension,
    warn_zero,
)
from engine.emissions.model import CalcLine, LineResult
from engine.emissions.rounding import plain, shown
from engine.emissions.units import Dimension, convert

GROUP = "mass_balance"  # the line key naming the group


class Flow(StrEnum):
    INPUT = "input"
    OUTPUT = "output"


FLOW_SPELLINGS = {
    "input": Flow.INPUT,
    "投入": Flow.INPUT,
    "输入": Flow.INPUT,
    "output": Flow.OUTPUT,
    "产出": Flow.OUTPUT,
    "输出": Flow.OUTPUT,
}


def _flow(line: CalcLine) -> Flow:
    if line.flow is None:
        return Flow.INPUT
    flow = FLOW_SPELLINGS.get(line.flow.strip().lower())
    if flow is None:
        raise CalcError.single(
            field="flow",
            zh=f"未知流向“{line.flow}”：请填 input（投入）或 output（产出，含产品和废物）",
            en=f"unknown flow '{line.flow}': use input or output (products and wastes)",
        )
    return flow


def carbon_balance(line: CalcLine, found: Found, *, name: str) -> Outcome:
    """One material of a carbon balance group: +M × C × 44/12 for an input, − for an output."""
    method_zh, method_en = "碳平衡法", "the carbon mass balance"
    found.check(
        lambda: reject_unused(
            line, used=("carbon_fraction", GROUP, "flow"), method_zh=method_zh, method_en=method_en
        )
    )
    found.check(lambda: only_co2(line, method_zh=method_zh, method_en=method_en))
    if line.mass_balance is None:
        found.add(
            CalcError.single(
                field=GROUP,
                zh="给出了 flow 却没有 mass_balance：请填写碳平衡组名（如“焦化”），同组的投入和产出行相加",
                en="flow is given without mass_balance: name the carbon balance group (e.g. 'coking'); the "
                "input and output lines of a group are summed",
            ).issues
        )
    if line.carbon_fraction is None:
        found.add(
            CalcError.single(
                field="carbon_fraction",
                zh=f"碳平衡中的“{name}”需要 carbon_fraction：含碳量（tC/t，实测或按分子式计算）",
                en=f"'{name}' in a carbon balance needs carbon_fraction: its carbon content (tC/t, measured "
                "or from its formula)",
            ).issues
        )
    flow = found.check(lambda: _flow(line))
    unit = found.check(
        lambda: require_dimension(
            line,
            Dimension.MASS,
            what_zh="碳平衡物料",
            what_en="a carbon balance material",
            hint_zh="（气体请先按密度换算为质量）",
            hint_en=" (convert a gas to mass from its density first)",
        )
    )
    warn_zero(line, found, "carbon_fraction", what_zh="含碳量", what_en="the carbon content", example="0.85")
    mass = convert(line.quantity, source=need(unit), target=TONNE)
    carbon, group, flow = need(line.carbon_fraction), need(line.mass_balance), need(flow)
    output = flow is Flow.OUTPUT
    role_zh, role_en = ("产出", "output of") if output else ("投入", "input to")
    return carbon_outcome(
        mass=mass,
        carbon=carbon,
        activity=f"{plain(mass)} t {name} ({role_en} carbon balance '{group}')",
        reason_zh=f"碳平衡“{group}”的{role_zh}：{name} 含碳量为本行给出的值",
        reason_en=f"{role_en} carbon balance '{group}': carbon content of {name} given on the line",
        taken_out=output,
        note=f" ({role_en} carbon balance '{group}')",
    )


def balance_totals(lines: Iterable[LineResult]) -> dict[str, Decimal]:
    """The net tCO2 of each carbon balance group: Σ inputs − Σ outputs (the lines are signed)."""
    totals: dict[str, Decimal] = {}
    for result in lines:
        group = result.trace.inputs.get(GROUP)
        if group is not None:
            totals[group] = totals.get(group, Decimal(0)) + result.tco2e
    return totals


def balance_warnings(lines: Iterable[LineResult]) -> list[Issue]:
    """A group whose outputs carry more carbon than its inputs (a stock change, a missing input, or a
    carbon content in the wrong unit): calculated as given, and flagged."""
    return [
        Issue(
            line=None,
            field=GROUP,
            message_zh=f"碳平衡“{group}”的产出含碳量大于投入（净 {shown(net)} tCO2）："
            "请核对各投入、产出及含碳量",
            message_en=f"the outputs of carbon balance '{group}' carry more carbon than its inputs (net "
            f"{shown(net)} tCO2): check the inputs, outputs and carbon contents",
        )
        for group, net in balance_totals(lines).items()
        if net < 0
    ]
