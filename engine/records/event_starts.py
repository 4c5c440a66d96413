"""Starting records of workflows whose start is ``kind: event``."""

from typing import cast

from engine.audit import append_event
from engine.db import Database
from engine.events import DomainEvent, first_receipt
from engine.workflow.access import ActorRef
from engine.workflow.catalog import WorkflowCatalog
from engine.workflow.errors import TransitionRefused
from engine.workflow.lifecycle import create_record
from engine.workflow.loader import Workflow
from engine.workflow.spec import StartKind


class EventStarts:
    """Starts a record of each workflow whose start is ``kind: event`` when its event is published (after
    the causing change committed). The start form takes the fields the event carries by name (such as
    ``title``), and its record-link fields take the causing record, which links the two. The person whose
    action raised the event is the creator. A start the form refuses is written to the causing record's
    audit trail, not lost. The same event delivered twice starts one record (a receipt per event and workflow,
    written with the start)."""

    def __init__(self, catalog: WorkflowCatalog) -> None:
        self.catalog = catalog
        self.by_event: dict[str, list[Workflow]] = {}
        for workflow in catalog.current.values():
            if workflow.spec.start.kind == StartKind.event and workflow.spec.start.event:
                self.by_event.setdefault(workflow.spec.start.event, []).append(workflow)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EventStarts) and other.catalog is self.catalog

    __hash__ = None  # type: ignore[assignment]

    def wants(self, name: str) -> bool:
        return name in self.by_event

    def __call__(self, event: DomainEvent, database: Database) -> None:
        for workflow in self.by_event.get(event.name, ()):
            fields = {field.name for field in workflow.create_form.fields}
            form_data = {key: value for key, value in event.payload.items() if key in fields}
            form_data |= {name: event.payload.get("record_id") for name in workflow.create_form.link_fields}
            actor = ActorRef(
                id=cast(
                    int, event.payload.get("actor_id")
                ),  # the causing ActorRef's id (engine.workflow.writes)
                name=str(event.payload.get("actor_name") or "system"),
                roles=frozenset(workflow.spec.start.roles),
            )
            # Delivered again (at least once, docs/adr/0045), the event finds its receipt and starts nothing.
            consumer = f"event_start:{workflow.key}"
            try:
                with database.unit_of_work(org_id=event.org_id) as uow:
                    if not first_receipt(uow.session, event, consumer=consumer):
                        continue
                    create_record(
                        uow.session, workflow=workflow, org_id=event.org_id, actor=actor, form_data=form_data
                    )
            except TransitionRefused as refused:
                with database.unit_of_work(org_id=event.org_id) as uow:
                    if not first_receipt(uow.session, event, consumer=consumer):
                        continue
                    append_event(
                        uow.session,
                        org_id=event.org_id,
                        actor=actor.audit_actor,
                        subject_type="record",
                        subject_id=event.payload.get("record_id", ""),
                        action="event_start_failed",
                        reason=f"{workflow.key}: {refused.reason.en}; {refused.field_errors}"[:1000],
                    )


def subscribe_installation(db: Database, catalog: WorkflowCatalog) -> None:
    """The subscribers of every process that commits events (the app, the scheduler): an event the scheduler
    redelivers meets the same ones as at its COMMIT (docs/adr/0045)."""
    db.subscribe(EventStarts(catalog))
