"""``tanguan backup --to DIR`` and ``tanguan restore --from DIR`` (docs/adr/0038)."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from engine.config import KeyRing


def backup_command(
    to: Annotated[Path, typer.Option("--to", help="a new or empty directory for the backup")],
    include_key: Annotated[
        bool, typer.Option(help="write the installation key into the backup (keys.env, mode 0600)")
    ] = False,
    key_stored_elsewhere: Annotated[
        bool, typer.Option(help="the installation key is backed up apart (its fingerprint is recorded)")
    ] = False,
) -> None:
    """Back up the database, the evidence files and a manifest with their hashes (备份)."""
    from engine.backup.archive import BackupError, take_backup
    from engine.cli import CliError, _database, _echo, _key_ring, _note, _settings
    from engine.migrate import schema_status
    from engine.records.display import china_time

    settings = _settings()
    db = _database()
    if schema_status(db.engine).current is None:  # a newer schema is refused here, an older one is fine
        raise CliError("数据库是空的，没有可备份的内容 / the database is empty: nothing to back up")
    try:
        summary = take_backup(
            database_url=settings.effective_database_url,
            evidence_store=settings.evidence_store,
            checkpoint_dir=settings.checkpoint_dir,
            to=to,
            key_ring=_key_ring(db),
            include_key=include_key,
            key_stored_elsewhere=key_stored_elsewhere,
        )
    except BackupError as error:
        raise CliError(str(error)) from None
    finally:
        db.dispose()
    manifest = summary.manifest
    rows = sum(entry["rows"] for entry in manifest["tables"].values())
    tables, files = len(manifest["tables"]), manifest["evidence"]["files"]
    _echo(
        f"备份完成 / backup written: {to} — 数据表 / tables {tables}, 行 / rows {rows}, "
        f"证据文件 / evidence files {files}, 版本 / revision {manifest['revision']}, "
        f"快照 / snapshot {china_time(manifest['snapshot_at'])}（北京时间 / China time）, "
        f"{summary.seconds:.1f} s"
    )
    if include_key:
        _note(
            "备份中含安装密钥（keys.env）：请妥善保管此备份 / "
            "the backup holds the installation key (keys.env): keep it as safe as the key itself"
        )
    if summary.missing_evidence:
        _note(
            f"证据文件缺失或被改动，未备份 {len(summary.missing_evidence)} 个 / evidence files missing or "
            f"altered, not backed up: {len(summary.missing_evidence)}: {summary.missing_evidence[0]}"
        )
        raise typer.Exit(1)


def restore_command(
    source: Annotated[Path, typer.Option("--from", help="a directory written by `tanguan backup`")],
    force: Annotated[
        bool, typer.Option(help="empty a target that is not empty (its database and evidence files go)")
    ] = False,
) -> None:
    """Restore a backup into an empty database and data directory, then check it (恢复). Exit 1 when a
    check fails."""
    from engine.backup.archive import BackupError, read_manifest, restore_backup
    from engine.cli import CliError, _echo, _settings
    from engine.config import ConfigError
    from engine.migrate import known_revision, schema_head

    settings = _settings()
    try:
        manifest = read_manifest(source)
        # The demo keeps its key in the data directory: the backed-up one goes back there once restored.
        demo_key = (
            settings.demo_key_allowed and manifest["key"]["included"] and not settings.demo_key_file.exists()
        )
        try:
            key_ring = _included_keys(source) if demo_key else settings.key_ring()
        except ConfigError:
            key_ring = None
        report = restore_backup(
            source=source,
            database_url=settings.effective_database_url,
            evidence_store=settings.evidence_store,
            checkpoint_dir=settings.checkpoint_dir,
            key_ring=key_ring,
            force=force,
            known_revision=known_revision(manifest["revision"]),
        )
    except BackupError as error:
        raise CliError(str(error)) from None
    if demo_key and key_ring is not None:
        _write_demo_key(settings.demo_key_file, key_ring.signing)
    for check in report.checks:
        _echo(f"{'[green]OK[/]' if check.ok else '[red]FAILED[/]'} {check.zh} / {check.en}")
    head = schema_head()
    if report.manifest["revision"] != head:
        _echo(
            f"数据库版本 {report.manifest['revision']}，本程序 {head}：请运行 `tanguan db upgrade` / "
            f"the schema is at revision {report.manifest['revision']}, this Tanguan's is {head}: "
            "run `tanguan db upgrade`"
        )
    _echo(
        f"恢复用时 / restore time (RTO): {report.seconds:.1f} s"
        f"（数据库 / database {report.database_seconds:.1f} s）"
    )
    raise typer.Exit(0 if report.ok else 1)


def _included_keys(source: Path) -> "KeyRing":
    from engine.backup.archive import KEY_FILE
    from engine.config import KeyRing

    values = dict(line.split("=", 1) for line in (source / KEY_FILE).read_text().splitlines() if "=" in line)
    old = tuple(key for key in values.get("TANGUAN_OLD_SECRET_KEYS", "").split(",") if key)
    return KeyRing(values["TANGUAN_SECRET_KEY"], old)


def _write_demo_key(key_file: Path, key: str) -> None:
    import os

    key_file.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key)
