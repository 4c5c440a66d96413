"""HTML form posts → the nested data a form spec validates (tables arrive as ``name-ROW-column``)."""

import re
from typing import Any

from starlette.datastructures import FormData

from engine.forms.spec import FieldType, FormSpec

_CELL = re.compile(r"^(?P<table>[a-z][a-z0-9_]*)-(?P<row>\d{1,3})-(?P<column>[a-z][a-z0-9_]*)$")
SPARE_ROWS = 2  # empty rows offered under a table's filled ones


def parse_form(form: FormSpec, posted: FormData) -> dict[str, Any]:
    data: dict[str, Any] = {}
    tables: dict[str, dict[int, dict[str, Any]]] = {}
    for field in form.fields:
        if field.type == FieldType.multi_choice:
            data[field.name] = [
                value for value in posted.getlist(field.name) if isinstance(value, str) and value
            ]
        elif field.type != FieldType.table and isinstance(posted.get(field.name), str):
            data[field.name] = posted.get(field.name)
    table_names = {field.name for field in form.fields if field.type == FieldType.table}
    for key, value in posted.multi_items():
        match = _CELL.match(key)
        if match and match["table"] in table_names and isinstance(value, str):
            tables.setdefault(match["table"], {}).setdefault(int(match["row"]), {})[match["column"]] = value
    for name, rows in tables.items():
        data[name] = [rows[index] for index in sorted(rows)]
    return data
