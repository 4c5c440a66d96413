"""Every test here runs real processes on PostgreSQL behind Debian's nginx: marked `postgres` and `slow`,
and skipped, saying why, where the server or a command is missing."""

import shutil

import pytest

from tests.conftest import NO_POSTGRES, POSTGRES_URL
from tests.s3 import s3_bucket, s3_endpoint  # noqa: F401  (fixtures: a local S3-compatible server)

COMMANDS = ("nginx", "openssl", "psql")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    missing = [command for command in COMMANDS if shutil.which(command) is None]
    for item in items:
        if "tests/deploy/" not in item.nodeid.replace("\\", "/"):
            continue
        item.add_marker(pytest.mark.postgres)
        item.add_marker(pytest.mark.slow)
        if not POSTGRES_URL:
            item.add_marker(pytest.mark.skip(reason=NO_POSTGRES))
        elif missing:
            item.add_marker(pytest.mark.skip(reason=f"not installed: {', '.join(missing)}"))
