"""The evidence register and evidence pages."""
