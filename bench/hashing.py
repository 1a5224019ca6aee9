"""What an argon2 hash costs in CPU, page faults and memory kept, three ways (issue 7).

MiniTwit hashes on a pool of its own threads (``minitwit.passwords``). Two other ways are
measured beside it, each in a fresh process since glibc's malloc settings are per process:

- ``pool``: MiniTwit as it is: ``passwords.hash_password`` from many caller threads;
- ``mmap``: what MiniTwit did before: a semaphore of 2 on the callers' threads, with glibc's
  mmap threshold fixed at 1 MiB, so each 19 MiB block comes from, and goes back to, the system;
- ``callers``: a semaphore of 2 on the callers' threads, glibc as it comes (the REST
  ceiling's way: anyio's worker threads under a limiter of 2).

Each process hashes ``--hashes`` passwords from ``--callers`` threads and reports the user
and system CPU and the minor page faults per hash (getrusage), and how much its RSS grew.
Run it alone: CPU time is robust to a busy machine, but not entirely.

    PYTHONPATH=. .venv/bin/python -m bench.hashing [--hashes 96] [--callers 8]

Prints a table and writes ``bench/results/<UTC date and time>-<commit>.hashing.json``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.services import git_state

VARIANTS = ("pool", "mmap", "callers")
RESULTS = Path(__file__).parent / "results"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure(variant: str, hashes: int, callers: int) -> dict[str, Any]:
    """Run in a process of its own: hash ``hashes`` passwords from ``callers`` threads."""
    from argon2 import PasswordHasher

    from minitwit import passwords

    if variant == "pool":
        passwords.configure(2)
        hash_one = passwords.hash_password
    else:
        if variant == "mmap":
            ctypes.CDLL("libc.so.6").mallopt(-3, 1024 * 1024)  # M_MMAP_THRESHOLD
        hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
        slots = threading.BoundedSemaphore(2)

        def hash_one(password: str) -> str:
            with slots:
                return hasher.hash(password)

    rss_before = rss_mb()
    before = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    with ThreadPoolExecutor(callers) as pool:
        stored = list(pool.map(hash_one, (f"password {n}" for n in range(hashes))))
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_SELF)
    if len(set(stored)) != hashes or not all(h.startswith("$argon2id$") for h in stored):
        raise RuntimeError(f"{variant}: the hashes are not {hashes} distinct argon2id hashes")
    return {
        "variant": variant,
        "hashes": hashes,
        "callers": callers,
        "user_ms_per_hash": round((after.ru_utime - before.ru_utime) * 1000 / hashes, 2),
        "sys_ms_per_hash": round((after.ru_stime - before.ru_stime) * 1000 / hashes, 2),
        "minor_faults_per_hash": round((after.ru_minflt - before.ru_minflt) / hashes),
        "wall_ms_per_hash": round(wall * 1000 / hashes, 2),
        "rss_growth_mb": round(rss_mb() - rss_before, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hashes", type=int, default=96)
    parser.add_argument("--callers", type=int, default=8)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:  # the child process
        print(json.dumps(measure(args.variant, args.hashes, args.callers)))
        return 0
    figures = []
    for variant in VARIANTS:
        child = subprocess.run(
            [sys.executable, "-m", "bench.hashing", "--variant", variant,
             "--hashes", str(args.hashes), "--callers", str(args.callers)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        figures.append(json.loads(child.stdout))
    print(f"{args.hashes} argon2id hashes (t=2, m=19 MiB, p=1) from {args.callers} threads")
    print("| way | user ms/hash | sys ms/hash | page faults/hash | wall ms/hash | RSS growth MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for f in figures:
        print(
            f"| {f['variant']} | {f['user_ms_per_hash']} | {f['sys_ms_per_hash']} | "
            f"{f['minor_faults_per_hash']} | {f['wall_ms_per_hash']} | {f['rss_growth_mb']} |"
        )
    git = git_state()
    stamp = datetime.now(UTC)
    record = {
        "date": stamp.isoformat(timespec="seconds"),
        "git": git,
        "machine": {
            "nproc": os.cpu_count(),
            "load_after": os.getloadavg(),
            "python": sys.version.split()[0],
        },
        "figures": figures,
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{stamp:%Y-%m-%dT%H%M%SZ}-{git['short']}.hashing.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
