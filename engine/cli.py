"""The ``tanguan`` command. Imports stay inside the commands so that start-up is fast."""

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from engine.backup.cli import backup_command, restore_command
from engine.evidence_pack.cli import pack_app
from engine.scheduler.cli import scheduler_app

if TYPE_CHECKING:
    from engine.config import KeyRing, Settings
    from engine.db import Database

# Longer than the proxy's idle upstream connections (nginx: 60 s): else the server may close a connection just
# as the proxy (or a client) sends the next request on it, which then fails (T28 saw one such read error in
# 19,398 requests with uvicorn's 5 s).
KEEP_ALIVE_S = 75

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="碳管 Tanguan — carbon management system",
)
db_app = typer.Typer(no_args_is_help=True, help="数据库 / database schema")
user_app = typer.Typer(no_args_is_help=True, help="用户 / user accounts")
audit_app = typer.Typer(no_args_is_help=True, help="审计追踪 / audit trail")
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
token_app = typer.Typer(no_args_is_help=True, help="API 令牌 / personal access tokens")
app.add_typer(token_app, name="token")
workflows_app = typer.Typer(no_args_is_help=True, help="流程 / workflow definitions")
app.add_typer(workflows_app, name="workflows")
secret_app = typer.Typer(no_args_is_help=True, help="安装密钥 / the installation key (docs/adr/0017)")
app.add_typer(secret_app, name="secret")
app.add_typer(scheduler_app, name="scheduler")
app.add_typer(pack_app, name="pack")
app.command("backup")(backup_command)
app.command("restore")(restore_command)


class CliError(Exception):
    """Printed as one line, exit code 2."""


def _settings() -> "Settings":
    from engine.config import get_settings

    return get_settings()


def _database() -> "Database":
    from engine.db import Database

    return Database.from_settings(_settings())


@app.callback()
def _check_settings() -> None:
    if "--help" not in sys.argv:
        _settings()  # a bad setting stops every command with one line naming it (main)


def _key_ring(db: "Database | None" = None, *, demo: bool = False) -> "KeyRing":
    """The installation key (ADR 0017). In demo mode without a configured key, the data directory's key
    file, created when missing — but never while the database holds signatures a new key would orphan."""
    settings = _settings()
    if demo and not settings.demo:
        settings = settings.model_copy(update={"demo": True})
    created = False
    if settings.demo_key_allowed and not settings.demo_key_file.exists() and db is not None:
        created = _signature_count(db) == 0 and settings.create_demo_key()
    ring = settings.key_ring()
    if settings.demo_key_allowed:
        _note(
            f"演示模式：安装密钥{'已生成于' if created else '在'} {settings.demo_key_file}，"
            "请与数据库一起备份 / "
            f"demo mode: the installation key is {settings.demo_key_file}{' (new)' if created else ''}; "
            "back it up with the database (without it every e-signature reads invalid)"
        )
    return ring


def _signature_count(db: "Database") -> int:
    from engine.records.signatures import count_signatures

    with db.read_session(all_orgs=True) as session:
        return count_signatures(session)


def _ready_database() -> "Database":
    """The database, refusing to work on a schema that is behind or ahead of this code."""
    from engine.migrate import schema_status

    db = _database()
    status = schema_status(db.engine)
    if not status.up_to_date:
        raise CliError("the database schema is not up to date: run `tanguan db upgrade` first")
    return db


def _echo(message: str) -> None:
    from rich.console import Console

    Console(soft_wrap=True).print(message, highlight=False)


