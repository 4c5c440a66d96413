"""Password storage and policy (RELIABILITY T13)."""

import os
import subprocess
import sys

import pytest

from engine.passwords import PasswordPolicyError, check_policy

PRODUCTION_CHECK = """
import statistics, time
from engine.passwords import hash_password, verify_password
hashes, timings = [], []
for i in range(5):
    started = time.perf_counter()
    hashes.append(hash_password(f"Kiln-Line-{i}-5000td"))
    timings.append(time.perf_counter() - started)
assert verify_password(hashes[0], "Kiln-Line-0-5000td") and not verify_password(hashes[0], "wrong")
print(hashes[0].rsplit("$", 2)[0])
print(round(statistics.median(timings) * 1000))
"""


def test_production_hashes_are_argon2id_above_the_owasp_floor():
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANGUAN_ARGON2_")}
    result = subprocess.run([sys.executable, "-c", PRODUCTION_CHECK], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    prefix, p50_ms = result.stdout.split()
    print(f"\nT13 hash parameters {prefix}, p50 hash time {p50_ms} ms")
    assert prefix == "$argon2id$v=19$m=65536,t=3,p=4"


@pytest.mark.parametrize(
    "password", ["short7!", "password", "12345678", "qwerty123", "Password1", "iloveyou"]
)
def test_short_and_common_passwords_are_refused(password):
    with pytest.raises(PasswordPolicyError):
        check_policy(password)


def test_long_passphrases_are_accepted():
    check_policy("x" * 64)
    check_policy("湘江水泥五千吨熟料线碳排放核算")
