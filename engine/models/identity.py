"""Users and their memberships (user × organization × roles)."""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import JSON, Field, SQLModel

from engine.models.base import OrgOwned, utcnow


class Role(StrEnum):
    admin = "admin"
    carbon_manager = "carbon_manager"
    quality_manager = "quality_manager"
    top_management = "top_management"
    internal_auditor = "internal_auditor"
    process_owner = "process_owner"
    staff = "staff"
    external_auditor = "external_auditor"


class UserBase(SQLModel):
    email: str = Field(max_length=254)
    display_name: str = Field(max_length=120)
    locale: str | None = Field(default=None, max_length=16)


class User(UserBase, table=True):
    __tablename__ = "user_account"
    __table_args__ = (sa.UniqueConstraint("email"),)

    id: int | None = Field(default=None, primary_key=True)
    password_hash: str = Field(max_length=255)
    is_active: bool = True
    must_change_password: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class UserPublic(UserBase):
    id: int
    is_active: bool


class Membership(OrgOwned, table=True):
    __table_args__ = (sa.UniqueConstraint("org_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    roles: list[str] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
