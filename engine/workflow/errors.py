"""Why a create or a transition was refused; ``status`` is the HTTP answer (403, 409, 422)."""

from engine.forms.spec import Text


class TransitionRefused(Exception):
    status = 409

    def __init__(self, reason: Text, *, field_errors: dict[str, dict[str, str]] | None = None) -> None:
        super().__init__(reason.en)
        self.reason = reason
        self.field_errors = field_errors or {}


class NotAvailable(TransitionRefused):
    status = 409


class VersionConflict(TransitionRefused):
    status = 409


class RoleRefused(TransitionRefused):
    status = 403


class SeparationRefused(TransitionRefused):
    status = 403


class GuardRefused(TransitionRefused):
    status = 409


class FormRefused(TransitionRefused):
    status = 422


class SignatureRefused(TransitionRefused):
    status = 403


FORM_HAS_ERRORS = Text(zh="表单有误", en="The form has errors")
