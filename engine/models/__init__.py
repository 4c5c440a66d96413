"""All tables. Importing this package registers them on ``SQLModel.metadata``."""

from engine.models.audit import AuditChainHead, AuditEvent
from engine.models.auth import ApiToken, LoginAttempt, UserSession
from engine.models.base import OrgOwned
from engine.models.emissions import (
    ActivityReading,
    EmissionBaseline,
    EmissionSource,
    EmissionTarget,
    IngestIdempotency,
    InventorySnapshot,
    MeasuredParameter,
    PerformanceParameter,
    ProductionOutput,
    ReadingBatch,
)
from engine.models.evidence import EvidenceFile
from engine.models.identity import Membership, Role, User
from engine.models.records import NumberSequence, Record, RecordLink, Signature, Task, WorkflowDefinition
from engine.models.tenancy import Organization, OrgUnit, OrgUnitKind, Product

__all__ = [
    "EvidenceFile",
    "PerformanceParameter",
    "ActivityReading",
    "EmissionBaseline",
    "EmissionSource",
    "EmissionTarget",
    "IngestIdempotency",
    "InventorySnapshot",
    "MeasuredParameter",
    "ProductionOutput",
    "ReadingBatch",
    "NumberSequence",
    "Record",
    "RecordLink",
    "Signature",
    "Task",
    "WorkflowDefinition",
    "ApiToken",
    "LoginAttempt",
    "UserSession",
    "AuditChainHead",
    "AuditEvent",
    "Membership",
    "OrgOwned",
    "OrgUnit",
    "OrgUnitKind",
    "Organization",
    "Product",
    "Role",
    "User",
]
