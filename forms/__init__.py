"""Form files: one YAML per form, named by its key."""
