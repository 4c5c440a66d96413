"""Settings, read from the environment with the prefix ``TANGUAN_``, and the installation key (ADR 0017)."""

import ipaddress
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from engine.storage import EvidenceStore

SECRET_KEY_FILE = "secret.key"
MIN_KEY_LENGTH = 32
# never echoed in a message
SECRET_SETTINGS = frozenset({"secret_key", "old_secret_keys", "smtp_password", "metrics_token"})


class ConfigError(Exception):
    """A setting is wrong; the message names the setting and fits on one line."""


@dataclass(frozen=True)
class KeyRing:
    """The installation key that seals e-signatures and CSRF tokens, and the keys rotated out that still
    verify what they sealed."""

    signing: str
    old: tuple[str, ...] = ()

    @property
    def all(self) -> tuple[str, ...]:
        return (self.signing, *self.old)


def generate_key() -> str:
    return secrets.token_urlsafe(48)


def checked_proxy_addresses(value: str) -> str:
    """Comma-separated IP addresses or networks, or ``*``, as uvicorn's ``forwarded_allow_ips`` takes."""
    for item in (part.strip() for part in value.split(",")):
        if item == "*":
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ValueError(
                f"{item!r} 不是 IP 地址或网段 / is not an IP address or network "
                "(comma-separated, e.g. 127.0.0.1,10.0.0.0/8, or *)"
            ) from None
    return value


NTP_PORT = 123


def split_host_port(server: str) -> tuple[str, int]:
    """An NTP server as ``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address."""
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else str(NTP_PORT)
    elif server.count(":") == 1:
        host, port = server.split(":")
    else:
        host, port = server, str(NTP_PORT)
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(
            f"{server!r} 不是 NTP 服务器地址 / is not an NTP server (host or host:port, comma-separated)"
        )
    return host, int(port)


