"""Sign-in of an unknown user should cost what a wrong password costs (no user enumeration
by timing). Prints the median and p90 of each over a real server on a loopback port.

    .venv/bin/python bench/signin_timing.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from minitwit.app import create_app
from minitwit.db import migrate
from minitwit.db.database import Database
from minitwit.settings import Settings
from tests.conftest import LiveServer

LOGIN = "mutation ($u: String!, $p: String!) { login(username: $u, password: $p) { username } }"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{Path(tmp) / 'bench.sqlite3'}",
            secret_key="bench-secret",
            migrate_on_start=False,
            # What is timed is the password check; the rate limits would refuse before it.
            sign_in_limit_per_username=(0, 900),
            sign_in_limit_per_address=(0, 60),
        )
        database = Database(settings)
        migrate.upgrade(database.engine)
        with (
            LiveServer(create_app(settings, db=database)) as live,
            httpx.Client(base_url=live.url) as client,
        ):
            register = (
                'mutation { register(username: "ann", email: "a@b.dk", password: "right",'
                ' password2: "right") { username } }'
            )
            client.post("/graphql", json={"query": register})
            timings: dict[str, list[float]] = {"unknown user": [], "wrong password": []}
            for _ in range(args.rounds):
                for label, name in (("unknown user", "nobody"), ("wrong password", "ann")):
                    started = time.perf_counter()
                    response = client.post(
                        "/graphql", json={"query": LOGIN, "variables": {"u": name, "p": "x"}}
                    )
                    timings[label].append(time.perf_counter() - started)
                    if "errors" not in response.json():
                        raise SystemExit("a wrong sign-in succeeded")
    for label, values in timings.items():
        values.sort()
        p90 = values[int(len(values) * 0.9)]
        print(
            f"{label:15s} median {statistics.median(values) * 1000:6.2f} ms"
            f"  p90 {p90 * 1000:6.2f} ms  (n={len(values)})"
        )


if __name__ == "__main__":
    main()
