"""Demo data of a Hunan cement plant, seeded only through the public services of engine/ (the only Python
besides workflows/hooks that names processes)."""
