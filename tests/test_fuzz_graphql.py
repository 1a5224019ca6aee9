"""GraphQL documents generated from the schema, with random arguments and random variables,
against the in-process ASGI app: never a 500, never a masked ``INTERNAL_SERVER_ERROR``.

hypothesis-graphql writes valid documents (and, in its negative mode, documents with one
schema violation) for every root field, with literal arguments; ``variable_operations`` sends
each root field with its arguments as variables holding any JSON at all. Runs are bounded
(``EXAMPLES`` per test) and seeded (``SEED``), so a failure reproduces. A signed-in moderator
fuzzes every field but ``login`` and ``logout`` (which would end its sign-in); an anonymous
visitor fuzzes all of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import graphql
import hypothesis_graphql
import pytest
import strawberry
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from minitwit.app import create_app
from minitwit.db.database import Database
from minitwit.schema.mutation import Mutation
from minitwit.schema.query import Query
from minitwit.settings import Settings
from tests.asgi import AppClient
from tests.factories import PASSWORD, make_message, make_user

SEED = 20_251_129
EXAMPLES = 150
ORIGIN = "http://testserver"
SCHEMA = strawberry.Schema(query=Query, mutation=Mutation)
SDL = SCHEMA.as_str()
ROOT_FIELDS = {
    name: field
    for root in (SCHEMA._schema.query_type, SCHEMA._schema.mutation_type)
    if root is not None
    for name, field in root.fields.items()
}
SIGNED_IN_FIELDS = sorted(set(ROOT_FIELDS) - {"login", "logout"})
FUZZ = settings(
    max_examples=EXAMPLES,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def app_client(settings: Settings) -> Iterator[AppClient]:
    db = Database(settings)
    author = make_user(db, "fuzzer", moderator=True)
    make_user(db, "someone")
    make_message(db, author, "a message to find", 1_600_000_000)
    with AppClient(create_app(settings, db=db), headers={"Origin": ORIGIN}) as client:
        yield client
    db.dispose()


@pytest.fixture
def signed_in(app_client: AppClient) -> AppClient:
    login = 'mutation ($p: String!) { login(username: "fuzzer", password: $p) { username } }'
    response = app_client.post("/graphql", json={"query": login, "variables": {"p": PASSWORD}})
    assert response.json() == {"data": {"login": {"username": "fuzzer"}}}
    return app_client


def check(client: AppClient, payload: dict[str, Any]) -> dict[str, Any] | None:
    """POST ``payload`` (JSON with every non-ASCII character escaped, lone surrogates too)."""
    response = client.post(
        "/graphql",
        content=json.dumps(payload),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code < 500, response.text
    assert response.status_code in {200, 400, 413, 429}, response.text
    body: dict[str, Any] = response.json()
    for error in body.get("errors") or []:
        assert error.get("extensions", {}).get("code") != "INTERNAL_SERVER_ERROR", body
        assert error["message"] != "Unexpected error.", body
    return body


def _named_type(type_: graphql.GraphQLInputType) -> str:
    return str(type_)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def variable_operations(draw: st.DrawFn, fields: list[str]) -> dict[str, Any]:
    """One root field with each argument a variable of its declared type, holding any JSON
    (usually of the right kind, sometimes not)."""
    name = draw(st.sampled_from(fields))
    field = ROOT_FIELDS[name]
    kind = "query" if name in SCHEMA._schema.query_type.fields else "mutation"
    declarations = ", ".join(f"${arg}: {_named_type(a.type)}" for arg, a in field.args.items())
    arguments = ", ".join(f"{arg}: ${arg}" for arg in field.args)
    selection = _selection(field.type)
    document = (
        f"{kind} {('(' + declarations + ')') if declarations else ''} "
        f"{{ {name}{('(' + arguments + ')') if arguments else ''} {selection} }}"
    )
    variables = {}
    for arg, definition in field.args.items():
        named = graphql.get_named_type(definition.type).name
        fitting = {
            "String": st.text(),
            "ID": st.text() | st.integers(),
            "Int": st.integers(min_value=-(2**40), max_value=2**40),
            "Boolean": st.booleans(),
        }.get(named, JSON)
        variables[arg] = draw(fitting | JSON)
    return {"query": document, "variables": variables}


def _selection(type_: graphql.GraphQLOutputType) -> str:
    named = graphql.get_named_type(type_)
    if not isinstance(named, graphql.GraphQLObjectType):
        return ""
    leaves = [
        f
        for f, definition in named.fields.items()
        if isinstance(graphql.get_named_type(definition.type), graphql.GraphQLScalarType)
    ]
    return "{ " + " ".join(leaves or ["__typename"]) + " }"


@pytest.mark.parametrize("mode", list(hypothesis_graphql.Mode), ids=lambda m: m.name.lower())
def test_generated_documents_never_fail_unexpectedly_when_signed_in(
    signed_in: AppClient, mode: hypothesis_graphql.Mode
) -> None:
    documents = hypothesis_graphql.from_schema(SDL, fields=SIGNED_IN_FIELDS, codec=None, mode=mode)
    answered: list[int] = []

    @seed(SEED)
    @FUZZ
    @given(document=documents)
    def fuzz(document: str) -> None:
        answered.append(1)
        check(signed_in, {"query": document})

    fuzz()
    assert len(answered) >= EXAMPLES // 2
    assert check(signed_in, {"query": "{ viewer { username } }"}) == {
        "data": {"viewer": {"username": "fuzzer"}}
    }


@pytest.mark.parametrize("mode", list(hypothesis_graphql.Mode), ids=lambda m: m.name.lower())
def test_generated_documents_never_fail_unexpectedly_when_signed_out(
    app_client: AppClient, mode: hypothesis_graphql.Mode
) -> None:
    documents = hypothesis_graphql.from_schema(SDL, codec=None, mode=mode)

    @seed(SEED)
    @FUZZ
    @given(document=documents)
    def fuzz(document: str) -> None:
        check(app_client, {"query": document})

    fuzz()


def test_random_variables_never_fail_unexpectedly(signed_in: AppClient) -> None:
    kinds: set[str] = set()

    @seed(SEED)
    @FUZZ
    @given(operation=variable_operations(SIGNED_IN_FIELDS))
    def fuzz(operation: dict[str, Any]) -> None:
        body = check(signed_in, operation)
        kinds.add("data" if body and body.get("data") else "errors")

    fuzz()
    assert kinds == {"data", "errors"}  # both accepted and refused variables were exercised
