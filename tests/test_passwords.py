"""Passwords: argon2id for new hashes; every form werkzeug ever wrote verifies and is upgraded.

The legacy forms are checked against hashes made by ``werkzeug_hash`` below, written from
werkzeug's documented algorithm (``werkzeug/security.py``, ``_hash_internal``, 0.6 to 3.1), and
against known answers the real werkzeug 1.0.1 produced (``WERKZEUG_1_0_1``). Werkzeug 3, the
version installed here, can still make the pbkdf2 and scrypt forms; those are cross-checked
with it both ways.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import signal
import sqlite3
import string
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from werkzeug.security import check_password_hash, generate_password_hash

from minitwit import passwords
from tests.conftest import shared_file

SCENARIO_PASSWORD = "]=)[X{Km{z"
UNICODE_PASSWORD = "KnøckKnøck ☃ ]=)[X{Km{z"


def werkzeug_hash(password: str, method: str, salt: str | None = None) -> str:
    """What werkzeug's ``generate_password_hash(password, method)`` wrote, with a given salt."""
    if salt is None:
        salt = (
            ""
            if method == "plain"
            else "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(8))
        )
    secret, salt_bytes = password.encode("utf-8"), salt.encode("utf-8")
    name, *args = method.split(":")
    if name == "plain":
        digest = password
    elif name == "pbkdf2":  # 0.9+: pbkdf2:DIGEST:ROUNDS, key as long as the digest
        digest = hashlib.pbkdf2_hmac(args[0], secret, salt_bytes, int(args[1])).hex()
    elif name == "scrypt":  # 2.3+: scrypt:N:r:p, 64-byte key
        n, r, p = map(int, args)
        digest = hashlib.scrypt(secret, salt=salt_bytes, n=n, r=r, p=p, maxmem=132 * n * r * p)
        digest = digest.hex()
    elif salt:  # before 0.9 (sha1 the default): HMAC keyed with the salt
        digest = hmac.new(salt_bytes, secret, name).hexdigest()
    else:  # unsalted digests, which check_password_hash accepted for older data until 2.3
        digest = hashlib.new(name, secret).hexdigest()
    return f"{method}${salt}${digest}"


# Made with werkzeug 1.0.1 (pip install werkzeug==1.0.1):
#   generate_password_hash(UNICODE_PASSWORD, method=m) for each method below.
WERKZEUG_1_0_1 = [
    "sha1$fVEZNr1P$c57c8a980e54296e614f617f109e891e796ad7c2",
    "md5$kI6saVOC$d272afc84d789af77fe657e97d2ee14e",
    "sha256$2Tgfa9SV$5843f35a5b1adddf44b3c021e3aeb061e6cc400115781be20fe843bb1878ef95",
    "sha512$oQIW05o7$1aa518b1dbb9484a28c9219fbd8b1af9cc48d8f0e62f7bba960b3ffb82acc981816b0d"
    "17b52e94d2a117d7cd4588997c6750ded770a12a5b71ae8395fb5ab132",
    "plain$$KnøckKnøck ☃ ]=)[X{Km{z",
    "pbkdf2:sha1:1000$0PSt9OY6$4590d60397baee48b11d0a2ac2ebeb7819212627",
    "pbkdf2:sha256:50000$HbD2gu9q$f6659783c3a119834f57cde52995546128fec85221da581427aa10576926069c",
    "pbkdf2:sha256:150000$vSM3ole8$e79e03e5b757d71e3584907de3432e974814218ad6a06d653b61c4db11e1f8a8",
    "pbkdf2:sha512:2000$jxUoRtae$4114b7ca70ad11de2ccfc097412210d92ecdc8f2ddcc6a9ed1031d76b9699bb5"
    "0e07f4f13ae51394ba7a27307361a89653e27ac55a74f6522931d51bd704f8d4",
]

# Every form, as each werkzeug version's default or an explicit ``method=`` wrote it.
LEGACY_METHODS = [
    "sha1",  # the default before 0.9: what the original MiniTwit stored
    "md5",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "pbkdf2:sha1:1000",  # the 0.9 default
    "pbkdf2:sha256:50000",  # the 0.15 default
    "pbkdf2:sha256:150000",  # 1.0
    "pbkdf2:sha256:260000",  # 2.0
    "pbkdf2:sha256:600000",  # 3.0
    "pbkdf2:sha512:2000",
    "scrypt:32768:8:1",  # the 2.3 and 3.x default
    "scrypt:16384:8:1",
    "plain",
]


def test_new_hashes_are_argon2id_and_verify() -> None:
    stored = passwords.hash_password(SCENARIO_PASSWORD)
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, SCENARIO_PASSWORD)
    assert not passwords.verify_password(stored, SCENARIO_PASSWORD + "x")
    assert not passwords.needs_rehash(stored)
    assert passwords.is_verifiable(stored)


def test_hashes_run_on_a_pool_of_their_own_whoever_calls() -> None:
    """glibc keeps argon2's 19 MiB block in the heap of each thread that hashed: hashing on a
    pool of ``concurrency`` threads bounds that memory, whichever threads ask."""
    passwords.configure(1)
    try:
        with ThreadPoolExecutor(4) as callers:
            stored = list(callers.map(passwords.hash_password, [f"pw{n}" for n in range(6)]))
            verified = list(callers.map(passwords.verify_password, stored, ["pw0"] * 6))
        hashing = {t.name for t in threading.enumerate() if t.name.startswith("hashing")}
        assert hashing == {"hashing_0"}
        assert verified == [True] + [False] * 5
    finally:
        passwords.configure(2)


