"""Factor library data files (CSV), each row with its source; see docs/emissions.md."""
