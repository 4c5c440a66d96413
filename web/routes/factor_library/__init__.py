"""The factor library page (/factors)."""
