"""Where evidence bytes are kept: a directory (the default) or an S3-compatible bucket shared by several
app instances (``TANGUAN_STORAGE_URL``, docs/adr/0038). Either way a file is named by its SHA-256
(``ab/abcdef…``), is complete before its row commits, and is hashed again whenever it is read
(engine/evidence/store.py does the checking; a store only moves bytes)."""

import hashlib
import os
import re
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

CHUNK = 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")


class StoreUnavailable(OSError):
    """The store could not be reached or refused the request (not: the file is missing)."""


@dataclass(frozen=True)
class StoredObject:
    """A stored file as the store lists it (for finding the ones no row names)."""

    sha256: str
    size: int
    written: datetime


def stored_path(evidence_dir: Path, sha256: str) -> Path:
    if not _SHA256.fullmatch(sha256):
        raise ValueError("not a SHA-256")
    return evidence_dir / sha256[:2] / sha256


class EvidenceStore(ABC):
    """Content-addressed bytes. ``chunks`` raises FileNotFoundError for a file that is not there."""

    spool_dir: Path | None  # where an upload is written while it is checked (None: the system's temp dir)

    @abstractmethod
    def chunks(self, sha256: str) -> Iterator[bytes]: ...

    @abstractmethod
    def _put(self, sha256: str, source: Path) -> None:
        """Make ``source`` (a complete, checked file) the stored file for ``sha256``, atomically."""

    @abstractmethod
    def stored(self) -> Iterator[StoredObject]: ...

    @abstractmethod
    def delete(self, sha256: str) -> None: ...

    @abstractmethod
    def check_writable(self) -> None:
        """Write and remove a probe; raises when the store cannot be written."""

    @abstractmethod
    def describe(self) -> str:
        """Where the files are, for people (no credentials)."""

    def read(self, sha256: str) -> bytes:
        return b"".join(self.chunks(sha256))

    def sha256_of(self, sha256: str) -> str | None:
        """The SHA-256 of the bytes stored under ``sha256`` now (None: nothing is stored there)."""
        digest = hashlib.sha256()
        try:
            for chunk in self.chunks(sha256):
                digest.update(chunk)
        except FileNotFoundError:
            return None
        return digest.hexdigest()

    def keep(self, sha256: str, source: Path) -> None:
        """Store the checked upload ``source`` unless an intact copy is already there; a damaged copy is
        replaced by the upload."""
        if self.sha256_of(sha256) != sha256:
            self._put(sha256, source)


class LocalStore(EvidenceStore):
    """``TANGUAN_DATA_DIR/evidence/ab/abcdef…``; uploads spool in ``evidence/tmp`` and are moved into place
    after an fsync (one file system, so the move is atomic)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.spool_dir: Path = root / "tmp"

    def path(self, sha256: str) -> Path:
        return stored_path(self.root, sha256)

    def chunks(self, sha256: str) -> Iterator[bytes]:
        with self.path(sha256).open("rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def _put(self, sha256: str, source: Path) -> None:
        target = self.path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)

    def stored(self) -> Iterator[StoredObject]:
        for path in self.root.glob("??/*"):
            if path.is_file() and _SHA256.fullmatch(path.name):
                stat = path.stat()
                yield StoredObject(path.name, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def check_writable(self) -> None:
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.spool_dir, prefix="readyz-") as probe:
            probe.write(b"ok")
            probe.flush()

    def describe(self) -> str:
        return str(self.root)


class S3Store(EvidenceStore):
    """An S3-compatible bucket: ``s3://bucket/prefix?endpoint=http://host:9000&region=…``, credentials from
    the usual AWS variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, or a profile or role). A
    PUT is atomic — the object appears whole or not at all — and carries the SHA-256 for the server to
    check on arrival."""

    spool_dir = None

    def __init__(self, url: str) -> None:
        import boto3
        from botocore.config import Config

        location = parse_storage_url(url)
        self.bucket, self.prefix, self.endpoint = location.bucket, location.prefix, location.endpoint
        config = Config(
            s3={"addressing_style": "path"} if self.endpoint else {},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        )
        self.client: Any = boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, region_name=location.region, config=config
        )

    @contextmanager
    def _answering(self) -> Iterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise FileNotFoundError(str(error)) from None
            raise StoreUnavailable(f"{self.describe()}: {error}") from error
        except BotoCoreError as error:
            raise StoreUnavailable(f"{self.describe()}: {error}") from error

    def _key(self, sha256: str) -> str:
        if not _SHA256.fullmatch(sha256):
            raise ValueError("not a SHA-256")
        return f"{self.prefix}{sha256[:2]}/{sha256}"

    def chunks(self, sha256: str) -> Iterator[bytes]:
        with self._answering():
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(sha256))["Body"]
            try:
                yield from body.iter_chunks(CHUNK)
            finally:
                body.close()

    def _put(self, sha256: str, source: Path) -> None:
        import base64

        with self._answering(), source.open("rb") as handle:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(sha256),
                Body=handle,
                ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256)).decode(),
            )

    def stored(self) -> Iterator[StoredObject]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        with self._answering():
            for page in pages:
                for item in page.get("Contents", ()):
                    relative = item["Key"][len(self.prefix) :]
                    head, _, name = relative.partition("/")
                    if len(head) == 2 and _SHA256.fullmatch(name) and name.startswith(head):
                        yield StoredObject(name, int(item["Size"]), item["LastModified"])

    def delete(self, sha256: str) -> None:
        with self._answering():
            self.client.delete_object(Bucket=self.bucket, Key=self._key(sha256))

    def check_writable(self) -> None:
        key = f"{self.prefix}tmp/readyz-{uuid.uuid4().hex}"
        with self._answering():
            self.client.put_object(Bucket=self.bucket, Key=key, Body=b"ok")
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}"
        return f"{where} ({self.endpoint})" if self.endpoint else where


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" or ending in "/"
    endpoint: str | None
    region: str | None


def parse_storage_url(url: str) -> S3Location:
    """``s3://bucket[/prefix][?endpoint=URL][&region=NAME]``; ValueError naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(
            "应为 s3://存储桶/前缀?endpoint=… / expected s3://bucket/prefix?endpoint=http://host:9000"
        )
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"endpoint", "region"})
    if unknown:
        raise ValueError(f"未知参数 / unknown parameter {', '.join(unknown)} (endpoint, region)")
    endpoint = query.get("endpoint", [None])[-1]
    if endpoint and urlsplit(endpoint).scheme not in ("http", "https"):
        raise ValueError("endpoint 应以 http:// 或 https:// 开头 / endpoint must start with http(s)://")
    prefix = parts.path.strip("/")
    return S3Location(
        bucket=parts.netloc,
        prefix=prefix + "/" if prefix else "",
        endpoint=endpoint or None,
        region=query.get("region", [None])[-1] or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    )


@lru_cache(maxsize=8)
def open_store(storage_url: str | None, evidence_dir: Path) -> EvidenceStore:
    """The store the settings name (one client per process and URL)."""
    return S3Store(storage_url) if storage_url else LocalStore(evidence_dir)
