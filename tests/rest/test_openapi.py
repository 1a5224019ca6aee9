"""``/openapi.json`` describes the layer truthfully: real responses validate against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft7Validator

from minitwit.app import create_app
from minitwit.rest_compat import openapi, operations
from minitwit.settings import Settings
from tests.asgi import AppClient
from tests.rest.conftest import SIM_HEADERS, RestServer

NAME = "Open Api"


@pytest.fixture(scope="module")
def document(rest_server: RestServer) -> dict[str, Any]:
    with rest_server.client() as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


def check(document: dict[str, Any], template: str, response: httpx.Response) -> None:
    """``response`` has a status the document lists for its operation, and matches its schema."""
    method = response.request.method.lower()
    operation = document["paths"][template][method]
    declared = operation["responses"].get(str(response.status_code))
    assert declared is not None, f"{method} {template} {response.status_code} is undocumented"
    if "$ref" in declared:
        declared = document["components"]["responses"][declared["$ref"].rsplit("/", 1)[1]]
    if response.status_code == 204:
        assert "content" not in declared
        assert response.content == b""
        return
    content = declared["content"]
    assert response.headers["content-type"] in content
    schema = {**content["application/json"]["schema"], "components": document["components"]}
    Draft7Validator(schema).validate(response.json())


def test_document_is_openapi_3_and_lists_every_route(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.0.")
    assert set(document["paths"]) == {
        "/latest",
        "/register",
        "/msgs",
        "/msgs/{username}",
        "/fllws/{username}",
        "/openapi.json",
    }
    for schema in document["components"]["schemas"].values():
        Draft7Validator.check_schema(schema)
    assert document == openapi.document()


def test_real_responses_match_the_document(
    document: dict[str, Any], rest_server: RestServer
) -> None:
    user = NAME.replace(" ", "%20")
    with (
        rest_server.client(headers=SIM_HEADERS) as sim,
        rest_server.client() as anonymous,
    ):
        register = {"username": NAME, "email": "o@example.com", "pwd": "p"}
        exchanges = [
            ("/register", sim.post("/register", json=register, params={"latest": 1})),
            ("/register", sim.post("/register", json=register)),
            ("/register", sim.post("/register", content=b"nope")),
            ("/register", sim.post("/register", content=b"x" * 70_000)),
            ("/latest", sim.get("/latest")),
            ("/msgs/{username}", sim.post(f"/msgs/{user}", json={"content": "hello"})),
            ("/msgs/{username}", sim.post(f"/msgs/{user}", json={"content": 1})),
            ("/msgs/{username}", sim.post("/msgs/Nobody", json={"content": "x"})),
            ("/msgs/{username}", anonymous.post(f"/msgs/{user}", json={"content": "x"})),
            ("/msgs/{username}", sim.get(f"/msgs/{user}")),
            ("/msgs/{username}", sim.get("/msgs/Nobody")),
            ("/msgs/{username}", anonymous.get(f"/msgs/{user}")),
            ("/msgs", sim.get("/msgs")),
            ("/msgs", anonymous.get("/msgs")),
            ("/msgs", sim.post("/msgs", json={"content": "x"})),
            ("/fllws/{username}", sim.post(f"/fllws/{user}", json={"follow": "Nobody"})),
            ("/fllws/{username}", sim.post(f"/fllws/{user}", json={})),
            ("/fllws/{username}", sim.post(f"/fllws/{user}", json={"unfollow": NAME})),
            ("/fllws/{username}", anonymous.post(f"/fllws/{user}", json={"follow": NAME})),
            ("/fllws/{username}", sim.get(f"/fllws/{user}")),
            ("/fllws/{username}", sim.get("/fllws/Nobody")),
            ("/fllws/{username}", anonymous.get(f"/fllws/{user}")),
            ("/openapi.json", anonymous.get("/openapi.json")),
        ]
    for template, response in exchanges:
        check(document, template, response)
    statuses = {response.status_code for _, response in exchanges}
    assert statuses == {200, 204, 400, 403, 404, 405, 413}


def test_the_document_is_the_committed_one() -> None:
    """The published contract changes only on purpose: regenerate tests/rest/openapi.json with
    .venv/bin/python -c 'import json; from minitwit.rest_compat import openapi;
    print(json.dumps(openapi.document(), indent=2, sort_keys=True))' > tests/rest/openapi.json"""
    committed = json.loads((Path(__file__).parent / "openapi.json").read_text())
    assert openapi.document() == committed
    moved = openapi.document("/api", default_no=7)
    assert sorted(moved["paths"]) == sorted(f"/api{path}" for path in committed["paths"])
    assert "Default 7." in moved["paths"]["/api/msgs"]["get"]["parameters"][0]["description"]


def test_every_operation_of_the_table_is_routed_and_refused_ones_answer_405(
    settings: Settings,
) -> None:
    """The routes are built from the same table as the document: each documented method
    reaches its endpoint (an unauthorized request is its 403, not the router's 404 or 405)."""
    with AppClient(create_app(settings)) as client:
        for operation in operations.OPERATIONS:
            path = operation.path.replace(operations.USERNAME, "Nobody")
            response = client.request(operation.method, path)
            if operation.handler is None:
                assert response.status_code == 405, operation
                assert response.json() == {"error_msg": "Method Not Allowed", "status": 405}
            elif operation.authorized:
                assert response.status_code == 403, operation
            else:
                assert response.status_code in (200, 400), (operation, response.text)


def test_a_method_a_path_refuses_is_a_405_naming_the_methods_it_allows(settings: Settings) -> None:
    """Every path's 405 sends ``Allow`` with its own methods (HEAD wherever GET is), in the
    table's order, as a client needs to retry with one of them."""
    allowed = {
        "/msgs": "HEAD, GET",
        "/msgs/Nobody": "HEAD, GET, POST",
        "/fllws/Nobody": "HEAD, GET, POST",
        "/register": "POST",
        "/latest": "HEAD, GET",
        "/openapi.json": "HEAD, GET",
    }
    with AppClient(create_app(settings)) as client:
        for path, allow in allowed.items():
            response = client.request("DELETE", path)
            assert response.status_code == 405, path
            assert response.headers["allow"] == allow, path
            assert response.json() == {"error_msg": "Method Not Allowed", "status": 405}
