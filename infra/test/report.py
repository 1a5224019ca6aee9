"""The deployment test's report and verdict: ``python infra/test/report.py REPORT_DIR ...``.

Reads what ``infra/test/stack.sh`` left in REPORT_DIR (the phases' start times, one JSON line
per replayed request, Prometheus's answers, the restore's comparison), writes report.md and
report.json there, and exits 1 if any requirement is missed:

- no request fails in any phase but the database restart, and none takes 300 ms or more
  there either but where the phase says so (counted, reported, not a failure);
- while the database is down, every failure is a 503 with Retry-After, answered within 1 s;
  after it is back (pg_isready), no failure at all; the state read back holds every answered
  write (``minitwit replay --check``);
- Prometheus scrapes every web task and has every rule of the rules file loaded, with an
  Alertmanager it can reach.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

RULES_FILE = Path(__file__).resolve().parent.parent / "prometheus/rules/minitwit.rules.yml"
DB_DOWN_PHASE = "db-restart"
# The phases that operate the stack: each must run under the replay's load all along.
OPERATIONS = (
    "rolling-update",
    "new-image-tag",
    "rollback",
    "kill-web-task",
    "scale-up",
    "scale-down",
    "db-restart",
    "db-back",
)
MIN_LOAD = 0.5  # of the replay's rate, over each operation
DB_DOWN_LIMIT_MS = 1000.0
# The test calls the database back when one web task's pg_isready reaches it by name (polled
# every 0.2 s); each worker's outage probe sees it within its own 0.2 s and a TCP connect. A
# 503 sent this soon after is counted and reported, not failed; any later one fails.
DB_BACK_GRACE_SECONDS = 1.0
SLOW_MS = 300.0


def load_phases(path: Path) -> list[tuple[str, float]]:
    phases = []
    for line in path.read_text().splitlines():
        name, started = line.split("\t")
        phases.append((name, float(started)))
    return phases


def phase_of(sent_at: float, phases: list[tuple[str, float]]) -> str:
    current = phases[0][0]
    for name, started in phases:
        if sent_at >= started:
            current = name
    return current


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("report_dir", type=Path)
    parser.add_argument("--images-seconds", type=int, required=True)
    parser.add_argument("--deploy-seconds", type=int, required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--image-size", type=int, required=True)
    parser.add_argument("--image-user", required=True)
    parser.add_argument("--rate", type=float, required=True)
    args = parser.parse_args(argv)
    out: Path = args.report_dir

    phases = load_phases(out / "phases.tsv")
    starts = dict(phases)
    requests = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    failures: list[str] = []

    table: dict[str, dict[str, Any]] = {}
    for name, _ in phases:
        table[name] = {"requests": 0, "errors": 0, "slow": 0, "max_ms": 0.0, "kinds": Counter()}
    for request in requests:
        row = table[phase_of(request["sent_at"], phases)]
        row["requests"] += 1
        row["max_ms"] = max(row["max_ms"], request["ms"])
        row["slow"] += request["ms"] >= SLOW_MS
        if not request["ok"]:
            row["errors"] += 1
            row["kinds"][request["failure"] or str(request["status"])] += 1

    down_from, back_at = starts[DB_DOWN_PHASE], starts["db-back"]
    late_503s = 0
    for request in requests:
        if request["ok"]:
            continue
        at = request["sent_at"]
        if down_from <= at < back_at:
            if request["status"] != 503 or not request["retry_after"]:
                failures.append(f"while the database was down: {request}")
            elif request["ms"] >= DB_DOWN_LIMIT_MS:
                failures.append(f"a 503 took {request['ms']} ms (limit {DB_DOWN_LIMIT_MS})")
        elif at < back_at + DB_BACK_GRACE_SECONDS and request["status"] == 503:
            late_503s += 1
        elif at >= back_at:
            failures.append(f"after the database was back: {request}")
        else:
            failures.append(f"in phase {phase_of(at, phases)}: {request}")

    durations = {
        name: (phases[i + 1][1] if i + 1 < len(phases) else started) - started
        for i, (name, started) in enumerate(phases)
    }
    for name in OPERATIONS:
        if table[name]["requests"] < MIN_LOAD * args.rate * durations[name]:
            failures.append(
                f"phase {name} ran with {table[name]['requests']} requests in "
                f"{durations[name]:.0f} s: not under the replay's load"
            )

    check = (out / "replay-2.log").read_text()
    state = re.search(r"^state: (\d+) mismatches", check, re.M)
    if state is None or state.group(1) != "0":
        failures.append("the state read back does not hold every answered write (replay-2.log)")

    targets = json.loads((out / "targets.json").read_text())["data"]["activeTargets"]
    web = [t for t in targets if t["labels"]["job"] == "minitwit-web"]
    web_up = [t for t in web if t["health"] == "up"]
    if len(web) != 3 or len(web_up) != 3:
        failures.append(f"Prometheus scrapes {len(web_up)} of {len(web)} web tasks, not 3 of 3")
    groups = json.loads((out / "rules.json").read_text())["data"]["groups"]
    loaded = sorted(r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting")
    expected = sorted(re.findall(r"^\s+- alert: (\S+)", RULES_FILE.read_text(), re.M))
    if loaded != expected:
        failures.append(f"alert rules loaded {loaded}, the file has {expected}")
    managers = json.loads((out / "alertmanagers.json").read_text())["data"]["activeAlertmanagers"]
    ready = (out / "alertmanager-ready.txt").read_text().strip()
    if not managers or ready != "200":
        failures.append(f"Alertmanager: {len(managers)} active for Prometheus, /-/ready {ready}")

    summary = {
        "image": args.image,
        "image_size_mb": round(args.image_size / 1e6),
        "image_user": args.image_user,
        "images_build_seconds": args.images_seconds,
        "deploy_to_ready_seconds": args.deploy_seconds,
        "requests": len(requests),
        "phases": {
            name: {**row, "kinds": dict(row["kinds"]), "seconds": round(durations[name], 1)}
            for name, row in table.items()
        },
        "db_503s_within_grace_after_back": late_503s,
        "web_targets_up": len(web_up),
        "alert_rules_loaded": len(loaded),
        "restore": (out / "restore-compare.txt").read_text().strip().splitlines()[-1:],
        "failures": failures,
    }
    (out / "report.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        "# Deployment test",
        "",
        f"- image `{args.image}`: {summary['image_size_mb']} MB, user {args.image_user}; "
        f"all images built in {args.images_seconds} s",
        f"- deploy to ready through the edge: {args.deploy_seconds} s",
        f"- {len(requests)} simulator requests through the HTTPS edge",
        f"- Prometheus: {len(web_up)} web tasks up, {len(loaded)} alert rules loaded, "
        f"{len(managers)} Alertmanager",
        f"- restore into an empty database: {' '.join(summary['restore'])}",
        f"- 503s within {DB_BACK_GRACE_SECONDS:g} s after the database was back (the probes'"
        f" own delay): {late_503s}",
        "",
        "| phase | seconds | requests | errors | >= 300 ms | max ms | errors by kind |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, row in summary["phases"].items():
        kinds = ", ".join(f"{k}: {n}" for k, n in row["kinds"].items()) or "-"
        lines.append(
            f"| {name} | {row['seconds']} | {row['requests']} | {row['errors']} | {row['slow']} "
            f"| {row['max_ms']:.0f} | {kinds} |"
        )
    lines += ["", "Failures:" if failures else "No failures."]
    lines += [f"- {failure}" for failure in failures[:50]]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
