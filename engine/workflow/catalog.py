"""The workflows in force, and every version ever stored, so records stay pinned to their version."""

from pathlib import Path

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
        """Store each (key, version, sha256, spec); a changed file without a version bump is an error."""
        for workflow in self.current.values():
            stored = session.exec(
                select(WorkflowDefinition).where(
                    WorkflowDefinition.key == workflow.key,
                    WorkflowDefinition.version == workflow.spec.version,
                )
            ).first()
            if stored is None:
                session.add(
                    WorkflowDefinition(
                        key=workflow.key,
                        version=workflow.spec.version,
                        sha256=workflow.sha256,
                        spec=workflow.stored_spec,
                    )
                )
            elif stored.sha256 != workflow.sha256:
                raise WorkflowFileError(
                    Path(f"{workflow.key}.yaml"),
                    f"version {workflow.spec.version} was changed after it was stored; bump the version",
                )
        session.flush()

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
