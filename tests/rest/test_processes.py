"""Two server processes on one database agree on ``latest`` and the data, also after restarts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.rest.conftest import SIM_HEADERS
from tests.servers import ServerProcess

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def second_server(
    pg_url: str, pg_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    server = ServerProcess(pg_url, tmp_path_factory.mktemp("second") / "server.log").start()
    yield server
    server.stop()


def test_two_processes_share_latest_and_data(
    pg_server: ServerProcess, second_server: ServerProcess
) -> None:
    with (
        pg_server.client(headers=SIM_HEADERS) as one,
        second_server.client(headers=SIM_HEADERS) as two,
    ):
        assert one.get("/latest").json() == two.get("/latest").json() == {"latest": -1}
        body = {"username": "Twin One", "email": "one@example.com", "pwd": "p"}
        assert one.post("/register", json=body, params={"latest": 10}).status_code == 204
        assert two.get("/latest").json() == {"latest": 10}
        body = {"username": "Twin Two", "email": "two@example.com", "pwd": "p"}
        assert two.post("/register", json=body, params={"latest": 11}).status_code == 204
        assert one.get("/latest").json() == {"latest": 11}
        assert two.post("/register", json=body, params={"latest": 12}).status_code == 400

        assert (
            two.post("/msgs/Twin One", json={"content": "hi"}, params={"latest": 13}).status_code
            == 204
        )
        assert (
            one.post(
                "/fllws/Twin One", json={"follow": "Twin Two"}, params={"latest": 9}
            ).status_code
            == 204
        )
        # Not a maximum: the last value received wins, whichever process received it.
        assert two.get("/latest").json() == {"latest": 9}
        assert [m["content"] for m in one.get("/msgs/Twin One").json()] == ["hi"]
        assert two.get("/fllws/Twin One").json() == {"follows": ["Twin Two"]}

        for n in range(20):
            client = one if n % 2 else two
            assert client.get("/msgs", params={"latest": 100 + n, "no": 1}).status_code == 200
            assert (two if n % 2 else one).get("/latest").json() == {"latest": 100 + n}


def test_latest_survives_a_restart(pg_server: ServerProcess) -> None:
    with pg_server.client(headers=SIM_HEADERS) as client:
        assert client.get("/msgs", params={"latest": 777}).status_code == 200
    pg_server.stop()
    pg_server.start()
    with pg_server.client() as client:
        assert client.get("/latest").json() == {"latest": 777}
