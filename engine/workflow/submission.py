"""What a person submits with a create or a transition: the form validated, references checked against the
organization, required fields and the comment — every problem at once."""

from typing import Any

from sqlalchemy.orm import Session

from engine.forms.spec import FormErrors, FormSpec, clean_input, validate_form
from engine.workflow.errors import FORM_HAS_ERRORS, FormRefused
from engine.workflow.references import reference_errors
from engine.workflow.spec import TransitionSpec

REQUIRED = {"zh": "此项必填", "en": "This field is required"}
COMMENT_REQUIRED = {"zh": "请填写说明", "en": "A comment is required"}


def validated_form(session: Session, *, org_id: int, form: FormSpec, raw: dict[str, Any]) -> dict[str, Any]:
    """Validated data, references checked against the organization; FormRefused with per-field messages."""
    try:
        data = validate_form(form, raw)
    except FormErrors as errors:
        raise FormRefused(FORM_HAS_ERRORS, field_errors=errors.errors) from None
    problems = reference_errors(session, org_id=org_id, form=form, data=data)
    if problems:
        raise FormRefused(FORM_HAS_ERRORS, field_errors=problems)
    return data


def submitted_data(
    session: Session,
    *,
    org_id: int,
    transition: TransitionSpec,
    form: FormSpec | None,
    form_data: dict[str, Any],
    comment: str | None,
) -> dict[str, Any]:
    """The transition's validated form data. Invalid values, then required fields left empty, then the
    missing comment: all reported together."""
    submitted: dict[str, Any] = {}
    errors: dict[str, dict[str, str]] = {}
    if form is not None:
        try:
            submitted = validated_form(session, org_id=org_id, form=form, raw=form_data)
        except FormRefused as refused:
            errors.update(refused.field_errors)
    present = clean_input(form, form_data) if form is not None else {}
    for name in transition.required:
        if name not in present and name not in errors:
            errors[name] = REQUIRED
    if transition.comment_required and not (comment or "").strip():
        errors["comment"] = COMMENT_REQUIRED
    if errors:
        raise FormRefused(FORM_HAS_ERRORS, field_errors=errors)
    return submitted
