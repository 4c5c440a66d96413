"""A local S3-compatible server for the tests: moto in server mode on a free loopback port, started by
the tests themselves (no network, no account). Each test gets a bucket of its own."""

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "tanguan-test",
    "AWS_SECRET_ACCESS_KEY": "tanguan-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class Bucket:
    endpoint: str
    name: str

    @property
    def url(self) -> str:
        return f"s3://{self.name}/tanguan/evidence?endpoint={self.endpoint}"

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def key(self, sha256: str) -> str:
        return f"tanguan/evidence/{sha256[:2]}/{sha256}"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    saved = {name: os.environ.get(name) for name in FAKE_CREDENTIALS}
    os.environ.update(FAKE_CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def s3_bucket(s3_endpoint) -> Bucket:
    bucket = Bucket(s3_endpoint, f"tanguan-{uuid.uuid4().hex[:12]}")
    bucket.client().create_bucket(Bucket=bucket.name)
    return bucket
