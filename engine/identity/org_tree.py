"""The organization tree (4.3): group → legal entity → site / production line / process, with the
departments and facilities the plant already had. Units are added, renamed, re-kinded and moved here;
every change is an audited event in the organization's chain, naming the parent by code and name (never
by id). Anything scoped to a unit rolls up to every unit above it (``subtree_ids``)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from sqlmodel import Session, select

from engine.audit import Actor, append_event
from engine.forms.spec import Text
from engine.identity.models import OrgUnit, OrgUnitKind
from engine.identity.organizations import add_org_unit, unit_label

KIND_LABELS: dict[OrgUnitKind, Text] = {
    OrgUnitKind.group: Text(zh="集团", en="Group"),
    OrgUnitKind.legal_entity: Text(zh="法人单位", en="Legal entity"),
    OrgUnitKind.enterprise: Text(zh="企业", en="Enterprise"),
    OrgUnitKind.site: Text(zh="厂区/场所", en="Site"),
    OrgUnitKind.production_line: Text(zh="生产线", en="Production line"),
    OrgUnitKind.process: Text(zh="工序", en="Process"),
    OrgUnitKind.department: Text(zh="部门", en="Department"),
    OrgUnitKind.facility: Text(zh="设施", en="Facility"),
}


class OrgTreeRefused(ValueError):
    """A change the tree cannot take; ``field`` names the form field it concerns."""

    def __init__(self, field: str, message: Text) -> None:
        super().__init__(message.en)
        self.field = field
        self.message = message


@dataclass
class TreeNode:
    unit: OrgUnit
    depth: int
    children: list["TreeNode"] = field(default_factory=list)

    def walk(self) -> Iterable["TreeNode"]:
        yield self
        for child in self.children:
            yield from child.walk()

    def unit_ids(self) -> set[int]:
        return {node.unit.id for node in self.walk() if node.unit.id is not None}

    def rolled_up(self, amounts: Mapping[int, Decimal]) -> Decimal:
        """The amount of this unit and every unit below it."""
        return sum((amounts.get(node.unit.id or 0, Decimal(0)) for node in self.walk()), Decimal(0))


def unit_tree(units: Iterable[OrgUnit]) -> list[TreeNode]:
    """The units as a forest, each level by code; a unit whose parent is missing is a root."""
    units = list(units)
    known = {unit.id for unit in units}
    children: dict[int | None, list[OrgUnit]] = {}
    for unit in units:
        parent = unit.parent_id if unit.parent_id in known else None
        children.setdefault(parent, []).append(unit)

    def build(unit: OrgUnit, depth: int) -> TreeNode:
        kids = sorted(children.get(unit.id, []), key=lambda u: u.code)
        return TreeNode(unit=unit, depth=depth, children=[build(kid, depth + 1) for kid in kids])

    return [build(root, 0) for root in sorted(children.get(None, []), key=lambda u: u.code)]


def flatten(forest: Iterable[TreeNode]) -> list[TreeNode]:
    return [node for root in forest for node in root.walk()]


def subtree_ids(units: Iterable[OrgUnit], *, unit_id: int) -> set[int]:
    """The unit and every unit below it (empty when the organization has no such unit)."""
    node = next((n for n in flatten(unit_tree(units)) if n.unit.id == unit_id), None)
    return node.unit_ids() if node else set()


def _parent(session: Session, *, org_id: int, parent_id: int | None) -> OrgUnit | None:
    if parent_id is None:
        return None
    parent = session.get(OrgUnit, parent_id)
    if parent is None or parent.org_id != org_id:
        raise OrgTreeRefused(
            "parent_id", Text(zh="本组织没有该上级单元", en="No such parent unit in the organization")
        )
    return parent


def _code_free(session: Session, *, org_id: int, code: str, unit_id: int | None = None) -> None:
    taken = session.exec(select(OrgUnit).where(OrgUnit.org_id == org_id, OrgUnit.code == code)).first()
    if taken is not None and taken.id != unit_id:
        raise OrgTreeRefused(
            "code", Text(zh=f"代码 {code} 已被“{taken.name}”使用", en=f"Code {code} is used by {taken.name}")
        )


def add_unit(
    session: Session,
    *,
    org_id: int,
    kind: OrgUnitKind,
    code: str,
    name: str,
    name_en: str = "",
    parent_id: int | None,
    actor: Actor,
) -> OrgUnit:
    parent = _parent(session, org_id=org_id, parent_id=parent_id)
    _code_free(session, org_id=org_id, code=code)
    return add_org_unit(
        session, org_id=org_id, kind=kind, code=code, name=name, name_en=name_en, parent=parent, actor=actor
    )


def update_unit(
    session: Session,
    *,
    org_id: int,
    unit_id: int,
    kind: OrgUnitKind,
    code: str,
    name: str,
    name_en: str,
    parent_id: int | None,
    actor: Actor,
) -> OrgUnit:
    """Rename, re-kind, re-code or move a unit; a move under itself or one of its own units is refused."""
    unit = session.get(OrgUnit, unit_id)
    if unit is None or unit.org_id != org_id:
        raise LookupError(unit_id)
    parent = _parent(session, org_id=org_id, parent_id=parent_id)
    if parent_id is not None:
        units = session.exec(select(OrgUnit).where(OrgUnit.org_id == org_id)).all()
        if parent_id in subtree_ids(units, unit_id=unit_id):
            raise OrgTreeRefused(
                "parent_id",
                Text(
                    zh="不能移到它自己或其下级单元之下",
                    en="A unit cannot move under itself or a unit below it",
                ),
            )
    _code_free(session, org_id=org_id, code=code, unit_id=unit_id)
    old_parent = session.get(OrgUnit, unit.parent_id) if unit.parent_id else None
    changes: dict[str, list[object]] = {}
    for name_of_field, old, new in (
        ("kind", unit.kind.value if isinstance(unit.kind, OrgUnitKind) else unit.kind, kind.value),
        ("code", unit.code, code),
        ("name", unit.name, name),
        ("name_en", unit.name_en, name_en),
        ("parent", unit_label(old_parent), unit_label(parent)),
    ):
        if old != new:
            changes[name_of_field] = [old, new]
    if not changes:
        return unit
    unit.kind, unit.code, unit.name, unit.name_en, unit.parent_id = kind, code, name, name_en, parent_id
    session.add(unit)
    session.flush()
    append_event(
        session,
        org_id=org_id,
        actor=actor,
        subject_type="org_unit",
        subject_id=unit_id,
        action="updated",
        changes=changes,
    )
    return unit
