"""The external verifier's portal (B9): time-boxed, read-only, scoped access for a government verifier or a
certification body; verified values beside the reported ones, returns for supplement, the conflict-of-interest
declaration, and the close that locks the reporting year (unlocked only by two people with a reason)."""
