"""The table registry: importing this package registers every module's tables on ``SQLModel.metadata``
(for Alembic and ``create_all``). Code imports a table from the module that owns it, not from here."""

from engine.carbon_data.models import (
    ActivityReading,
    AllocationKey,
    AllocationShare,
    EmissionSource,
    IngestIdempotency,
    InventorySnapshot,
    MeasuredParameter,
    ProductionOutput,
    ReadingBatch,
)
from engine.documents.models import DocumentAcknowledgement
from engine.dqcp.models import MonthlyFiling
from engine.evidence.models import EvidenceFile, EvidenceLink
from engine.factor_library.models import PublishedGridFactor
from engine.identity.models import (
    ApiToken,
    LoginAttempt,
    Membership,
    Organization,
    OrgUnit,
    Product,
    User,
    UserSession,
)
from engine.models.audit import AuditChainHead, AuditCheckpoint, AuditEvent
from engine.models.outbox import EventOutbox, EventReceipt
from engine.notifications.models import Notification, NotificationPreference
from engine.planning.models import EmissionBaseline, EmissionTarget, PerformanceParameter
from engine.report_templates.models import ReportTemplate
from engine.scheduler.models import SchedulerClaim
from engine.verification.models import VerificationGrant, VerificationReturn, VerifiedValue, YearLock
from engine.workflow.models import NumberSequence, Record, RecordLink, Signature, Task, WorkflowDefinition
from engine.write_generation import WriteGeneration

__all__ = [
    "PublishedGridFactor",
    "VerificationGrant",
    "VerificationReturn",
    "VerifiedValue",
    "YearLock",
    "ActivityReading",
    "AllocationKey",
    "AllocationShare",
    "ApiToken",
    "AuditChainHead",
    "AuditCheckpoint",
    "AuditEvent",
    "DocumentAcknowledgement",
    "EmissionBaseline",
    "EmissionSource",
    "EmissionTarget",
    "EvidenceFile",
    "EvidenceLink",
    "IngestIdempotency",
    "InventorySnapshot",
    "LoginAttempt",
    "MeasuredParameter",
    "MonthlyFiling",
    "Notification",
    "NotificationPreference",
    "Membership",
    "NumberSequence",
    "OrgUnit",
    "Organization",
    "PerformanceParameter",
    "Product",
    "ProductionOutput",
    "ReadingBatch",
    "ReportTemplate",
    "Record",
    "RecordLink",
    "SchedulerClaim",
    "EventOutbox",
    "EventReceipt",
    "Signature",
    "Task",
    "WriteGeneration",
    "User",
    "UserSession",
    "WorkflowDefinition",
]
