import pytest
from werkzeug.security import generate_password_hash

from minitwit import passwords

SCENARIO_PASSWORD = "]=)[X{Km{z"


def test_new_hashes_are_argon2id_and_verify() -> None:
    stored = passwords.hash_password(SCENARIO_PASSWORD)
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, SCENARIO_PASSWORD)
    assert not passwords.verify_password(stored, SCENARIO_PASSWORD + "x")
    assert not passwords.needs_rehash(stored)


@pytest.mark.parametrize("method", ["pbkdf2:sha256:50000", "pbkdf2:sha256:1000", "scrypt"])
def test_werkzeug_hashes_verify_and_ask_for_an_upgrade(method: str) -> None:
    stored = generate_password_hash(SCENARIO_PASSWORD, method=method)
    assert passwords.verify_password(stored, SCENARIO_PASSWORD)
    assert not passwords.verify_password(stored, "wrong")
    assert passwords.needs_rehash(stored)


@pytest.mark.parametrize(
    "stored", ["", "plain", "pbkdf2:sha256:x$salt$abc", "md5$salt$abc", "$argon2id$garbage"]
)
def test_malformed_hashes_never_verify(stored: str) -> None:
    assert not passwords.verify_password(stored, "anything")
