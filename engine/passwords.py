"""Password hashing (Argon2id) and the password policy."""

import os
import threading
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MAX_LENGTH = 256
COMMON_PASSWORDS_FILE = Path(__file__).with_name("data") / "common_passwords.txt"
# Argon2 is memory-hard (64 MiB a hash) and CPU-bound: at most one hash per core at a time. Twenty
# simultaneous sign-ins or signatures then queue instead of taking 1.3 GB and sharing the cores twenty ways
# (each would finish last); the first in line answer first.
_HASHING_SLOTS = threading.BoundedSemaphore(os.cpu_count() or 1)


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    from engine.config import get_settings

    settings = get_settings()
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )


class PasswordPolicyError(ValueError):
    def __init__(self, code: str, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    return frozenset(
        line.strip().lower()
        for line in COMMON_PASSWORDS_FILE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )


def check_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(
            "too_short",
            f"密码至少需要 {MIN_LENGTH} 个字符",
            f"Password must be at least {MIN_LENGTH} characters",
        )
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(
            "too_long",
            f"密码不能超过 {MAX_LENGTH} 个字符",
            f"Password must be at most {MAX_LENGTH} characters",
        )
    if password.lower() in _common_passwords():
        raise PasswordPolicyError(
            "common", "该密码过于常见，请换一个", "This password is too common; choose another"
        )


def hash_password(password: str) -> str:
    check_policy(password)
    with _HASHING_SLOTS:
        return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        with _HASHING_SLOTS:
            return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """Verifying against this keeps the timing of an unknown account equal to a wrong password."""
    with _HASHING_SLOTS:
        return _hasher().hash("tanguan-timing-equalizer")
