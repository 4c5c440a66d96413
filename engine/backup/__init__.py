"""Backup and restore and the checks around them (RELIABILITY T26, T27; docs/adr/0038).

``checksums``: per-table row counts and SHA-256 over every row, the triggers present (also what
``bench.migrations`` compares across an upgrade). ``archive``: ``take_backup`` and ``restore_backup`` (SQLite
online backup API or ``pg_dump -Fc``, the evidence files, a manifest). ``cli``: ``tanguan backup`` and
``tanguan restore``.
"""
