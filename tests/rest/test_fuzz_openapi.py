"""Schemathesis against ``/openapi.json`` of a real server: no 500, every answer as documented.

Every operation of the document gets schema-valid (positive) and schema-violating (negative)
requests, ``EXAMPLES`` each, from a fixed seed, so a run is bounded and a failure reproduces.
Half the requests name a user that exists, so the fuzzer reaches past the 404s, and many
carry integers in ``latest`` and ``no``. The checks are
the ones about the document: no server error, a documented status, content type, body schema
and headers. Two of schemathesis' checks are left out on purpose: ``negative_data_rejection``
(the simulator's contract, like the reference, ignores unknown query parameters and treats an
unparsable ``latest`` or ``no`` as absent, as the document says) and ``positive_data_acceptance``
(the document's string schemas are looser than the service's validation, so a valid-looking
username can still be a documented 400, and ``POST /msgs`` is documented as always 405).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from minitwit.rest_compat import openapi
from minitwit.settings import DEFAULT_SIMULATOR_AUTH
from tests.servers import ServerProcess

pytestmark = pytest.mark.postgres

SEED = 20_251_129
EXAMPLES = 100
KNOWN_USER = "Fuzz Target"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
OPERATIONS = [
    (path, method.upper())
    for path, methods in openapi.document()["paths"].items()
    for method in methods
    if method in {"get", "post", "put", "delete", "patch"}
]


@pytest.fixture(scope="module")
def api(rest_server: ServerProcess) -> Any:
    with rest_server.client(headers={"Authorization": DEFAULT_SIMULATOR_AUTH}) as client:
        for name in (KNOWN_USER, "Fuzz Friend"):
            body = {"username": name, "email": f"{name[:4]}@example.org", "pwd": "pw"}
            assert client.post("/register", json=body).status_code == 204
        client.post("/fllws/Fuzz%20Target", json={"follow": "Fuzz Friend"})
        client.post("/msgs/Fuzz%20Target", json={"content": "a message to list"})
    return schemathesis.openapi.from_url(f"{rest_server.url}/openapi.json")


def _aimed(case: Any, known: bool, number: int | None) -> Any:
    """Half the cases name a user that exists; many carry integers in ``latest`` and ``no``,
    which random strings seldom are."""
    if known and "username" in (case.path_parameters or {}):
        case.path_parameters["username"] = KNOWN_USER
    if number is not None and isinstance(case.query, dict):
        for key in ("latest", "no"):
            if key in case.query:
                case.query[key] = str(number)
    return case


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=lambda x: str(x))
def test_the_server_answers_every_generated_request_as_documented(
    api: Any, rest_server: ServerProcess, path: str, method: str, mode: GenerationMode
) -> None:
    operation = api[path][method]
    numbers = st.none() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
    strategy = st.tuples(operation.as_strategy(generation_mode=mode), st.booleans(), numbers)
    sent: list[int] = []

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(drawn=strategy.map(lambda pair: _aimed(*pair)))
    def fuzz(drawn: Any) -> None:
        sent.append(1)
        drawn.call_and_validate(
            base_url=rest_server.url,
            headers={"Authorization": DEFAULT_SIMULATOR_AUTH},
            checks=CHECKS,
        )

    try:
        fuzz()
    except Exception as error:
        # An operation without parameters has nothing to violate: no negative request exists.
        if mode is GenerationMode.NEGATIVE and "Unable to satisfy assumptions" in str(error):
            documented = openapi.document()["paths"][path][method.lower()]
            assert "parameters" not in documented
            assert "requestBody" not in documented
            return
        raise
    assert sent, "the fuzzer sent nothing"
    with httpx.Client(base_url=rest_server.url, timeout=10) as client:
        assert client.get("/health/ready").status_code == 200
