"""Organizations (tenants), their org-unit tree and their products."""

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from engine.models.base import OrgOwned, utcnow


class OrgUnitKind(StrEnum):
    enterprise = "enterprise"
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
