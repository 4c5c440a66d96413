"""The scheduler: sweep jobs, their registry, the runner and the leader (docs/adr/0019)."""
