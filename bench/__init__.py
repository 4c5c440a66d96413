"""Benchmarks: `python -m bench.NAME` prints one `name: value unit` figure per line."""
