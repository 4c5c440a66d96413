"""The data-quality control plan and its monthly filing."""
