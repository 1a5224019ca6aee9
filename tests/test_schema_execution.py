import pytest

from minitwit.schema.execution import _selects_any
from minitwit.schema.mutation import HASHING_FIELDS

LOGIN = 'login(username: "a", password: "b") { username }'
REGISTER = 'register(username: "a", email: "e", password: "p", password2: "p") { username }'


@pytest.mark.parametrize(
    ("query", "operation_name", "expected"),
    [
        (f"mutation {{ {LOGIN} }}", None, True),
        (f"mutation R {{ {REGISTER} }}", "R", True),
        (f"mutation {{ ...F }} fragment F on Mutation {{ {LOGIN} }}", None, True),
        ('mutation { postMessage(text: "login") { id } }', None, False),
        ("{ viewer { username } }", None, False),
        ("query login { viewer { username } }", "login", False),
        (f"query Q {{ viewer {{ username }} }} mutation M {{ {LOGIN} }}", "Q", False),
        # Conservative: a mutation counts when its document selects a hashing field anywhere.
        (f"mutation A {{ logout }} mutation B {{ {LOGIN} }}", "A", True),
        ("mutation { login(", None, False),
    ],
)
def test_operations_that_hash_a_password_are_recognised(
    query: str, operation_name: str | None, expected: bool
) -> None:
    assert _selects_any(query, operation_name, HASHING_FIELDS) is expected