def _note(message: str) -> None:
    """On standard error: what a command prints for a person, never part of its output."""
    typer.echo(message, err=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations (创建或升级数据库)."""
    from engine.migrate import upgrade_with_report

    report = upgrade_with_report(_database().engine)
    waited = (
        f" after waiting {report.lock_wait_seconds:.1f} s for another upgrade"
        if report.lock_wait_seconds >= 0.1
        else ""
    )
    if report.applied:
        _echo(
            f"applied {len(report.applied)} migrations ({report.applied[0]} … {report.applied[-1]}){waited}"
        )
    else:
        _echo(f"nothing to apply: already at the head revision{waited}")
    _echo(f"database at revision {report.status.current}")


@db_app.command("grant-app-role")
def db_grant_app_role(
    role: Annotated[str, typer.Argument(help="the PostgreSQL role the web instances use")],
) -> None:
    """Let a PostgreSQL role use the schema as the application, under row-level security (授予应用角色)."""
    from engine.migrate import RoleError, grant_application_role

    try:
        with _database().engine.begin() as connection:
            grant_application_role(connection, role=role)
    except RoleError as error:
        _note(f"未授权 / not granted: {error}")
        raise typer.Exit(2) from None
    _echo(f"role {role} may use the schema (audit trail append-only; row-level security applies)")


@db_app.command("status")
def db_status() -> None:
    """Show the database's schema revision."""
    from engine.migrate import schema_status

    status = schema_status(_database().engine)
    _echo(f"current {status.current or '(empty)'}, head {status.head}, up to date: {status.up_to_date}")


@app.command("config")
def show_config() -> None:
    """Print the effective settings, secrets masked (显示配置)."""
    for key, value in _settings().masked().items():
        typer.echo(f"{key}={value}")


@app.command("init")
def init(
    org_slug: Annotated[str, typer.Option(prompt="Organization slug (a-z, 0-9, -)")],
    org_name: Annotated[str, typer.Option(prompt="Organization name (组织名称)")],
    admin_email: Annotated[str, typer.Option(prompt="Admin e-mail")],
    admin_name: Annotated[str, typer.Option(prompt="Admin name (姓名)")],
    admin_password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    org_name_en: str = "",
) -> None:
    """Create or upgrade the database, then the first organization and its admin (初始化)."""
    from engine.audit import Actor
    from engine.identity.models import OrganizationCreate
    from engine.identity.organizations import create_organization, get_organization_by_slug
    from engine.identity.users import create_user, get_user_by_email, grant_membership
    from engine.migrate import upgrade

    db = _database()
    upgrade(db.engine)
    with db.unit_of_work(all_orgs=True) as uow:
        org = get_organization_by_slug(uow.session, slug=org_slug)
        if org is None:
            org = create_organization(
                uow.session,
                data=OrganizationCreate(slug=org_slug, name=org_name, name_en=org_name_en),
                actor=Actor(None, f"tanguan init ({admin_email})"),
            )
            _echo(f"created organization {org.slug}")
        else:
            _echo(f"organization {org.slug} exists already")
        admin = get_user_by_email(uow.session, email=admin_email)
        if admin is None:
            admin = create_user(
                uow.session, email=admin_email, display_name=admin_name, password=admin_password
            )
            _echo(f"created admin {admin.email}")
        assert org.id is not None
        grant_membership(
            uow.session, org_id=org.id, user=admin, roles=["admin"], actor=Actor(None, "tanguan init")
        )


@app.command("demo")
def demo(
    if_empty: Annotated[bool, typer.Option(help="Seed only when the database has no organization")] = False,
) -> None:
    """Seed the demo enterprise, a cement plant in Hunan (演示数据), and print its logins."""
    from sqlmodel import select

    from demo.seed import DEMO_LOGINS, DEMO_PASSWORD, seed_demo
    from engine.audit_trail.checkpoints import sign_checkpoint
    from engine.identity.models import Organization
    from engine.migrate import upgrade
    from engine.workflow.catalog import WorkflowCatalog

    db = _database()
    upgrade(db.engine)  # an empty data directory is fine, as for `tanguan init`
    keys = _key_ring(db, demo=True)
    settings = _settings()
    if not settings.demo and not settings.secret_key:
        _note("serve it with TANGUAN_DEMO=1 (`make run` sets it): TANGUAN_DEMO=1 .venv/bin/tanguan serve")
    with db.unit_of_work(all_orgs=True) as uow:
        if if_empty and uow.session.exec(select(Organization.id)).first() is not None:
            _echo("database has organizations already; demo not seeded")
            return
        org = seed_demo(
            uow.session,
            catalog=WorkflowCatalog.load(),
            secret_key=keys.signing,
            evidence_store=settings.evidence_store,
        )
    assert org.id is not None
    with db.unit_of_work(org_id=org.id) as uow:  # the first signed checkpoint (docs/adr/0032)
        sign_checkpoint(
            uow.session, org_id=org.id, key_ring=keys, reason="manual", mirror_dir=settings.checkpoint_dir
        )
    _echo(f"demo enterprise: {org.name} ({org.slug})")
    for login in DEMO_LOGINS:
        _echo(f"  {login.email:28} {DEMO_PASSWORD}  {login.role.value:17} {login.name} {login.title_zh}")


@app.command("calc")
def calc(
    file: Annotated[Path, typer.Argument(help="JSON, CSV or xlsx activity lines (docs/calc-format.md)")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Calculate a GHG inventory from a file, no database needed (排放核算, GB/T 32150)."""
    from engine.emissions.cli import run_calc

    raise typer.Exit(run_calc(file, as_json=as_json))


@app.command("serve")
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    with_scheduler: Annotated[
        bool, typer.Option(help="run the scheduler in this process too (one instance on SQLite: `make run`)")
    ] = False,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="the reverse proxies whose X-Forwarded-Proto/-For are believed: comma-separated IPs or "
            "networks, or * (default TANGUAN_FORWARDED_ALLOW_IPS, else 127.0.0.1,::1)"
        ),
    ] = None,
) -> None:
    """Serve the web application (启动服务)."""
    import uvicorn

    from engine.config import checked_proxy_addresses
    from engine.workflow.loader import load_workflows

    try:
        proxies = checked_proxy_addresses(forwarded_allow_ips or _settings().forwarded_allow_ips)
    except ValueError as exc:
        raise CliError(f"--forwarded-allow-ips: {exc}") from None
    load_workflows()  # an invalid workflow or form file stops here, naming the file and the problem
    db = _ready_database()
    _key_ring(db)  # no key, no start: a key made up here would orphan the signatures
    if with_scheduler:
        if workers != 1:
            raise CliError("--with-scheduler needs --workers 1 (else run `tanguan scheduler` on its own)")
        from engine.scheduler.cli import start_background

        start_background(db, _settings())
    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=proxies,
        access_log=False,  # one JSON line per request instead (web/observability.py)
        timeout_keep_alive=KEEP_ALIVE_S,
    )


@user_app.command("add")
def user_add(
    email: Annotated[str, typer.Option(prompt=True)],
    name: Annotated[str, typer.Option(prompt="Name (姓名)")],
    org: Annotated[str, typer.Option(help="organization slug", prompt=True)],
    role: Annotated[list[str], typer.Option(help="role; repeat for several")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    must_change: Annotated[bool, typer.Option(help="force a password change at first sign-in")] = True,
) -> None:
    """Add a user to an organization with roles (or set the roles of an existing user)."""
    from engine.audit import Actor
    from engine.identity.organizations import get_organization_by_slug
    from engine.identity.users import create_user, get_user_by_email, grant_membership

    db = _ready_database()
    with db.unit_of_work(all_orgs=True) as uow:
        organization = get_organization_by_slug(uow.session, slug=org)
        if organization is None:
            raise CliError(f"no organization with slug {org!r}")
        user = get_user_by_email(uow.session, email=email)
        if user is None:
            user = create_user(
                uow.session,
                email=email,
                display_name=name,
                password=password,
                must_change_password=must_change,
            )
        assert organization.id is not None
        grant_membership(
            uow.session, org_id=organization.id, user=user, roles=role, actor=Actor(None, "tanguan user add")
        )
    _echo(f"{user.email}: {', '.join(sorted(role))} in {org}")


@user_app.command("disable")
def user_disable(
    email: Annotated[str, typer.Option(prompt=True)],
    reason: Annotated[
        str, typer.Option(help="why (recorded in the audit trail)")
    ] = "disabled by administrator",
) -> None:
    """Disable a user: every session of theirs ends at once."""
    from engine.audit import Actor
    from engine.identity.users import get_user_by_email, set_user_active

    db = _ready_database()
    with db.unit_of_work(all_orgs=True) as uow:
        user = get_user_by_email(uow.session, email=email)
        if user is None:
            raise CliError(f"no user with e-mail {email}")
        set_user_active(
            uow.session, user=user, active=False, actor=Actor(None, "tanguan user disable"), reason=reason
        )
    _echo(f"{email} disabled")


def _organizations(db: "Database", org: str | None) -> list[tuple[int, str]]:
    from sqlmodel import col, select

    from engine.identity.models import Organization

    with db.read_session(all_orgs=True) as session:
        query = select(Organization.id, Organization.slug).order_by(col(Organization.id))
        if org:
            query = query.where(Organization.slug == org)
        orgs = [(org_id, slug) for org_id, slug in session.exec(query).all() if org_id is not None]
    if org and not orgs:
        raise CliError(f"no organization with slug {org!r}")
    return orgs


@audit_app.command("verify")
def audit_verify(
    org: Annotated[str | None, typer.Option(help="organization slug (default: all)")] = None,
) -> None:
    """Verify the hash chains and the signed checkpoints (校验审计链与签名检查点). Exit 1 names the first
    broken seq and why."""
    from engine.audit import verify_chain
    from engine.audit_trail.checkpoints import check_against_checkpoints
    from engine.config import ConfigError
    from engine.records.display import china_time

    db = _ready_database()
    try:
        key_ring = _key_ring(db)
    except ConfigError as error:
        key_ring = None
        _note(f"签名检查点未校验 / checkpoints not checked: {error}")
    broken = 0
    with db.engine.connect() as connection:
        for org_id, slug in _organizations(db, org):
            check = verify_chain(connection, org_id=org_id)
            if not check.ok:
                broken += 1
                _echo(f"[red]BROKEN[/] {slug}: first bad seq {check.broken_seq}: {check.problem}")
                continue
            signed = ""
            if key_ring is not None:
                against = check_against_checkpoints(
                    connection, org_id=org_id, key_ring=key_ring, mirror_dir=_settings().checkpoint_dir
                )
                if not against.ok:
                    broken += 1
                    _echo(f"[red]BROKEN[/] {slug}: first bad seq {against.broken_seq}: {against.problem}")
                    continue
                latest = against.latest
                signed = (
                    f"; {against.checkpoints} signed checkpoints, the latest at seq {latest.seq} "
                    f"({china_time(latest.signed_at)} China time)"
                    if latest
                    else "; no signed checkpoint yet"
                )
            _echo(f"[green]OK[/] {slug}: {check.events_checked} events, chain intact{signed}")
    raise typer.Exit(1 if broken else 0)


@audit_app.command("checkpoint")
def audit_checkpoint(
    org: Annotated[str | None, typer.Option(help="organization slug (default: all)")] = None,
) -> None:
    """Sign each chain head now (签署审计链检查点); the scheduler does it daily."""
    from engine.audit_trail.checkpoints import sign_checkpoint

    db = _ready_database()
    key_ring = _key_ring(db)
    for org_id, slug in _organizations(db, org):
        with db.unit_of_work(org_id=org_id) as uow:
            checkpoint = sign_checkpoint(
                uow.session,
                org_id=org_id,
                key_ring=key_ring,
                reason="manual",
                mirror_dir=_settings().checkpoint_dir,
            )
        _echo(
            f"{slug}: signed at seq {checkpoint.seq}"
            if checkpoint
            else f"{slug}: empty chain, nothing to sign"
        )


@audit_app.command("public-key")
def audit_public_key() -> None:
    """The Ed25519 public key that signs the checkpoints and packs (公钥): publish it to your auditors."""
    from engine.audit_trail.checkpoints import public_key_of

    typer.echo(public_key_of(_key_ring(_database()).signing))


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Option(help="the user's e-mail")],
    name: Annotated[str, typer.Option(help="what the token is for, e.g. energy-monitoring")],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help="what it may do on /api/v1: read, records:write, meter:write (repeat; default read)"
        ),
    ] = None,
    expires: Annotated[
        str, typer.Option(help="days from now (90) or a date (2027-06-30, China time); default never")
    ] = "",
    org: Annotated[str | None, typer.Option(help="organization slug (default: the user's first)")] = None,
) -> None:
    """Create a personal access token for the JSON API. It is printed once and stored hashed."""
    from zoneinfo import ZoneInfo

    from engine.identity.auth import TokenError, create_api_token, default_org_id, token_expiry
    from engine.identity.organizations import get_organization_by_slug
    from engine.identity.users import get_user_by_email, memberships_of
    from web.i18n import DISPLAY_TIMEZONE

    db = _ready_database()
    try:
        expires_at = token_expiry(expires, timezone=ZoneInfo(DISPLAY_TIMEZONE))
        with db.unit_of_work(all_orgs=True) as uow:
            account = get_user_by_email(uow.session, email=user)
            if account is None or not account.is_active:
                raise CliError(f"no active user with e-mail {user}")
            assert account.id is not None
            org_id: int | None
            if org:
                organization = get_organization_by_slug(uow.session, slug=org)
                member_of = {m.org_id for m in memberships_of(uow.session, user_id=account.id)}
                if organization is None or organization.id not in member_of:
                    raise CliError(f"{user} is not a member of {org!r}")
                org_id = organization.id
            else:
                org_id = default_org_id(uow.session, user=account)
                if org_id is None:
                    raise CliError(f"{user} belongs to no organization")
            token = create_api_token(
                uow.session,
                user=account,
                org_id=org_id,
                name=name,
                scopes=scope or ["read"],
                expires_at=expires_at,
            )
    except TokenError as error:
        option = {"scopes": "--scope"}.get(error.field, f"--{error.field}")
        raise CliError(f"{option}: {error.en}") from None
    typer.echo(token)


@token_app.command("revoke")
def token_revoke(
    user: Annotated[str, typer.Option(help="the user's e-mail")],
    name: Annotated[str, typer.Option(help="the token's name")],
) -> None:
    """Revoke a user's tokens of that name."""
    from engine.identity.auth import revoke_api_token
    from engine.identity.users import get_user_by_email

    db = _ready_database()
    with db.unit_of_work(all_orgs=True) as uow:
        account = get_user_by_email(uow.session, email=user)
        if account is None:
            raise CliError(f"no user with e-mail {user}")
        count = revoke_api_token(uow.session, user=account, name=name)
    _echo(f"{count} token(s) revoked")


@workflows_app.command("check")
def workflows_check() -> None:
    """Validate every workflow and form file (校验流程定义)."""
    from engine.workflow.loader import load_workflows

    for key, workflow in sorted(load_workflows().items()):
        spec = workflow.spec
        _echo(
            f"[green]OK[/] {key} v{spec.version} ({spec.title.zh} / {spec.title.en}), clause {spec.clause}: "
            f"{len(spec.states)} states, {len(spec.transitions)} transitions, sha256 {workflow.sha256[:12]}"
        )


@workflows_app.command("show")
def workflows_show(key: str, locale: Annotated[str, typer.Option(help="zh_CN or en")] = "zh_CN") -> None:
    """Print a workflow's spec and its Mermaid state diagram."""
    import yaml

    from engine.workflow.diagram import mermaid
    from engine.workflow.loader import load_workflows

    workflow = load_workflows().get(key)
    if workflow is None:
        raise CliError(f"no workflow {key!r}")
    typer.echo(yaml.safe_dump(workflow.stored_spec["workflow"], allow_unicode=True, sort_keys=False))
    typer.echo(mermaid(workflow.spec, locale=locale))


@app.command("check-clock")
def check_clock_command(
    server: Annotated[
        list[str] | None,
        typer.Option("--server", help="an NTP server host[:port] (repeatable; default TANGUAN_NTP_SERVERS)"),
    ] = None,
) -> None:
    """Print this server's clock offset from NTP; exit 1 over TANGUAN_MAX_CLOCK_OFFSET_S, 2 without an
    answer (检查服务器时钟)."""
    from engine.clock_check import check_clock
    from engine.config import ntp_server_list, split_host_port

    settings = _settings()
    servers = server or ntp_server_list(settings.ntp_servers)
    for name in servers:
        try:
            split_host_port(name)
        except ValueError as error:
            raise CliError(f"--server: {error}") from None
    status = check_clock(servers)
    if not status.enabled:
        raise CliError("TANGUAN_NTP_SERVERS 未设置 / is empty: name an NTP server (or --server HOST)")
    if status.reading is None:
        _note(f"时钟未检查 / clock not checked: {status.error}")
        raise typer.Exit(2)
    reading, limit = status.reading, settings.max_clock_offset_s
    within = abs(reading.offset_s) <= limit
    _echo(
        f"时钟偏差 offset {reading.offset_s:+.3f} s against {reading.server} "
        f"(往返 round trip {reading.round_trip_s * 1000:.1f} ms); "
        f"上限 max {limit:g} s: {'正常 OK' if within else '超出 TOO FAR'}"
    )
    raise typer.Exit(0 if within else 1)


@secret_app.command("generate")
def secret_generate() -> None:
    """Print a new random key for TANGUAN_SECRET_KEY (生成密钥)."""
    from engine.config import generate_key

    typer.echo(generate_key())


@secret_app.command("rotate")
def secret_rotate() -> None:
    """Print a new key and the settings that rotate to it: the new key signs, the old ones still verify."""
    from engine.config import generate_key

    keys = _key_ring()
    typer.echo(
        "# 在每个实例上设置以下两行并全部重启；备份新密钥，旧密钥不要删除（它们签的电子签名靠它们验证）。\n"
        "# Set these two lines on every instance and restart them all; back up the new key, and keep\n"
        "# the old ones: the e-signatures they sealed verify only while they are listed\n"
        "# (`tanguan secret status` counts them).\n"
        f"TANGUAN_SECRET_KEY={generate_key()}\n"
        f"TANGUAN_OLD_SECRET_KEYS={','.join(keys.all)}"
    )


@secret_app.command("status")
def secret_status() -> None:
    """Count the e-signatures each key verifies; exit 1 when some verify with none (密钥状态)."""
    from engine.records.signatures import seal_census

    db = _ready_database()
    keys = _key_ring(db)
    with db.read_session(all_orgs=True) as session:
        *by_key, unverified = seal_census(session, keys=keys.all)
    for position, count in enumerate(by_key):
        _echo(f"{'current key' if position == 0 else f'old key {position}'}: {count} signatures")
    _echo(f"{unverified} unverified" + (" (sealed by a key that is not configured)" if unverified else ""))
    raise typer.Exit(1 if unverified else 0)


def main() -> None:
    """Console entry: known failures print one line, not a traceback."""
    from sqlalchemy.exc import OperationalError

    from engine.config import ConfigError, mask_url
    from engine.identity.users import UserError
    from engine.migrate import SchemaTooNewError
    from engine.passwords import PasswordPolicyError
    from engine.workflow.loader import WorkflowFileError

    try:
        app()  # standalone: usage errors and typer.Exit set the exit code; other exceptions come here
    except (CliError, ConfigError, SchemaTooNewError, UserError, WorkflowFileError) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except PasswordPolicyError as exc:
        typer.echo(f"error: {exc.message_zh} / {exc.message_en}", err=True)
        sys.exit(2)
    except OperationalError as exc:
        url = mask_url(_settings().effective_database_url)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        typer.echo(f"error: cannot use the database at TANGUAN_DATABASE_URL={url}: {reason}", err=True)
        sys.exit(2)
