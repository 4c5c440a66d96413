"""Each process's hooks module registers its guards, actions and policies when imported. The engine
imports this package by name (never a module of it) before loading the workflow files or announcing an
event; the loader then checks every name a module declares against its workflow file."""

from workflows.hooks import (
    carbon_assets,
    carbon_data_batch,
    carbon_objective,
    compliance_obligation,
    context_register,
    controlled_statement,
    disclosure,
    dqcp,
    improvement_item,
    management_review,
    metering_instrument,
    nonconformity,
    operation,
    planned_change,
    risk_opportunity,
    support,
)

__all__ = [
    "carbon_assets",
    "carbon_data_batch",
    "carbon_objective",
    "compliance_obligation",
    "context_register",
    "controlled_statement",
    "disclosure",
    "dqcp",
    "improvement_item",
    "management_review",
    "metering_instrument",
    "nonconformity",
    "operation",
    "planned_change",
    "risk_opportunity",
    "support",
]
