"""The README's pasteable command blocks, run as they are written against a real server."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from minitwit.settings import DEFAULT_SIMULATOR_AUTH
from tests.servers import REPO, ServerProcess

README = (REPO / "README.md").read_text()
BLOCKS = re.findall(r"```sh\n(.+?)\n```", README, re.DOTALL)
SET_UP = 2  # the first two blocks install and serve, or install and test: run by CI itself
README_PORT = ":8000"
# The environment of a reader's shell: the server's settings are not in it.
READER_ENV = {
    name: value
    for name, value in os.environ.items()
    if not name.startswith(("MINITWIT_", "DATABASE_URL", "SECRET_KEY"))
}


def test_ci_runs_the_readme_test_command_word_for_word() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    match = re.search(r'^TEST_COMMAND="(.+)"$', ci, re.MULTILINE)
    assert match is not None
    assert BLOCKS[:2] == [
        "python3 -m venv .venv && .venv/bin/pip install -q -c constraints.txt -e . "
        "&& .venv/bin/minitwit serve",
        match.group(1),
    ]


def block(heading: str) -> str:
    """The one command block of the section ``heading``."""
    section = README.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    (found,) = re.findall(r"```sh\n(.+?)\n```", section, re.DOTALL)
    return found


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """``minitwit serve`` as the README's reader runs it: development settings, SQLite."""
    database = f"sqlite:///{tmp_path / 'minitwit.sqlite3'}"
    process = ServerProcess(database, tmp_path / "server.log", MINITWIT_ENV="development")
    yield process.start()
    process.stop()


@pytest.fixture
def reader_dir(tmp_path: Path) -> Path:
    """A folder like the reader's clone: ``.venv`` is the one running these tests."""
    folder = tmp_path / "clone"
    folder.mkdir()
    (folder / ".venv").symlink_to(Path(sys.prefix))
    return folder


def as_pasted(text: str, server: ServerProcess) -> str:
    """The block as written; only the port is the test server's, since 8000 may be taken."""
    assert README_PORT in text
    return text.replace(README_PORT, f":{server.port}")


def next_line(stream: IO[str], timeout: float = 15) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, f"nothing printed in {timeout} s"
    return stream.readline()


def test_every_command_block_is_one_the_tests_run() -> None:
    assert BLOCKS[SET_UP:] == [block("GraphQL in one minute"), block("Live timelines")]


def test_graphql_in_one_minute_works_as_written(server: ServerProcess, reader_dir: Path) -> None:
    done = subprocess.run(
        ["bash", "-e", "-c", as_pasted(block("GraphQL in one minute"), server)],
        cwd=reader_dir,
        env=READER_ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [list(answer) for answer in answers] == [["data"]] * 4, done.stdout
    assert answers[0]["data"] == {"register": {"username": "ann"}}
    assert answers[1]["data"] == {"login": {"username": "ann"}}
    (node,) = answers[3]["data"]["homeTimeline"]["nodes"]
    assert node["text"] == "Hello, MiniTwit!"
    assert node["author"]["username"] == "ann"


def test_live_timelines_prints_a_post_as_it_happens(
    server: ServerProcess, reader_dir: Path
) -> None:
    with subprocess.Popen(
        ["bash", "-c", as_pasted(block("Live timelines"), server)],
        cwd=reader_dir,
        env=READER_ENV,
        stdout=subprocess.PIPE,
        text=True,
    ) as listener:
        try:
            assert listener.stdout is not None
            assert json.loads(next_line(listener.stdout)) == {"type": "connection_ack"}
            with server.client() as client:
                body = {"username": "bob", "email": "bob@example.org", "pwd": "p"}
                assert client.post("/register", json=body).status_code == 204
                text = "Hello from the simulator"
                response = client.post(
                    "/msgs/bob",
                    json={"content": text},
                    headers={"Authorization": DEFAULT_SIMULATOR_AUTH},
                )
                assert response.status_code == 204
            event = json.loads(next_line(listener.stdout))
        finally:
            listener.kill()
    assert event["type"] == "next"
    message = event["payload"]["data"]["publicTimelineEvents"]["message"]
    assert message == {"text": text, "author": {"username": "bob"}}


def test_what_the_readme_links_to_is_there() -> None:
    targets = re.findall(r"\]\(([^)#]+)\)", README)
    assert "docs/screenshot.png" in targets
    assert [target for target in targets if not (REPO / target).is_file()] == []
    screenshot = (REPO / "docs" / "screenshot.png").read_bytes()
    assert screenshot.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(screenshot) < 100_000, "a small picture: the repository keeps every version"
