"""Organizations (tenants) with their units and products; users, memberships and roles; sign-in sessions,
login attempts and API tokens."""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import JSON, Field, SQLModel

from engine.models.base import OrgOwned, utcnow


class OrgUnitKind(StrEnum):
    """Group → legal entity → site / production line / process (the units national ETS allowances are
    allocated to); departments and facilities sit anywhere below (engine.identity.org_tree)."""

    group = "group"
    legal_entity = "legal_entity"
    enterprise = "enterprise"
    site = "site"
    production_line = "production_line"
    process = "process"
    department = "department"
    facility = "facility"


class OrganizationBase(SQLModel):
    slug: str = Field(max_length=64, regex=r"^[a-z0-9][a-z0-9-]*$")
    name: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    region: str = Field(default="湖南", max_length=64)
    industry: str = Field(default="", max_length=120)


class Organization(OrganizationBase, table=True):
    __table_args__ = (sa.UniqueConstraint("slug"),)

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class OrganizationCreate(OrganizationBase):
    pass


class OrganizationPublic(OrganizationBase):
    id: int


class OrgUnitBase(SQLModel):
    kind: OrgUnitKind = Field(sa_type=sa.String(16))
    code: str = Field(max_length=64)
    name: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)


class OrgUnit(OrgUnitBase, OrgOwned, table=True):
    __tablename__ = "org_unit"
    __table_args__ = (sa.UniqueConstraint("org_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    parent_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)


class ProductBase(SQLModel):
    code: str = Field(max_length=64)
    name: str = Field(max_length=200)
    name_en: str = Field(default="", max_length=200)
    unit: str = Field(default="t", max_length=32)


class Product(ProductBase, OrgOwned, table=True):
    __table_args__ = (sa.UniqueConstraint("org_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    # The production line or process that makes it (None: the enterprise as a whole): its intensity is that
    # unit's emissions, shared electricity and heat allocated (engine.carbon_data.allocation), per its output.
    org_unit_id: int | None = Field(default=None, foreign_key="org_unit.id")


class Role(StrEnum):
    admin = "admin"
    carbon_manager = "carbon_manager"
    quality_manager = "quality_manager"
    top_management = "top_management"
    internal_auditor = "internal_auditor"
    process_owner = "process_owner"
    staff = "staff"
    external_auditor = "external_auditor"


# How a role reads on documents the engine writes (pages use the template macro ``role_label``).
ROLE_LABELS: dict[str, tuple[str, str]] = {
    Role.admin: ("系统管理员", "Administrator"),
    Role.carbon_manager: ("碳管理员", "Carbon manager"),
    Role.quality_manager: ("质量经理", "Quality manager"),
    Role.top_management: ("最高管理者", "Top management"),
    Role.internal_auditor: ("内审员", "Internal auditor"),
    Role.process_owner: ("过程负责人", "Process owner"),
    Role.staff: ("员工", "Staff"),
    Role.external_auditor: ("外部审核员", "External auditor"),
}


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


class UserSession(SQLModel, table=True):
    __tablename__ = "user_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    org_id: int | None = Field(default=None, foreign_key="organization.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)


class LoginAttempt(SQLModel, table=True):
    __tablename__ = "login_attempt"
    __table_args__ = (
        sa.Index("ix_login_attempt_email_at", "email", "attempted_at"),
        sa.Index("ix_login_attempt_ip_at", "ip", "attempted_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254)
    ip: str = Field(max_length=64)
    succeeded: bool
    attempted_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class TokenScope(StrEnum):
    """What a personal access token may do on the JSON API (it never opens a page)."""

    read = "read"  # every GET, and the audit chain check
    records_write = "records:write"  # create records, fire transitions
    meter_write = "meter:write"  # post meter readings


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    org_id: int = Field(foreign_key="organization.id")
    name: str = Field(max_length=120)
    scopes: list[str] = Field(sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    expires_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    last_used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
