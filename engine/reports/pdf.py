"""PDF renditions through LibreOffice, where it is installed (``soffice``): one batch call for many
documents, in a private profile so that concurrent conversions do not share a lock."""

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path


def pdf_converter() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def docx_to_pdf(documents: Sequence[Path], *, out_dir: Path, timeout_s: float = 600) -> dict[Path, Path]:
    """The PDF of each document that converted (absent where LibreOffice failed or is not installed)."""
    converter = pdf_converter()
    if converter is None or not documents:
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tanguan-soffice-") as profile:
        subprocess.run(
            [
                converter,
                f"-env:UserInstallation=file://{profile}",
                "--headless",
                "--convert-to",
                "pdf",
                "--outdir",
                str(out_dir),
                *map(str, documents),
            ],
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    converted = {document: out_dir / f"{document.stem}.pdf" for document in documents}
    return {document: pdf for document, pdf in converted.items() if pdf.exists()}
