"""Settings, read from the environment with the prefix ``TANGUAN_``."""

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_FILE = "secret.key"


class ConfigError(Exception):
    """A setting is wrong; the message names the setting and fits on one line."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TANGUAN_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./var")
    database_url: str | None = None
    secret_key: str | None = None
    sqlite_busy_timeout_ms: int = 15000
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    login_max_failures: int = 10
    login_window_minutes: int = 15
    evidence_max_bytes: int = 25 * 1024 * 1024
    # Argon2id cost (argon2-cffi defaults, above the OWASP floor m=19 MiB, t=2, p=1).
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4
    default_locale: str = "zh_CN"

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
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path}"

    def resolved_secret_key(self) -> str:
        """The configured key, else one generated once and kept in the data directory."""
        if self.secret_key:
            return self.secret_key
        key_file = self.data_dir / SECRET_KEY_FILE
        if not key_file.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_urlsafe(48))
            key_file.chmod(0o600)
        return key_file.read_text().strip()

    def masked(self) -> dict[str, str]:
        """The effective settings for display, secrets masked."""
        shown: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            shown[f"TANGUAN_{name.upper()}"] = "" if value is None else str(value)
        shown["TANGUAN_DATABASE_URL"] = mask_url(self.effective_database_url)
        shown["TANGUAN_SECRET_KEY"] = "****" if self.secret_key else f"(generated in {self.data_dir})"
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
    return Settings()
