#!/usr/bin/env bash
# `docker compose up`, as the README says, on a machine that can pull nothing: the images it
# needs are built here from Debian's packages (infra/images/build.sh), Grafana (no Debian
# package) is left out. Then 1,000 simulator requests through it, the state they wrote read
# back, and Prometheus scraping the web container.
#
#   infra/test/compose.sh        (PYTHON, MINITWIT_SCENARIO as for infra/test/stack.sh)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"
PYTHON="${PYTHON:-$repo_root/.venv/bin/python}"
scenario="${MINITWIT_SCENARIO:-$repo_root/../shared/data/minitwit_scenario.csv}"
export COMPOSE_PROJECT_NAME=minitwit-compose-test

log() { printf '%s compose-test: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

[ -r "$scenario" ] || die "no scenario at $scenario (MINITWIT_SCENARIO)"
docker compose version >/dev/null || die "no docker compose (v2) plugin"
eval "$(infra/images/build.sh debootstrap debian python postgres prometheus)"

trap 'docker compose logs --no-color > "${TMPDIR:-/tmp}/minitwit-compose-test.log" 2>&1 || true
      docker compose down --volumes --remove-orphans >/dev/null 2>&1 || true' EXIT
started=$SECONDS
docker compose up --detach --build --wait --quiet-pull db web prometheus
log "up and healthy in $((SECONDS - started)) s"
curl --silent --fail --max-time 5 --output /dev/null http://127.0.0.1:8000/health/ready \
    || die "MiniTwit does not answer at http://127.0.0.1:8000"

"$PYTHON" -m minitwit replay http://127.0.0.1:8000 --scenario "$scenario" --limit 1000 \
    --timeout 2 --check || die "the replay through compose failed"

for _ in $(seq 1 30); do
    targets="$(curl --silent --max-time 5 http://127.0.0.1:9090/api/v1/targets || true)"
    if printf '%s' "$targets" | "$PYTHON" -c 'import json, sys
targets = json.load(sys.stdin)["data"]["activeTargets"]
sys.exit(not any(t["labels"]["job"] == "minitwit-web" and t["health"] == "up" for t in targets))'
    then
        log "Prometheus scrapes the web container"
        exit 0
    fi
    sleep 2
done
die "Prometheus does not scrape the web container"
