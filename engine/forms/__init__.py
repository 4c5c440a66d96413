"""Form specs (YAML in ``forms/``) compiled to pydantic models for server-side validation."""
