"""The workflows in force, and every version ever stored, so records stay pinned to their version."""

from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from engine.workflow.loader import Workflow, WorkflowFileError, load_workflows, workflow_from_stored
from engine.workflow.models import WorkflowDefinition


class WorkflowCatalog:
    def __init__(self, workflows: dict[str, Workflow]) -> None:
        self.current = workflows
        self._pinned: dict[tuple[str, int], Workflow] = {
            (w.key, w.spec.version): w for w in workflows.values()
        }

    @classmethod
    def load(cls) -> "WorkflowCatalog":
        return cls(load_workflows())

    def register(self, session: Session) -> None:
        """Store each (key, version, sha256, spec); a changed file without a version bump is an error.
        Safe when several processes start at once on one database (instances behind a proxy): a row
        another process stored first is read back and compared, not inserted twice."""
        for workflow in self.current.values():
            stored = self._stored(session, workflow)
            if stored is None:
                try:
                    with session.begin_nested():
                        session.add(
                            WorkflowDefinition(
                                key=workflow.key,
                                version=workflow.spec.version,
                                sha256=workflow.sha256,
                                spec=workflow.stored_spec,
                            )
                        )
                    continue
                except IntegrityError:  # stored by another process since the read above
                    stored = self._stored(session, workflow)
            if stored is not None and stored.sha256 != workflow.sha256:
                raise WorkflowFileError(
                    Path(f"{workflow.key}.yaml"),
                    f"version {workflow.spec.version} was changed after it was stored; bump the version",
                )
        session.flush()

    @staticmethod
    def _stored(session: Session, workflow: Workflow) -> WorkflowDefinition | None:
        return session.exec(
            select(WorkflowDefinition).where(
                WorkflowDefinition.key == workflow.key,
                WorkflowDefinition.version == workflow.spec.version,
            )
        ).first()

    def get(self, key: str) -> Workflow | None:
        return self.current.get(key)

    def pinned(self, session: Session, *, key: str, version: int) -> Workflow:
        """The workflow version a record started with."""
        found = self._pinned.get((key, version))
        if found is None:
            stored = session.exec(
                select(WorkflowDefinition).where(
                    WorkflowDefinition.key == key, WorkflowDefinition.version == version
                )
            ).one()
            found = self._pinned[(key, version)] = workflow_from_stored(stored.spec)
        return found
