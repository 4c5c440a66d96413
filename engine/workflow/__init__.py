"""Workflows as data: spec (YAML schema) → loader/validator → machine (transitions) → runner (fire)."""
