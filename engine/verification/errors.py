"""Why a verifier's or an admin's action was refused: the field it concerns and the message in zh and en."""

from engine.forms.spec import Text


class VerificationError(Exception):
    status = 422

    def __init__(self, field: str, message: Text, *, status: int = 422) -> None:
        super().__init__(message.en)
        self.field = field
        self.message = message
        self.status = status


class OutsideWindow(VerificationError):
    """The verifier's access is not in force now (before its start, after its end)."""

    def __init__(self, message: Text) -> None:
        super().__init__("access", message, status=403)
