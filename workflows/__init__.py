"""Workflow files (one YAML per process) and the only Python they may reference: ``hooks.py``."""
