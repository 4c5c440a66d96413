"""RELIABILITY T17: a corpus of hostile files, generated here, uploaded as evidence; each is refused with
nothing kept, or accepted and neutralized (a clean display name, stored by its hash, downloaded as a
sandboxed attachment after its SHA-256 is checked). The lying Content-Length cases go over a real socket
to the app served by uvicorn. Prints ``T17 hostile files: rejected_or_neutralized=N/N``."""

import hashlib
import io
import os
import re
import socket
import stat
import struct
import unicodedata
import zipfile
from pathlib import Path

from sqlalchemy import text

from engine.config import Settings
from engine.storage import stored_path
from tests.serving import served_in_thread
from tests.web.conftest import CATALOG, WebEnv, csrf_of
from tests.web.test_evidence import HOSTILE, PDF
from web.app import create_app
from web.deps import SESSION_COOKIE

SMALL_LIMIT = 64 * 1024


def _zip(entries: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _symlink_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        link = zipfile.ZipInfo("word/document.xml")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    return buffer.getvalue()


def _declared_huge() -> bytes:
    """One stored entry whose central directory claims 150 MB unpacked (ratio under 100:1)."""
    data = _zip({"xl/worksheets/sheet1.xml": os.urandom(1_600_000)}, method=zipfile.ZIP_STORED)
    at = data.rindex(b"PK\x01\x02")
    return data[: at + 24] + struct.pack("<I", 150_000_000) + data[at + 28 :]


def _docx(document: bytes, part: str = "word/document.xml") -> bytes:
    return _zip({"[Content_Types].xml": b"<?xml version='1.0'?><Types/>", part: document})


XXE = (
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><w:document>&x;</w:document>'
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">'.encode() for i in range(1, 10))
    + b"]><workbook>&lol9;</workbook>"
)
LIMIT = 25 * 1024 * 1024

# name → content: refused, or accepted and neutralized; HOSTILE (test_evidence) joins the corpus.
CORPUS: dict[str, bytes] = {
    "oversize.pdf": PDF + b"0" * LIMIT,  # over the limit by less than the form's overhead: the store counts
    "far-oversize.pdf": PDF + b"0" * (LIMIT + 1024 * 1024),  # refused from its Content-Length
    "photo.jpg": PDF,  # extension and magic disagree
    "sheet.xlsx": PDF,
    "script.txt": b"<script>alert(document.cookie)</script>\n",  # text: served as an attachment
    "pdf-html.pdf": b"%PDF-1.4\n<html><body><script>alert(1)</script></body></html>\n",
    "pdf-zip-polyglot.pdf": PDF + _zip({"payload.html": b"<script>alert(1)</script>"}),
    "gifar.jpg": b"\xff\xd8\xff\xe0" + b"\x00" * 16 + _zip({"a.class": b"\xca\xfe\xba\xbe"}),
    "page.svg.pdf.html": b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
    "declared-150mb.xlsx": _declared_huge(),
    "nested-bomb.docx": _zip({"word/embeddings/inner.xlsx": _zip({"xl/big.xml": b"0" * 5_000_000})}),
    "nested-three.docx": _zip(
        {"word/embeddings/a.docx": _zip({"word/embeddings/b.xlsx": _zip({"xl/x.xml": b"<x/>"})})}
    ),
    "symlink.docx": _symlink_zip(),
    "slip-absolute.xlsx": _zip({"/etc/passwd": b"root:x:0:0"}),
    "slip-backslash.docx": _zip({"..\\..\\windows\\win.ini": b"[x]"}),
    "xxe.docx": _docx(XXE),
    "billion-laughs.xlsx": _docx(LAUGHS, part="xl/workbook.xml"),
    "xxe-utf16.docx": _docx("\ufeff".encode("utf-16-le") + XXE.decode().encode("utf-16-le")),
    "xxe-in-rels.docx": _docx(
        b'<?xml version="1.0"?><!doctype r [<!ENTITY % p SYSTEM "http://x/">%p;]><r/>', part="_rels/.rels"
    ),  # fmt: skip
    "../../x.pdf": PDF + b"1",
    "..\\x.pdf": PDF + b"2",
    "nul\x00name.pdf": PDF + b"3",
    "invoice\u202efdp.exe": PDF,  # shows as "invoiceexe.pdf": really an .exe
    "report\u202egnp.pdf": PDF + b"4",
    "a" * 300 + ".pdf": PDF + b"5",
    "README": b"no extension",
    **{f"legacy-{name}": content for name, content in HOSTILE.items()},
}
# The legacy names keep their extension: prefixing changes nothing that is checked.


def _scalar(web, sql: str, **params):
    with web.db.engine.connect() as connection:
        return connection.execute(text(sql), params).scalar()


def _stored_files(web) -> list[Path]:
    return [p for p in web.settings.evidence_dir.rglob("*") if p.is_file()]


def _clean_name(name: str) -> bool:
    return (
        len(name) <= 200
        and not re.search(r"[/\\\x00-\x1f]", name)
        and all(unicodedata.category(ch) not in ("Cf", "Cc") for ch in name)
        and ".." not in name.split("/")
    )


def _neutralized(web, client, name: str, content: bytes) -> bool:
    """Accepted: its row names the right hash, the bytes sit at the hash's path, the display name is clean,
    and the download is a sandboxed attachment of exactly those bytes."""
    sha = hashlib.sha256(content).hexdigest()
    with web.db.engine.connect() as connection:
        row = connection.execute(
            text("SELECT id, filename FROM evidence_file WHERE sha256 = :s"), {"s": sha}
        ).first()
    if row is None or stored_path(web.settings.evidence_dir, sha).read_bytes() != content:
        return False
    download = client.get(f"/evidence/{row.id}")
    headers = download.headers
    return (
        _clean_name(row.filename)
        and download.status_code == 200
        and download.content == content
        and headers["content-disposition"].startswith("attachment; filename*=UTF-8''")
        and headers["x-content-type-options"] == "nosniff"
        and "sandbox" in headers["content-security-policy"]
    )


def _raw_post(
    port: int,
    *,
    cookie: str,
    body: bytes,
    boundary: str,
    declared: int | str | None,
    chunked: bool = False,
    close_early: bool = False,
) -> int:
    """POST the production form with a Content-Length that need not be true; the status, or 0 when the
    server closed without one."""
    headers = [
        "POST /emissions/production HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Cookie: {SESSION_COOKIE}={cookie}",
        f"Content-Type: multipart/form-data; boundary={boundary}",
        "Connection: close",
    ]
    headers.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {declared}")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
        try:
            if chunked:
                for start in range(0, len(body), 65536):
                    piece = body[start : start + 65536]
                    sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                sock.sendall(b"0\r\n\r\n")
            else:
                sock.sendall(body)
            if close_early:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # the server answered (413) and closed before reading it all: what a limit should do
        reply = b""
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except (ConnectionResetError, TimeoutError, OSError):
            pass
    match = re.match(rb"HTTP/1\.1 (\d{3})", reply)
    return int(match.group(1)) if match else 0


def _multipart(fields: dict[str, str], filename: str, content: bytes, boundary: str) -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="evidence"; filename="{filename}"\r\n'
        "Content-Type: application/pdf\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


def _lying_lengths(web, tmp_path) -> list[tuple[str, bool]]:
    """Content-Length lies over a real socket to an app with a 64 KiB limit: each must store nothing."""
    settings = Settings(
        data_dir=tmp_path / "small", database_url=web.db.url, secret_key=web.settings.secret_key,
        evidence_max_bytes=SMALL_LIMIT,
    )  # fmt: skip
    small = WebEnv(
        db=web.db, app=create_app(settings=settings, db=web.db, catalog=CATALOG), settings=settings
    )
    client = small.as_role("carbon_manager")
    page = client.get("/emissions/production?year=2026")
    cookie = client.cookies[SESSION_COOKIE]
    fields = {
        "csrf_token": csrf_of(page.text),
        "product_id": str(_scalar(web, "SELECT id FROM product WHERE code = 'CLK'")),
        "period": "2026-11",
        "quantity": "100",
    }
    boundary = "t17boundary"
    big = _multipart(fields, "big.pdf", PDF + b"0" * (4 * SMALL_LIMIT), boundary)
    fits = _multipart(fields, "fits.pdf", PDF, boundary)
    before = _scalar(web, "SELECT count(*) FROM evidence_file")
    results = []
    with served_in_thread(small.app) as port:
        cases = {
            "Content-Length says small, body is 4× the limit": dict(body=big, declared=1000),
            "Content-Length says huge, body is small": dict(body=fits, declared=10**12, close_early=True),
            "Content-Length over the limit, body withheld": dict(body=b"", declared=len(big)),
            "Content-Length not a number": dict(body=fits, declared="12abc"),  # type: ignore[dict-item]
            "chunked, no Content-Length, body 4× the limit": dict(body=big, declared=None, chunked=True),
            "Content-Length short by one byte": dict(body=fits, declared=len(fits) - 1),
        }
        for label, case in cases.items():
            status = _raw_post(port, cookie=cookie, boundary=boundary, **case)  # type: ignore[arg-type]
            kept = _scalar(web, "SELECT count(*) FROM evidence_file") != before
            written = sum(p.stat().st_size for p in (tmp_path / "small").rglob("*") if p.is_file())
            refused = status in (0, 400, 413, 422) and not kept
            # Or the declared body was a whole form: the file kept is exactly the one sent, by its hash.
            whole = (
                status == 303
                and kept
                and _scalar(web, "SELECT sha256 FROM evidence_file ORDER BY id DESC")
                == (hashlib.sha256(PDF).hexdigest())
            )
            results.append((label, (refused or whole) and written <= SMALL_LIMIT))
            before = _scalar(web, "SELECT count(*) FROM evidence_file")
    assert (
        os.listdir(settings.evidence_dir / "tmp") == [] if (settings.evidence_dir / "tmp").exists() else True
    )
    return results


def test_t17_hostile_files_are_rejected_or_neutralized(web, tmp_path):
    client = web.as_role("carbon_manager")
    page = client.get("/emissions/production?year=2026")
    token = csrf_of(page.text)
    products = [_scalar(web, "SELECT id FROM product WHERE code = :c", c=c) for c in ("CLK",)]
    verdicts: list[tuple[str, str]] = []
    month = 0
    for name, content in CORPUS.items():
        before = _scalar(web, "SELECT count(*) FROM evidence_file")
        month = month % 11 + 1
        posted = client.post(
            "/emissions/production",
            data={
                "csrf_token": token,
                "product_id": str(products[0]),
                "period": f"2026-{month:02d}",
                "quantity": "100",
            },  # fmt: skip
            files={"evidence": (name, content)},
        )
        after = _scalar(web, "SELECT count(*) FROM evidence_file")
        if posted.status_code in (413, 422) and after == before:
            verdict = "rejected"
        elif posted.status_code == 303 and _neutralized(web, client, name, content):
            verdict = "neutralized"
        else:
            verdict = f"FAILED ({posted.status_code})"
        verdicts.append((name, verdict))
    assert not list((web.settings.evidence_dir / "tmp").glob("*")), "a refused upload left bytes behind"
    # The ones that must be refused outright (zip bombs, XXE, slips, links, mismatches) are refused.
    must_refuse = [n for n in CORPUS if n.endswith((".docx", ".xlsx", ".exe", ".html", ".svg"))]
    must_refuse += ["oversize.pdf", "far-oversize.pdf", "photo.jpg", "README"]
    wrongly_kept = [n for n, v in verdicts if n in must_refuse and v != "rejected"]
    assert wrongly_kept == []
    # A changed byte on disk is detected and refused at download.
    sha = hashlib.sha256(PDF + b"1").hexdigest()
    evidence_id = _scalar(web, "SELECT id FROM evidence_file WHERE sha256 = :s", s=sha)
    path = stored_path(web.settings.evidence_dir, sha)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    tampered = client.get(f"/evidence/{evidence_id}")
    verdicts.append(("a changed byte on disk", "rejected" if tampered.status_code == 409 else "FAILED"))
    verdicts += [(label, "rejected" if ok else "FAILED") for label, ok in _lying_lengths(web, tmp_path)]
    good = sum(1 for _, verdict in verdicts if not verdict.startswith("FAILED"))
    print(f"T17 hostile files: rejected_or_neutralized={good}/{len(verdicts)}")
    assert len(verdicts) >= 30
    assert [(n, v) for n, v in verdicts if v.startswith("FAILED")] == []
