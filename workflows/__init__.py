"""Workflow files (one YAML per process) and the only Python they may reference: ``hooks.py``."""

# 8.6: an inventory snapshot is frozen only from months whose data batch has passed verification.
DATA_BATCH_WORKFLOW = "carbon_data_batch"
VERIFIED_BATCH_STATES = ("verified", "reported")
