"""The schema of a form file and its compilation to a pydantic model.

A form validates what a user posts for a transition. Extra posted fields are ignored, and protected
record attributes can never be fields, so a form cannot set state, organization, version, signatures or
authorship.
"""

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    create_model,
    field_validator,
)

from engine.values import CleanText, Id, control_character_message

PROTECTED_NAMES = frozenset(
    {
        "id", "org_id", "tenant_id", "state", "version", "workflow_key", "workflow_version", "number",
        "signature", "signatures", "signature_id", "signed_by", "approved_by", "created_by", "created_at",
        "updated_at", "closed_at", "participants", "csrf_token", "trigger", "comment", "password",
    }
)  # fmt: skip
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


class Text(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    zh: str
    en: str

    def get(self, locale: str) -> str:
        return self.zh if locale.startswith("zh") else self.en


class FieldType(StrEnum):
    text = "text"
    long_text = "long_text"
    number = "number"
    date = "date"
    choice = "choice"
    multi_choice = "multi_choice"
    user = "user"
    org_unit = "org_unit"
    clause = "clause"
    record_link = "record_link"
    evidence = "evidence"
    table = "table"


class Choice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    value: str
    zh: str
    en: str

    def label(self, locale: str) -> str:
        return self.zh if locale.startswith("zh") else self.en


class RowTasks(BaseModel):
    """A table whose rows are pieces of work: each row not done is a task of the user its ``owner`` column
    names, due on its ``due`` column, described by its ``label`` column (e.g. corrective actions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    owner: str
    due: str
    label: str
    done_column: str
    done_values: tuple[str, ...]


class FieldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: FieldType
    label: Text
    help: Text | None = None
    required: bool = False
    min: Decimal | None = None
    max: Decimal | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    unit: str | None = None
    choices: tuple[Choice, ...] = ()
    columns: tuple["FieldSpec", ...] = ()  # for tables
    min_rows: int = 0
    max_rows: int = 50
    row_tasks: RowTasks | None = None  # for tables whose rows are tasks
    records_of: str | None = None  # a record link: the workflow its record must belong to (else any)
    # No two records of the workflow in one organization hold the same value (checked when written).
    unique: bool = False

    @field_validator("name")
    @classmethod
    def _name_is_safe(cls, name: str) -> str:
        if not NAME_PATTERN.match(name):
            raise ValueError(f"field name {name!r} must be lower_snake_case")
        if name in PROTECTED_NAMES:
            raise ValueError(f"field name {name!r} is a protected record attribute")
        return name

    def check(self) -> None:
        """Type-specific consistency, with a message naming the field."""
        if self.type in (FieldType.choice, FieldType.multi_choice) and not self.choices:
            raise ValueError(f"field {self.name}: a {self.type} field needs choices")
        if self.type == FieldType.table:
            if not self.columns:
                raise ValueError(f"field {self.name}: a table needs columns")
            if any(column.type == FieldType.table for column in self.columns):
                raise ValueError(f"field {self.name}: tables cannot nest")
            if self.row_tasks:
                self._check_row_tasks(self.row_tasks)
        elif self.columns or self.row_tasks:
            raise ValueError(f"field {self.name}: only tables have columns and row tasks")
        if self.records_of is not None and self.type != FieldType.record_link:
            raise ValueError(f"field {self.name}: only a record link names the workflow of its records")
        if self.pattern:
            re.compile(self.pattern)
        if self.unique and self.type not in (FieldType.text, FieldType.number, FieldType.date):
            raise ValueError(f"field {self.name}: only text, number and date fields can be unique")

    def _check_row_tasks(self, tasks: RowTasks) -> None:
        types = {column.name: column.type for column in self.columns}
        wanted = {
            tasks.owner: FieldType.user,
            tasks.due: FieldType.date,
            tasks.label: None,
            tasks.done_column: None,
        }
        for name, kind in wanted.items():
            if name not in types or (kind and types[name] != kind):
                raise ValueError(f"field {self.name}: row_tasks names no {kind or 'column'} {name!r}")

    def open_row_tasks(self, rows: object) -> list[tuple[int, Any, Any, str]]:
        """(row number, owner, due, label) of each row of this table that is still to be done."""
        tasks = self.row_tasks
        if tasks is None or not isinstance(rows, list):
            return []
        return [
            (number, row.get(tasks.owner), row.get(tasks.due), str(row.get(tasks.label) or ""))
            for number, row in enumerate(rows, start=1)
            if isinstance(row, dict)
            and row.get(tasks.owner)
            and row.get(tasks.done_column) not in tasks.done_values
        ]

    def choice_label(self, value: str, locale: str) -> str:
        return next((c.label(locale) for c in self.choices if c.value == value), value)


class FormSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    title: Text
    fields: tuple[FieldSpec, ...]

    def check(self) -> None:
        names = [field.name for field in self.fields]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate field names: {', '.join(duplicates)}")
        for field in self.fields:
            field.check()
            for column in field.columns:
                column.check()

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    @cached_property
    def model(self) -> type[BaseModel]:
        return compile_model(self.key, self.fields)

    @cached_property
    def unique_fields(self) -> tuple[str, ...]:
        """Top-level fields whose value no other record of the workflow in the organization may hold."""
        return tuple(f.name for f in self.fields if f.unique)

    @cached_property
    def link_fields(self) -> tuple[str, ...]:
        """Top-level fields whose value links the record to another record."""
        return tuple(f.name for f in self.fields if f.type == FieldType.record_link)


def _python_type(field: FieldSpec) -> Any:
    match field.type:
        case FieldType.text | FieldType.long_text | FieldType.clause:
            limit = field.max_length or (200 if field.type != FieldType.long_text else 5000)
            return Annotated[
                CleanText,
                StringConstraints(
                    strip_whitespace=True,
                    min_length=field.min_length,
                    max_length=limit,
                    pattern=field.pattern,
                ),
            ]
        case FieldType.number:
            return Annotated[Decimal, Field(ge=field.min, le=field.max, allow_inf_nan=False)]
        case FieldType.date:
            return date
        case FieldType.choice:  # the Literal types are built at run time from the form file
            return Literal[tuple(choice.value for choice in field.choices)]
        case FieldType.multi_choice:
            return list[Literal[tuple(choice.value for choice in field.choices)]]  # type: ignore[misc]
        case FieldType.user | FieldType.org_unit | FieldType.record_link | FieldType.evidence:
            return Id
        case FieldType.table:
            row = compile_model(f"{field.name}_row", field.columns)
            rows = Annotated[list[row], Field(min_length=field.min_rows, max_length=field.max_rows)]  # type: ignore[valid-type]
            return rows
    raise ValueError(f"unknown field type {field.type}")


def compile_model(name: str, fields: tuple[FieldSpec, ...]) -> type[BaseModel]:
    definitions: dict[str, Any] = {}
    for field in fields:
        python_type = _python_type(field)
        if field.required:
            definitions[field.name] = (python_type, ...)
        else:
            definitions[field.name] = (python_type | None, None)
    return create_model(
        f"Form_{name}",
        __config__=ConfigDict(extra="ignore", str_strip_whitespace=True),
        **definitions,
    )


class FormErrors(Exception):
    """Per-field messages in both languages: ``{field path: {"zh": …, "en": …}}``; a path of a table
    cell reads ``actions.2.owner`` (row numbers from 1)."""

    def __init__(self, errors: dict[str, dict[str, str]]) -> None:
        super().__init__("; ".join(f"{k}: {v['en']}" for k, v in errors.items()))
        self.errors = errors


# pydantic error type → (zh, en) message templates, formatted with the error's context.
_MESSAGES = {
    "missing": ("此项必填", "This field is required"),
    "string_too_long": ("不能超过 {max_length} 个字符", "At most {max_length} characters"),
    "string_too_short": ("至少需要 {min_length} 个字符", "At least {min_length} characters"),
    "string_pattern_mismatch": ("格式不正确", "The format is not valid"),
    "greater_than_equal": ("不能小于 {ge}", "Must be at least {ge}"),
    "less_than_equal": ("不能大于 {le}", "Must be at most {le}"),
    "greater_than": ("必须大于 {gt}", "Must be greater than {gt}"),
    "literal_error": ("不是可选的值", "Not one of the allowed choices"),
    "decimal_parsing": ("应为数字", "Must be a number"),
    "finite_number": ("应为有限的数字", "Must be a finite number"),
    "int_parsing": ("应为整数", "Must be a whole number"),
    "date_from_datetime_parsing": ("日期格式应为 YYYY-MM-DD", "Dates are written YYYY-MM-DD"),
    "date_parsing": ("日期格式应为 YYYY-MM-DD", "Dates are written YYYY-MM-DD"),
    "too_short": ("至少需要 {min_length} 行", "At least {min_length} rows"),
    "too_long": ("最多 {max_length} 行", "At most {max_length} rows"),
    "list_type": ("应为列表", "Must be a list"),
    "string_type": ("应为文本", "Must be text"),
    "control_character": control_character_message("{character}"),
}


def _message(problem: Mapping[str, Any]) -> dict[str, str]:
    zh, en = _MESSAGES.get(problem["type"], ("输入无效", problem["msg"]))
    context = {key: str(value) for key, value in (problem.get("ctx") or {}).items()}
    try:
        return {"zh": zh.format(**context), "en": en.format(**context)}
    except KeyError:
        return {"zh": zh, "en": problem["msg"]}


def _path(location: tuple[Any, ...]) -> str:
    # Table rows are shown to people numbered from 1.
    return ".".join(str(part + 1) if isinstance(part, int) else str(part) for part in location)


def _blank(value: Any) -> bool:
    """Nothing entered: None, whitespace only, an empty list, or a row of blanks."""
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or value == []
        or (isinstance(value, dict) and all(map(_blank, value.values())))
    )


def clean_input(spec: FormSpec, raw: dict[str, Any]) -> dict[str, Any]:
    """Blank values become missing and blank table rows are dropped (a form shows spare empty rows)."""
    cleaned: dict[str, Any] = {}
    for field in spec.fields:
        value = raw.get(field.name)
        if field.type == FieldType.table and isinstance(value, list):
            value = [row for row in value if isinstance(row, dict) and not _blank(row)]
            value = [{k: (None if _blank(v) else v) for k, v in row.items()} for row in value]
        if not _blank(value) or (field.type == FieldType.table and value == [] and field.min_rows):
            cleaned[field.name] = value
    return cleaned


def validate_form(spec: FormSpec, raw: dict[str, Any]) -> dict[str, Any]:
    """The validated data as JSON-ready values, or FormErrors naming each bad field."""
    try:
        validated = spec.model.model_validate(clean_input(spec, raw))
    except ValidationError as error:
        messages: dict[str, dict[str, str]] = {}
        for problem in error.errors():
            messages.setdefault(_path(problem["loc"]), _message(problem))
        raise FormErrors(messages) from None
    return validated.model_dump(mode="json", exclude_none=True)
