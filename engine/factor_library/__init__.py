"""The organization's factor library: grid factors published after this release (ADR 0039)."""