def ntp_server_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _split_keys(value: str) -> tuple[str, ...]:
    return tuple(key.strip() for key in value.split(",") if key.strip())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TANGUAN_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./var")
    database_url: str | None = None
    secret_key: str | None = None
    old_secret_keys: str = ""  # comma-separated
    demo: bool = False  # the key may live in the data directory (see key_ring)
    forwarded_allow_ips: str = "127.0.0.1,::1"  # proxies whose X-Forwarded-Proto/-For are believed
    sqlite_busy_timeout_ms: Annotated[int, Field(ge=0)] = 15000
    session_idle_minutes: Annotated[int, Field(ge=1)] = 30
    session_absolute_hours: Annotated[int, Field(ge=1)] = 12
    login_max_failures: Annotated[int, Field(ge=1)] = 10
    login_window_minutes: Annotated[int, Field(ge=1)] = 15
    evidence_max_bytes: Annotated[int, Field(ge=1)] = 25 * 1024 * 1024
    # Argon2id cost (argon2-cffi defaults, above the OWASP floor m=19 MiB, t=2, p=1).
    argon2_time_cost: Annotated[int, Field(ge=1)] = 3
    argon2_memory_kib: Annotated[int, Field(ge=8)] = 65536
    argon2_parallelism: Annotated[int, Field(ge=1)] = 4
    default_locale: Literal["zh_CN", "en"] = "zh_CN"
    # The scheduler (docs/adr/0019) and mail. No SMTP host: notifications stay in the app.
    scheduler_interval_seconds: Annotated[int, Field(ge=1)] = 60
    # A simulated clock for the long-running scheduler, for reliability runs only (T25, ADR 0019): from the
    # real moment `anchor` on, the scheduler's time is `start` + elapsed × `speed`. Unset: the real time.
    scheduler_clock_start: datetime | None = None
    scheduler_clock_anchor: datetime | None = None
    scheduler_clock_speed: Annotated[float, Field(gt=0)] = 1.0
    evidence_orphan_grace_hours: Annotated[int, Field(ge=1)] = 24
    evidence_reminder_days: Annotated[int, Field(ge=1)] = 30  # owners are reminded this long before expiry
    # The event outbox (docs/adr/0045): an undispatched event is redelivered once this old (a live process's
    # own dispatch comes first); dispatched events are deleted after the retention.
    outbox_grace_seconds: Annotated[int, Field(ge=1)] = 60
    outbox_retention_days: Annotated[int, Field(ge=1)] = 30
    # Nothing is hard-deleted while records are retained, and the audit trail outlives them (T30, ADR 0034).
    records_retention_years: Annotated[int, Field(ge=1)] = 10
    audit_retention_years: Annotated[int, Field(ge=1)] = 10
    digest_hour: Annotated[int, Field(ge=0, le=23)] = 8  # China time
    smtp_host: str | None = None
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 25
    smtp_from: str = "tanguan@localhost"
    smtp_tls: bool = False  # STARTTLS
    smtp_username: str | None = None
    smtp_password: str | None = None
    public_url: str = "http://127.0.0.1:8000"  # the links in mail
    # Evidence files in an S3-compatible bucket shared by every instance (docs/adr/0038); unset: evidence_dir.
    storage_url: str | None = None
    # Who may read /metrics besides the local machine: a bearer token (unset: only 127.0.0.1 and ::1).
    metrics_token: str | None = None
    # The server clock against NTP (T29, docs/adr/0046): comma-separated host[:port]; empty: not checked.
    ntp_servers: str = ""
    max_clock_offset_s: Annotated[float, Field(gt=0)] = 5.0  # over this /readyz answers 503
    keep_pages: bool = True  # pages kept under the write generation (docs/adr/0048); off renders every view

    @field_validator("secret_key", "old_secret_keys")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        if value and any(len(key) < MIN_KEY_LENGTH for key in _split_keys(value)):
            raise ValueError(
                f"每个密钥至少 {MIN_KEY_LENGTH} 个字符 / every key needs at least {MIN_KEY_LENGTH} "
                "characters (`tanguan secret generate`)"
            )
        return value

    @field_validator("audit_retention_years")
    @classmethod
    def _audit_outlives_records(cls, value: int, info: ValidationInfo) -> int:
        records = info.data.get("records_retention_years")
        if records is not None and value < records:
            raise ValueError(
                f"审计追踪的保存期不得短于记录的保存期（TANGUAN_RECORDS_RETENTION_YEARS={records}）/ "
                f"the audit trail must be kept at least as long as the records ({records} years)"
            )
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses(cls, value: str) -> str:
        return checked_proxy_addresses(value)

    @field_validator("ntp_servers")
    @classmethod
    def _ntp_servers(cls, value: str) -> str:
        for server in ntp_server_list(value):
            split_host_port(server)
        return value

    @field_validator("scheduler_clock_start", "scheduler_clock_anchor")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("需要时区 / needs a UTC offset, e.g. 2027-03-15T23:30:00+08:00")
        return value

    @field_validator("storage_url")
    @classmethod
    def _storage_url(cls, url: str | None) -> str | None:
        if not url:
            return None
        from engine.storage import parse_storage_url

        parse_storage_url(url)
        return url

    @field_validator("database_url")
    @classmethod
    def _normalize_database_url(cls, url: str | None) -> str | None:
        if not url:
            return None
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                return "postgresql+psycopg://" + url[len(plain) :]
        return url

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "tanguan.sqlite3"

    @property
    def evidence_dir(self) -> Path:
        return self.data_dir / "evidence"

    @property
    def evidence_store(self) -> "EvidenceStore":
        """Where evidence bytes are kept: the bucket of ``TANGUAN_STORAGE_URL``, else ``evidence_dir``."""
        from engine.storage import open_store

        return open_store(self.storage_url, self.evidence_dir)

    @property
    def checkpoint_dir(self) -> Path:
        """A copy of every signed checkpoint outside the database (docs/adr/0032)."""
        return self.data_dir / "checkpoints"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    @property
    def demo_key_file(self) -> Path:
        return self.data_dir / SECRET_KEY_FILE

    @property
    def demo_key_allowed(self) -> bool:
        """The demo may keep its key in the data directory, but only for the data directory's own SQLite
        database: instances sharing a database must share the key, which a file per instance is not."""
        return self.demo and not self.secret_key and not self.database_url

    def key_ring(self) -> KeyRing:
        """``TANGUAN_SECRET_KEY`` signs and ``TANGUAN_OLD_SECRET_KEYS`` still verify; in demo mode without
        them, the key kept in the data directory. Never generated here: a new key would turn every
        existing signature invalid (see create_demo_key)."""
        old = _split_keys(self.old_secret_keys)
        if self.secret_key:
            return KeyRing(self.secret_key, old)
        if self.demo_key_allowed and self.demo_key_file.exists():
            return KeyRing(self.demo_key_file.read_text().strip(), old)
        raise ConfigError(self._missing_key_problem())

    def _missing_key_problem(self) -> str:
        generate = "create one with `tanguan secret generate`, give every instance the same value, back it up"
        if not self.demo:
            return (
                f"TANGUAN_SECRET_KEY 未设置 / is not set: {generate} "
                "(or TANGUAN_DEMO=1 for a demo that keeps its key in the data directory)"
            )
        if self.database_url:
            return (
                "TANGUAN_SECRET_KEY 未设置 / is not set: with TANGUAN_DATABASE_URL the demo's key file in "
                f"the data directory is not used (instances sharing a database need one key): {generate}"
            )
        return (
            f"{self.demo_key_file} 不存在 / is missing: restore it from your backup, or set "
            "TANGUAN_SECRET_KEY to the key that sealed this database's signatures"
        )

    def create_demo_key(self) -> bool:
        """Create the demo's key file unless it exists (two processes at once make one file); True when
        this call created it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(self.demo_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(descriptor, "w") as key_file:
            key_file.write(generate_key())
        return True

    def masked(self) -> dict[str, str]:
        """The effective settings for display, secrets masked."""
        shown: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            shown[f"TANGUAN_{name.upper()}"] = "" if value is None else str(value)
        shown["TANGUAN_DATABASE_URL"] = mask_url(self.effective_database_url)
        shown["TANGUAN_SECRET_KEY"] = (
            "****"
            if self.secret_key
            else (f"(demo: {self.demo_key_file})" if self.demo_key_allowed else "(not set)")
        )
        shown["TANGUAN_OLD_SECRET_KEYS"] = ", ".join("****" for _ in _split_keys(self.old_secret_keys))
        shown["TANGUAN_SMTP_PASSWORD"] = "****" if self.smtp_password else ""
        shown["TANGUAN_METRICS_TOKEN"] = "****" if self.metrics_token else ""
        return shown


def mask_url(url: str) -> str:
    """Hide the password of a database URL."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "****"


@lru_cache
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(settings_problem(exc)) from None


_ALLOWED = {
    "int_parsing": "应为整数 / a whole number is needed",
    "int_from_float": "应为整数 / a whole number is needed",
    "bool_parsing": "应为 true 或 false / true or false is needed (1/0, yes/no, on/off)",
}


def settings_problem(error: ValidationError) -> str:
    """One line: each wrong setting as its environment variable, its value (never a secret's) and what
    is allowed."""
    problems = []
    for item in error.errors():
        name = str(item["loc"][0]) if item["loc"] else ""
        shown = "…" if name in SECRET_SETTINGS else str(item.get("input", ""))
        context = item.get("ctx") or {}
        if item["type"] in _ALLOWED:
            allowed = _ALLOWED[item["type"]]
        elif item["type"] == "greater_than_equal":
            allowed = f"应为 ≥ {context['ge']} 的整数 / a whole number ≥ {context['ge']} is needed"
        elif item["type"] == "literal_error":
            allowed = f"可选 / one of: {context['expected']}"
        else:
            allowed = str(context.get("error", item["msg"]))
        problems.append(f"TANGUAN_{name.upper()}={shown}: {allowed}")
    return "; ".join(problems)
