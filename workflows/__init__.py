"""Workflow files (one YAML per process) and their Python: ``hooks/<key>.py`` holds a process's guards,
actions and policies — the only Python, with demo/, that names a process."""