def test_a_forked_worker_hashes_on_a_pool_of_its_own() -> None:
    """A forked process inherits the pool but not its threads; it must not wait for ever."""
    passwords.hash_password("the parent's pool has a thread now")
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's outcome is its exit status
        code = 1
        try:
            signal.alarm(30)  # a hang ends the child, and fails the test, rather than hanging it
            code = 0 if passwords.verify_password(passwords.hash_password("x"), "x") else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("stored", WERKZEUG_1_0_1, ids=lambda h: h.split("$")[0])
def test_hashes_the_real_werkzeug_1_wrote_verify(stored: str) -> None:
    method, salt, _ = stored.split("$", 2)
    assert werkzeug_hash(UNICODE_PASSWORD, method, salt) == stored  # the reference is werkzeug's
    assert passwords.is_verifiable(stored)
    assert passwords.verify_password(stored, UNICODE_PASSWORD)
    assert not passwords.verify_password(stored, SCENARIO_PASSWORD)
    assert passwords.needs_rehash(stored)


@pytest.mark.parametrize("method", LEGACY_METHODS)
@pytest.mark.parametrize("password", [SCENARIO_PASSWORD, UNICODE_PASSWORD])
def test_every_werkzeug_form_verifies_and_asks_for_an_upgrade(method: str, password: str) -> None:
    stored = werkzeug_hash(password, method)
    assert passwords.is_verifiable(stored)
    assert passwords.verify_password(stored, password)
    assert not passwords.verify_password(stored, password + " ")
    assert not passwords.verify_password(stored, "")
    assert passwords.needs_rehash(stored)


@pytest.mark.parametrize("method", ["md5", "sha1", "sha256"])
def test_unsalted_digests_verify_as_werkzeug_checked_them(method: str) -> None:
    stored = werkzeug_hash(UNICODE_PASSWORD, method, salt="")
    assert stored.startswith(f"{method}$$")
    assert passwords.verify_password(stored, UNICODE_PASSWORD)
    assert not passwords.verify_password(stored, "wrong")


@pytest.mark.parametrize(
    "method", [m for m in LEGACY_METHODS if m.startswith(("pbkdf2", "scrypt"))]
)
def test_forms_the_installed_werkzeug_still_makes_agree_with_it(method: str) -> None:
    made_by_werkzeug = generate_password_hash(UNICODE_PASSWORD, method=method)
    assert made_by_werkzeug.split("$")[0] == method
    assert passwords.verify_password(made_by_werkzeug, UNICODE_PASSWORD)
    assert not passwords.verify_password(made_by_werkzeug, "wrong")
    assert check_password_hash(werkzeug_hash(UNICODE_PASSWORD, method), UNICODE_PASSWORD)


def test_the_shared_legacy_databases_sha1_hashes_are_of_a_verifiable_form() -> None:
    legacy = sqlite3.connect(f"file:{shared_file('legacy-minitwit.db')}?mode=ro", uri=True)
    try:
        rows = legacy.execute("SELECT username, pw_hash FROM user").fetchall()
    finally:
        legacy.close()
    sha1_users = sorted(name for name, pw_hash in rows if pw_hash.startswith("sha1$"))
    assert sha1_users == ["Katherine Diez", "rokas", "rokk"]
    assert [name for name, pw_hash in rows if not passwords.is_verifiable(pw_hash)] == []
    # Their passwords are unknown here; the same form with a known password verifies:
    _, salt, _ = dict(rows)["rokas"].split("$")
    made = werkzeug_hash(SCENARIO_PASSWORD, "sha1", salt)
    assert passwords.verify_password(made, SCENARIO_PASSWORD)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain",
        "no dollar at all",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",  # bcrypt
        "$argon2id$garbage",
        "pbkdf2:sha256:x$salt$abc",
        "pbkdf2:sha256$salt$" + "0" * 64,  # never written: werkzeug stored the rounds
        "pbkdf2:sha256:0$salt$" + "0" * 64,
        "pbkdf2:sha256:50000$$" + "0" * 64,  # PBKDF2 without a salt
        "pbkdf2:sha256:99999999$salt$" + "0" * 64,  # would hold a hashing slot for minutes
        "pbkdf2:sha256:50000$salt$" + "0" * 40,  # a sha1-sized digest
        "pbkdf2:whirlpool:1000$salt$" + "0" * 128,
        "scrypt:32768:8$salt$" + "0" * 128,
        "scrypt:1000:8:1$salt$" + "0" * 128,  # N not a power of two
        "scrypt:1048576:8:1$salt$" + "0" * 128,  # a GiB of memory
        "sha1$salt$abc",
        "sha1$salt$" + "G" * 40,
        "sha1$salt$" + "A" * 40,  # werkzeug wrote lower-case hex
        "md5$salt$" + "0" * 40,
        "shake_128$salt$" + "0" * 32,
        "crypt$salt$" + "0" * 40,
    ],
)
def test_unknown_or_malformed_hashes_never_verify(stored: str) -> None:
    assert not passwords.is_verifiable(stored)
    assert not passwords.verify_password(stored, "anything")
    assert not passwords.verify_password(stored, "")
    assert passwords.needs_rehash(stored)
