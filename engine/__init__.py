"""Tanguan (碳管): the domain-neutral core. Nothing in here imports the web layer."""
