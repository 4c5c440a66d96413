"""Periodic reviews: a later process (documents, risks) registers a hook that says what is due for review
as of a date; the scheduler's ``periodic_reviews`` sweep notifies the people once per (subject, period)."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from engine.forms.spec import Text


@dataclass(frozen=True)
class ReviewDue:
    subject: str  # stable within the hook: "document:12"
    period: str  # the review's period: "2027", "2027-Q1"
    title: Text  # what people read: "年度评审：能源管理手册 / Annual review: energy manual"
    user_ids: tuple[int, ...]
    record_id: int | None = None


@dataclass(frozen=True)
class ReviewHook:
    name: str
    label: Text
    due: Callable[[Session, date], Iterable[ReviewDue]]  # the session is scoped to one organization


REVIEW_HOOKS: list[ReviewHook] = []


def register_review(hook: ReviewHook) -> ReviewHook:
    """Add a hook once (by name); a module registers at import."""
    if all(known.name != hook.name for known in REVIEW_HOOKS):
        REVIEW_HOOKS.append(hook)
    return hook


def unregister_review(name: str) -> None:
    REVIEW_HOOKS[:] = [hook for hook in REVIEW_HOOKS if hook.name != name]
