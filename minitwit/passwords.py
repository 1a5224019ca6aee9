"""Password hashing: argon2id for new hashes; every werkzeug form verifies for imported users.

Hashing is CPU work of tens of milliseconds. Every hash and verification runs on a small pool
of threads of its own, so a burst of sign-ups cannot starve every other request; callers (worker
threads) wait for its answer.

Why threads of its own, and not a semaphore on whichever thread calls: an argon2 hash allocates
19 MiB. glibc keeps a freed block that size in the heap of the thread that hashed, and the next
hash on that thread reuses its pages; a process that hashed on many threads keeps a block per
thread. Forcing such blocks back to the system (a fixed mmap threshold) bounds the memory but
costs fresh pages on every hash: 4,900 page faults and about 10 ms of kernel time, half again
the hash's own 20 ms (measured: bench/hashing.py, bench/RESULTS.md). With a fixed pool of
``concurrency`` threads the blocks are reused and the memory held is bounded by the pool's size.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TypeVar

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's argon2id recommendation (m=19 MiB, t=2, p=1): about 15-25 ms of one core here.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_T = TypeVar("_T")


def _pool(concurrency: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(concurrency, thread_name_prefix="hashing")


_concurrency = 2
_threads = _pool(_concurrency)


def configure(concurrency: int) -> None:
    """Set how many hashes may run at once in this process."""
    global _concurrency, _threads  # one process-wide pool, set once at start-up
    if concurrency == _concurrency:
        return
    _concurrency = concurrency
    previous, _threads = _threads, _pool(concurrency)
    previous.shutdown()


def _forked() -> None:
    # A forked process inherits the pool but not its threads: work sent to it would never run.
    global _threads
    _threads = _pool(_concurrency)


os.register_at_fork(after_in_child=_forked)


def _on_hashing_thread(work: Callable[[], _T]) -> _T:
    try:
        future = _threads.submit(work)
    except RuntimeError:  # the pool was shut down, replaced by configure() just now
        future = _threads.submit(work)
    return future.result()


def _bytes(password: str) -> bytes:
    # Any str the client can send, lone surrogates included, becomes bytes; sign-up refuses
    # such passwords, so they only ever fail to verify.
    return password.encode("utf-8", "surrogatepass")


def hash_password(password: str) -> str:
    secret = _bytes(password)
    return _on_hashing_thread(lambda: _hasher.hash(secret))


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches ``stored_hash`` (argon2, or any form werkzeug wrote)."""
    return _on_hashing_thread(lambda: _verify(stored_hash, password))


def _verify(stored_hash: str, password: str) -> bool:
    if stored_hash.startswith("$argon2"):
        try:
            return _hasher.verify(stored_hash, _bytes(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
    legacy = _werkzeug_form(stored_hash)
    if legacy is None:
        return False
    digest, expected = legacy
    try:
        return hmac.compare_digest(digest(_bytes(password)), expected)
    except (ValueError, OverflowError, MemoryError):
        return False


def is_verifiable(stored_hash: str) -> bool:
    """True when ``stored_hash`` is of a form ``verify_password`` can check at all."""
    if stored_hash.startswith("$argon2"):
        try:
            extract_parameters(stored_hash)
        except InvalidHashError:
            return False
        return True
    return _werkzeug_form(stored_hash) is not None


def needs_rehash(stored_hash: str) -> bool:
    if not stored_hash.startswith("$argon2"):
        return True
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


@cache
def _dummy_hash() -> str:
    return hash_password("an unguessable dummy password for timing only")


def burn_verification_time(password: str) -> None:
    """Spend what a real verification costs, so unknown users cannot be told from known ones."""
    verify_password(_dummy_hash(), password)


# The digests werkzeug's salted (HMAC) and unsalted forms could name: whatever hashlib.new
# accepted; the SHAKE functions need a length and werkzeug never passed one.
_DIGESTS = frozenset(
    name for name in hashlib.algorithms_guaranteed if not name.startswith("shake_")
)
# Well above every default werkzeug shipped (pbkdf2 at most 1,000,000 rounds, scrypt 32 MiB), low
# enough that a hostile stored hash cannot hold a hashing slot for long or exhaust memory.
PBKDF2_MAX_ITERATIONS = 4_000_000
SCRYPT_MAX_MEMORY = 128 * 1024 * 1024
_ROUNDS = re.compile(r"[1-9][0-9]{0,8}")
_HEX = re.compile(r"[0-9a-f]+")

Digest = Callable[[bytes], bytes]


def _werkzeug_form(stored_hash: str) -> tuple[Digest, bytes] | None:
    """How to check a hash werkzeug's ``generate_password_hash`` wrote, or None.

    Every form any werkzeug version wrote or checked, as ``method$salt$hash``:

    - ``scrypt:N:r:p`` (2.3 and later): scrypt, 64 bytes, in hex;
    - ``pbkdf2:DIGEST:ROUNDS`` (0.9 and later): PBKDF2-HMAC, digest-sized, in hex;
    - ``DIGEST`` with a salt (the default before 0.9, ``sha1$salt$hex``): HMAC keyed with the
      salt over the password, in hex;
    - ``DIGEST`` without a salt (``md5$$hex``): the bare digest, which ``check_password_hash``
      accepted for older data until 2.3;
    - ``plain`` (``plain$$password``): the password itself, until 2.3.

    The salt and the password are UTF-8, as werkzeug encoded them.
    """
    if stored_hash.count("$") < 2:
        return None
    method, salt, expected = stored_hash.split("$", 2)
    salt_bytes = _bytes(salt)
    if method == "plain":
        return (lambda password: password), _bytes(expected)
    if not _HEX.fullmatch(expected):
        return None
    parts = method.split(":")
    name = parts[0]
    if name in _DIGESTS and len(parts) == 1:
        size = hashlib.new(name).digest_size
        if len(expected) != 2 * size:
            return None
        if salt:
            return (
                lambda password: hmac.new(salt_bytes, password, name).hexdigest().encode()
            ), expected.encode()
        return (
            lambda password: hashlib.new(name, password).hexdigest().encode()
        ), expected.encode()
    if name == "pbkdf2" and len(parts) == 3 and parts[1] in _DIGESTS:
        digest_name, rounds_text = parts[1], parts[2]
        if not salt or not _ROUNDS.fullmatch(rounds_text):
            return None
        rounds = int(rounds_text)
        if rounds > PBKDF2_MAX_ITERATIONS:
            return None
        if len(expected) != 2 * hashlib.new(digest_name).digest_size:
            return None
        return (
            lambda password: (
                hashlib.pbkdf2_hmac(digest_name, password, salt_bytes, rounds).hex().encode()
            )
        ), expected.encode()
    if name == "scrypt" and len(parts) == 4 and all(_ROUNDS.fullmatch(x) for x in parts[1:]):
        n, r, p = (int(x) for x in parts[1:])
        memory = 128 * r * (n + p + 2)  # what OpenSSL's scrypt allocates
        if n < 2 or n & (n - 1) or memory > SCRYPT_MAX_MEMORY or len(expected) != 128:
            return None
        return (
            lambda password: (
                hashlib.scrypt(
                    password, salt=salt_bytes, n=n, r=r, p=p, maxmem=memory + 1024 * 1024
                )
                .hex()
                .encode()
            )
        ), expected.encode()
    return None
