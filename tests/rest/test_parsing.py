"""Query and body parsing, on its own: the reference's leniency, never an exception but Invalid."""

from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from minitwit.resolvers.errors import Invalid
from minitwit.rest_compat.parsing import follow_action, parse_latest, parse_no, parse_object


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", None),
        ("latest=", None),
        ("latest=x", None),
        ("latest=-1", None),
        ("latest=0", 0),
        ("latest=25921", 25921),
        ("latest=%2012%20", 12),
        ("latest=1&latest=2", 1),
        (f"latest={2**63}", None),
        (f"latest={2**63 - 1}", 2**63 - 1),
    ],
)
def test_parse_latest(query: str, expected: int | None) -> None:
    assert parse_latest(QueryParams(query)) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", 100),
        ("no=x", 100),
        ("no=-1", 100),
        ("no=0", 0),
        ("no=20", 20),
        ("no=20000", 10_000),
        ("no=" + "9" * 5000, 10_000),
        ("no=%2B" + "9" * 5000, 10_000),
        ("no=" + "9" * 5000 + "%2B", 100),
        ("no=3&no=4", 3),
    ],
)
def test_parse_no(query: str, expected: int) -> None:
    assert parse_no(QueryParams(query), default=100, maximum=10_000) == expected


def test_default_no_never_exceeds_the_cap() -> None:
    assert parse_no(QueryParams(""), default=100, maximum=10) == 10


@pytest.mark.parametrize(
    "body", [b"", b"  ", b"{", b"[]", b"1", b'"x"', b"\xff\xfe", b"[" * 100_000, b"null"]
)
def test_parse_object_refuses_what_is_not_an_object(body: bytes) -> None:
    with pytest.raises(Invalid):
        parse_object(body)


def test_parse_object_reads_escaped_non_ascii() -> None:
    assert parse_object(b'{"content": "\\u00e9\\ufeff"}') == {"content": "é\ufeff"}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"follow": "a"}, (True, "a")),
        ({"unfollow": "b"}, (False, "b")),
        ({"unfollow": "b", "follow": "a"}, (True, "a")),
    ],
)
def test_follow_action(document: dict[str, str], expected: tuple[bool, str]) -> None:
    assert follow_action(document) == expected


@pytest.mark.parametrize("document", [{}, {"follow": 1}, {"follow": None, "unfollow": "b"}])
def test_follow_action_refuses(document: dict[str, object]) -> None:
    with pytest.raises(Invalid):
        follow_action(document)
