"""Password hashing: argon2id for new hashes; werkzeug's formats verify for imported users.

Hashing is CPU work of tens of milliseconds. Callers run it in worker threads; a semaphore
bounds how many hashes run at once so a burst of sign-ups cannot starve every other request.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import hmac
import threading
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's argon2id recommendation (m=19 MiB, t=2, p=1): about 15-25 ms of one core here.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_slots = threading.BoundedSemaphore(2)


def configure(concurrency: int) -> None:
    """Set how many hashes may run at once in this process."""
    global _slots  # one process-wide bound, set once at start-up
    _slots = threading.BoundedSemaphore(concurrency)
    _return_hash_memory_to_the_system()


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD_BYTES = 1024 * 1024


def _return_hash_memory_to_the_system() -> None:
    """Each argon2 hash allocates 19 MiB. glibc serves such a block with mmap and gives it
    back when freed, but then raises its mmap threshold, so later blocks come from the heap
    of whichever worker thread hashed and stay there: a process that hashed on many threads
    keeps tens of MiB per thread. A fixed threshold keeps large blocks on mmap."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


def _bytes(password: str) -> bytes:
    # Any str the client can send, lone surrogates included, becomes bytes; sign-up refuses
    # such passwords, so they only ever fail to verify.
    return password.encode("utf-8", "surrogatepass")


def hash_password(password: str) -> str:
    with _slots:
        return _hasher.hash(_bytes(password))


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches ``stored_hash`` (argon2 or werkzeug pbkdf2/scrypt)."""
    with _slots:
        if stored_hash.startswith("$argon2"):
            try:
                return _hasher.verify(stored_hash, _bytes(password))
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False
        return _verify_werkzeug(stored_hash, password)


def needs_rehash(stored_hash: str) -> bool:
    if not stored_hash.startswith("$argon2"):
        return True
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


@cache
def _dummy_hash() -> str:
    return _hasher.hash("an unguessable dummy password for timing only")


def burn_verification_time(password: str) -> None:
    """Spend what a real verification costs, so unknown users cannot be told from known ones."""
    verify_password(_dummy_hash(), password)


def _verify_werkzeug(stored_hash: str, password: str) -> bool:
    """Verify werkzeug's ``method$salt$hexdigest`` hashes (pbkdf2 and scrypt)."""
    try:
        method, salt, expected = stored_hash.split("$", 2)
    except ValueError:
        return False
    parts = method.split(":")
    try:
        if parts[0] == "pbkdf2" and len(parts) == 3:
            digest = hashlib.pbkdf2_hmac(
                parts[1], _bytes(password), salt.encode(), int(parts[2])
            ).hex()
        elif parts[0] == "scrypt" and len(parts) == 4:
            n, r, p = (int(x) for x in parts[1:])
            digest = hashlib.scrypt(
                _bytes(password), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p
            ).hex()
        else:
            return False
    except (ValueError, OverflowError):
        return False
    return hmac.compare_digest(digest, expected)
