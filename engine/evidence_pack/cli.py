"""``tanguan pack export`` and ``tanguan pack verify``: the auditor's evidence pack (docs/adr/0032)."""

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

pack_app = typer.Typer(no_args_is_help=True, help="证据包 / the auditor's evidence pack (docs/adr/0032)")


def _day(value: str, option: str) -> date:
    from engine.cli import CliError

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CliError(f"{option} {value!r} is not a date (YYYY-MM-DD)") from None


@pack_app.command("export")
def pack_export(
    org: Annotated[str, typer.Option(help="organization slug")],
    date_from: Annotated[str, typer.Option("--from", help="first day, YYYY-MM-DD (China date)")],
    date_to: Annotated[str, typer.Option("--to", help="last day, YYYY-MM-DD (China date)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="the zip to write")],
    clause: Annotated[str | None, typer.Option(help="one clause, e.g. 10.1 (default: all)")] = None,
    pdf: Annotated[
        bool, typer.Option(help="PDF of every record through LibreOffice, where installed")
    ] = True,
) -> None:
    """Export the evidence pack of a clause and period (导出证据包), signed and verifiable offline."""
    import time

    from engine.cli import CliError, _echo, _key_ring, _note, _ready_database, _settings
    from engine.evidence_pack.build import PackError, PackRequest, export_pack
    from engine.reports.pdf import pdf_converter
    from engine.workflow.catalog import WorkflowCatalog

    db = _ready_database()
    request = PackRequest(
        org_slug=org, clause=clause, date_from=_day(date_from, "--from"), date_to=_day(date_to, "--to")
    )
    if pdf and pdf_converter() is None:
        _note("LibreOffice 未安装，不生成 PDF / LibreOffice is not installed: records as docx and JSON only")
    started = time.perf_counter()
    settings = _settings()
    try:
        summary = export_pack(
            db,
            request=request,
            out=output,
            catalog=WorkflowCatalog.load(),
            key_ring=_key_ring(db),
            evidence_store=settings.evidence_store,
            checkpoint_dir=settings.checkpoint_dir,
            pdf=pdf,
        )
    except PackError as error:
        raise CliError(str(error)) from None
    _echo(
        f"{output}: {summary.records} records, {summary.pdfs} PDFs, {summary.evidence_files} evidence files, "
        f"{summary.audit_events} audit events up to the checkpoint at seq {summary.checkpoint.seq}, "
        f"{output.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s"
    )


@pack_app.command("verify")
def pack_verify(
    pack: Annotated[Path, typer.Argument(help="the pack's zip")],
    public_key: Annotated[
        str | None,
        typer.Option(help="the Ed25519 public key you trust (default: this installation's, if any)"),
    ] = None,
) -> None:
    """Verify a pack offline (校验证据包); exit 1 names the file or audit event that does not match."""
    from engine.audit_trail.checkpoints import trusted_public_keys
    from engine.cli import _echo, _settings
    from engine.config import ConfigError
    from engine.evidence_pack.verify_pack import PackProblem, verify

    if public_key is None:
        try:
            trusted: set[str] | None = trusted_public_keys(_settings().key_ring())
        except ConfigError:
            trusted = None
    else:
        trusted = {public_key.lower()}
    try:
        lines = verify(pack, public_key=None)
        if trusted is not None:
            lines.append(_trusted_signer(pack, trusted))
    except PackProblem as problem:
        _echo(f"[red]FAILED[/]  {problem}")
        raise typer.Exit(1) from None
    for line in lines:
        _echo(f"[green]OK[/]  {line}")
    _echo("证据包校验通过 / PACK VERIFIED")


def _trusted_signer(pack: Path, trusted: set[str]) -> str:
    import json
    import zipfile

    from engine.evidence_pack.verify_pack import MANIFEST, PackProblem

    with zipfile.ZipFile(pack) as archive:
        key = json.loads(archive.read(MANIFEST))["public_key"]
    if key not in trusted:
        raise PackProblem(f"{MANIFEST}: signed by key {key}, which is not a key you trust")
    return "signer: a key you trust"
