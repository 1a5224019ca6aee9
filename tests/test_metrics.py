"""What /metrics tells an operator: business counters, GraphQL operations by name, the
database, the build and the simulator's latest, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from minitwit.app import create_app
from minitwit.resolvers import accounts
from minitwit.settings import Settings
from tests.asgi import AppClient
from tests.conftest import GraphQLClient, LiveServer

REGISTER = """mutation Register($u: String!) {
  register(username: $u, email: "x@example.org", password: "pw", password2: "pw") { username }
}"""
LOGIN = (
    "mutation Login($u: String!, $p: String!) { login(username: $u, password: $p) { username } }"
)


def samples(client: GraphQLClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, by name and sorted labels."""
    text = client.get("/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_business_counters_count_what_committed(server: LiveServer, client: GraphQLClient) -> None:
    client.data(REGISTER, u="ann")
    client.data(REGISTER, u="bob")
    assert client.error(REGISTER, u="bob")[1] == "CONFLICT"  # refused: not counted
    with server.db.unit(write=True) as tx:
        accounts.set_moderator(tx, username="ann")
    assert client.error(LOGIN, u="ann", p="wrong")[1] == "BAD_USER_INPUT"
    client.data(LOGIN, u="ann", p="pw")
    posted = client.data('mutation Post { postMessage(text: "hello") { id } }')
    client.data('mutation Follow { follow(username: "bob") { username } }')
    client.data('mutation Unfollow { unfollow(username: "bob") { username } }')
    message = posted["postMessage"]["id"]
    client.data("mutation Flag($id: ID!) { flagMessage(id: $id) { id } }", id=message)
    client.data("mutation Unflag($id: ID!) { unflagMessage(id: $id) { id } }", id=message)

    found = samples(client)
    assert value(found, "minitwit_users_registered_total") == 2
    assert value(found, "minitwit_messages_posted_total") == 1
    assert value(found, "minitwit_follows_total") == 1
    assert value(found, "minitwit_unfollows_total") == 1
    assert value(found, "minitwit_messages_flagged_total") == 1
    assert value(found, "minitwit_messages_unflagged_total") == 1
    assert value(found, "minitwit_sign_ins_total", outcome="succeeded") == 1
    assert value(found, "minitwit_sign_ins_total", outcome="failed") == 1


def test_graphql_operations_are_labelled_by_the_web_clients_names_only(
    client: GraphQLClient,
) -> None:
    client.data("query PublicPage { publicTimeline(first: 1) { nodes { text } } }")
    client.data("query SomethingElse { viewer { username } }")
    client.data("{ viewer { username } }")
    client.gql("query Broken { noSuchField }")

    found = samples(client)
    count = "minitwit_graphql_operation_duration_seconds_count"
    assert value(found, count, operation="PublicPage", status="ok") == 1
    assert value(found, count, operation="other", status="ok") == 2
    assert value(found, count, operation="other", status="error") == 1
    labels = {dict(key[1]).get("operation") for key in found if key[0] == count}
    assert "SomethingElse" not in labels
    assert value(found, "minitwit_graphql_operations_total", operation_type="query", status="ok")
    assert (
        value(found, "minitwit_graphql_operations_total", operation_type="invalid", status="error")
        == 1
    )


def test_database_build_and_latest_are_reported(server: LiveServer, client: GraphQLClient) -> None:
    client.data(REGISTER, u="carl")
    simulator = {"Authorization": server.app.state.settings.simulator_auth}
    assert client.get("/msgs?latest=7", headers=simulator).status_code == 200

    found = samples(client)
    assert value(found, "minitwit_db_pool_size") == server.app.state.settings.db_pool_size
    assert value(found, "minitwit_db_query_duration_seconds_count", kind="read") >= 2
    assert value(found, "minitwit_db_query_duration_seconds_count", kind="write") >= 2
    assert ("minitwit_db_pool_waits_total", ()) in found
    assert value(found, "minitwit_simulator_latest") == 7
    build = [labels for name, labels in found if name == "minitwit_build_info"]
    assert len(build) == 1
    assert dict(build[0])["version"]
    assert value(found, "minitwit_process_start_time_seconds") > 1_700_000_000


def test_http_requests_are_counted_by_route_and_timed(settings: Settings) -> None:
    """In process: the counting is the point, not the socket."""
    with AppClient(create_app(settings)) as client:
        assert client.post("/graphql", json={"query": "{ viewer { username } }"}).is_success
        assert client.get("/health/live").is_success
        metrics = client.get("/metrics").text
    assert (
        'minitwit_http_requests_total{method="POST",route="/graphql",status="200"} 1.0' in metrics
    )
    assert 'minitwit_graphql_operations_total{operation_type="query",status="ok"} 1.0' in metrics
    # a health check takes well under a second: its one observation lands in the 1 s bucket
    one_second = re.search(
        r'minitwit_http_request_duration_seconds_bucket\{le="1.0",method="GET",'
        r'route="/health/live"\} (\S+)',
        metrics,
    )
    assert one_second is not None
    assert float(one_second.group(1)) == 1.0
