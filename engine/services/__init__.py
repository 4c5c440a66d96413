"""Use cases called by the web layer, the CLI and the scheduler. Keyword-only arguments throughout."""
