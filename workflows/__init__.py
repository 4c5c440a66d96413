"""Workflow files (one YAML per process) and the only Python they may reference: ``hooks.py``."""

# 8.6: an inventory snapshot is frozen only from months whose data batch has passed verification.
DATA_BATCH_WORKFLOW = "carbon_data_batch"
VERIFIED_BATCH_STATES = ("verified", "reported")
# Changing the data of a month whose batch has passed verification sends the batch back, with the reason.
REOPEN_TRIGGER = {"verified": "return_for_correction", "reported": "reopen"}
# Whoever enters or changes a month's data joins its collecting batch's "create" participants (8.6: the
# separation rules then keep them from verifying or reporting it).
COLLECTED_BATCH_STATE = "collected"
