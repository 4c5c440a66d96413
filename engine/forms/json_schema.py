"""A form as JSON Schema (draft 2020-12), for integrators who post records over the API without reading the
YAML. The schema says what ``engine.forms.spec.validate_form`` accepts; labels and choices carry both
languages in ``x-`` keywords, and a reference field names what its id points to."""

from typing import Any

from engine.forms.spec import FieldSpec, FieldType, FormSpec
from engine.values import ID_MAX

DRAFT = "https://json-schema.org/draft/2020-12/schema"
_REFERENCE = {
    FieldType.user: "user",
    FieldType.org_unit: "org_unit",
    FieldType.record_link: "record",
    FieldType.evidence: "evidence",
}
_TEXT_LIMIT = {FieldType.long_text: 5000}


def form_json_schema(form: FormSpec) -> dict[str, Any]:
    return {
        "$schema": DRAFT,
        "title": form.title.en,
        "x-title": form.title.model_dump(),
        **_object(form.fields),
    }


def _object(fields: tuple[FieldSpec, ...]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {spec.name: field_json_schema(spec) for spec in fields},
        "required": [spec.name for spec in fields if spec.required],
    }


def field_json_schema(spec: FieldSpec) -> dict[str, Any]:
    schema: dict[str, Any] = {"title": spec.label.en, "x-label": spec.label.model_dump()}
    if spec.help:
        schema["description"] = spec.help.en
        schema["x-help"] = spec.help.model_dump()
    match spec.type:
        case FieldType.text | FieldType.long_text | FieldType.clause:
            schema |= {"type": "string", "maxLength": spec.max_length or _TEXT_LIMIT.get(spec.type, 200)}
            if spec.min_length is not None:
                schema["minLength"] = spec.min_length
            if spec.pattern:
                schema["pattern"] = spec.pattern
            if spec.type == FieldType.clause:
                schema["x-kind"] = "clause"
        case FieldType.number:
            # A decimal: a JSON number, or a string holding one (exact, as stored).
            schema |= {"type": ["number", "string"]}
            if spec.min is not None:
                schema["minimum"] = float(spec.min)
            if spec.max is not None:
                schema["maximum"] = float(spec.max)
            if spec.unit:
                schema["x-unit"] = spec.unit
        case FieldType.date:
            schema |= {"type": "string", "format": "date"}
        case FieldType.choice:
            schema |= _choices(spec)
        case FieldType.multi_choice:
            schema |= {"type": "array", "items": _choices(spec)}
        case FieldType.user | FieldType.org_unit | FieldType.record_link | FieldType.evidence:
            schema |= {
                "type": "integer",
                "minimum": 1,
                "maximum": ID_MAX,
                "x-reference": _REFERENCE[spec.type],
            }
            if spec.records_of:
                schema["x-records-of"] = spec.records_of
        case FieldType.table:
            schema |= {
                "type": "array",
                "minItems": spec.min_rows,
                "maxItems": spec.max_rows,
                "items": _object(spec.columns),
            }
    if spec.unique:
        schema["x-unique"] = True
    return schema


def _choices(spec: FieldSpec) -> dict[str, Any]:
    return {
        "type": "string",
        "enum": [choice.value for choice in spec.choices],
        "x-choices": [choice.model_dump() for choice in spec.choices],
    }
