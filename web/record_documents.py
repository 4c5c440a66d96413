"""Documents a process's own routes make of one of its records (an audit report), linked from the record
page: a route module registers the label and the path (with ``{record_id}``) for its workflow."""

from dataclasses import dataclass

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
