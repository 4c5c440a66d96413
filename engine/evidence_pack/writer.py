"""The pack's zip, written the one way `verify_pack.py` accepts: fixed times and modes, no comments, no
data descriptors, every file's SHA-256 and size noted for the manifest as it is written (streamed: a
large evidence file never sits in memory)."""

import hashlib
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine.evidence_pack.verify_pack import EPOCH, FILE_MODE

CHUNK = 1 << 20


class PackWriter:
    def __init__(self, path: Path) -> None:
        self._zip = zipfile.ZipFile(path, "w", allowZip64=True)  # a seekable file: no data descriptors
        self.files: list[dict[str, Any]] = []

    def _info(self, name: str, *, compress: bool) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, EPOCH)
        info.external_attr = FILE_MODE
        info.create_system = 3
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        return info

    def add_bytes(self, name: str, data: bytes, *, compress: bool = True, listed: bool = True) -> str:
        self._zip.writestr(self._info(name, compress=compress), data, compresslevel=6 if compress else None)
        digest = hashlib.sha256(data).hexdigest()
        if listed:
            self.files.append({"path": name, "sha256": digest, "size": len(data)})
        return digest

    def add_chunks(self, name: str, chunks: Iterable[bytes], *, compress: bool) -> str:
        digest, size = hashlib.sha256(), 0
        with self._zip.open(self._info(name, compress=compress), "w") as handle:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                handle.write(chunk)
        self.files.append({"path": name, "sha256": digest.hexdigest(), "size": size})
        return digest.hexdigest()

    def add_file(self, name: str, path: Path, *, compress: bool = False) -> str:
        def chunks() -> Iterable[bytes]:
            with open(path, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    yield chunk

        return self.add_chunks(name, chunks(), compress=compress)

    def close(self) -> None:
        self._zip.close()
