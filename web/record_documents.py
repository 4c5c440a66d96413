"""Documents a process's own routes make of one of its records (an audit report), linked from the record
page: a route module registers the label and the path (with ``{record_id}``) for its workflow. A route
module may also register a mark (作废 / OBSOLETE) that the record page and its Word export show for a
record in some state."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.forms.spec import Text


@dataclass(frozen=True)
class RecordDocument:
    label: Text
    path: str

    def url(self, record_id: int) -> str:
        return self.path.format(record_id=record_id)


RECORD_DOCUMENTS: dict[str, list[RecordDocument]] = {}


def register_document(workflow_key: str, *, label: Text, path: str) -> None:
    documents = RECORD_DOCUMENTS.setdefault(workflow_key, [])
    if all(known.path != path for known in documents):
        documents.append(RecordDocument(label, path))


RECORD_MARKS: dict[str, Callable[[Any], str | None]] = {}


def register_mark(workflow_key: str, mark: Callable[[Any], str | None]) -> None:
    """``mark(record)``: the text stamped on every rendition of the record, or None."""
    RECORD_MARKS[workflow_key] = mark


def record_mark(record: Any) -> str | None:
    found = RECORD_MARKS.get(record.workflow_key)
    return found(record) if found is not None else None
