#!/usr/bin/env bash
# The deployment, for real: build every image here, deploy the stack on a one-node swarm the
# way infra/README.md says (its command blocks, run as written), then, through the HTTPS edge
# and under the course scenario replayed by `minitwit replay`, update, kill, scale and
# restart it while counting every error, and finally back up and restore by the runbook.
#
#   infra/test/stack.sh [REPORT_DIR]     (default: artifacts/stack)
#
# Needs: root, Docker (dockerd is started if it is not running), debootstrap, openssl, curl,
# python3 with minitwit[replay] installed (PYTHON, default .venv/bin/python), and the scenario
# (MINITWIT_SCENARIO, default ../shared/data/minitwit_scenario.csv). It leaves the swarm it
# made when it ends. The report (timings, errors per phase) is REPORT_DIR/report.md and .json.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"
report_dir="$(mkdir -p "${1:-artifacts/stack}" && cd "${1:-artifacts/stack}" && pwd)"
work="$(mktemp -d /tmp/minitwit-stack.XXXXXX)"
PYTHON="${PYTHON:-$repo_root/.venv/bin/python}"
scenario="${MINITWIT_SCENARIO:-$repo_root/../shared/data/minitwit_scenario.csv}"
https_port="${MINITWIT_TEST_HTTPS_PORT:-8443}"
http_port="${MINITWIT_TEST_HTTP_PORT:-8080}"
edge="https://127.0.0.1:$https_port"
rate="${MINITWIT_TEST_RATE:-35}"
journal="$report_dir/journal.jsonl"
phases="$report_dir/phases.tsv"

log() { printf '%s stack-test: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
runbook() { "$PYTHON" "$repo_root/infra/test/runbook.py" "$1"; }
# Run a named command block of infra/README.md exactly as written.
run_block() {
    local block
    block="$(runbook "$1" || true)"
    [ -n "$block" ] || die "infra/README.md has no runbook block '$1'"
    log "runbook block '$1'"
    bash -euo pipefail -c "$block"
}
phase() { printf '%s\t%s\n' "$1" "$(date +%s.%N)" >> "$phases"; log "phase: $1"; }

[ -r "$scenario" ] || die "no scenario at $scenario (MINITWIT_SCENARIO)"
"$PYTHON" -c 'import httpx, minitwit' || die "$PYTHON cannot import minitwit and httpx"
rm -f "$journal" "$phases"

# --- a Docker engine and a one-node swarm, as an operator makes them ----------------------
if ! docker info >/dev/null 2>&1; then
    log "starting dockerd"
    (dockerd >"$report_dir/dockerd.log" 2>&1 &)
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || die "dockerd did not start (see $report_dir/dockerd.log)"
fi
remove_stack() {
    docker stack rm minitwit >/dev/null 2>&1 || true
    for _ in $(seq 1 60); do
        [ -z "$(docker ps -aq --filter label=com.docker.stack.namespace=minitwit)" ] && break
        sleep 1
    done
    docker swarm leave --force >/dev/null 2>&1 || true
    # Volumes outlive the stack, and a bind volume keeps the directory it was made with.
    docker volume ls -q --filter label=com.docker.stack.namespace=minitwit \
        | xargs -r docker volume rm >/dev/null
}
if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != inactive ]; then
    log "removing the stack and swarm a previous run left behind"
    remove_stack
fi

export NODE_ADDRESS=127.0.0.1
export MINITWIT_PGDATA_DIR="$work/pgdata" MINITWIT_BACKUP_DIR="$work/backups"
export MINITWIT_HTTP_PORT="$http_port" MINITWIT_HTTPS_PORT="$https_port"
export MINITWIT_BACKUP_INTERVAL=60
export ALERT_WEBHOOK_URL="http://127.0.0.1:9/alerts"
cleanup() {
    status=$?
    if [ "$status" -ne 0 ]; then
        docker service ls > "$report_dir/services.txt" 2>&1 || true
        docker stack ps minitwit --no-trunc > "$report_dir/tasks.txt" 2>&1 || true
        for service in web proxy db migrate backup; do
            # `docker service logs` can hang on a service of many tasks: bounded.
            timeout 60 docker service logs --raw --timestamps "minitwit_$service" \
                > "$report_dir/$service.log" 2>&1 || true
        done
    fi
    remove_stack
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
run_block swarm

# --- images, from Debian's packages ------------------------------------------------------
started=$SECONDS
log "runbook block 'images'"
eval "$(runbook images)"
tag_a="$MINITWIT_TAG"
tag_b="$tag_a-b"
# A second tag of the same code, for an update to a new image: another image id.
docker build --quiet --label "minitwit.test.rebuild=$tag_b" \
    --build-arg "PYTHON_IMAGE=$MINITWIT_PYTHON_IMAGE" \
    -t "$MINITWIT_IMAGE:$tag_b" . >/dev/null
# build.sh used the classic builder (this CLI has no buildx); BuildKit must build it too.
# Debian's own CLI has BuildKit built in.
buildkit_cli="${MINITWIT_BUILDKIT_CLI:-/usr/bin/docker}"
if [ -x "$buildkit_cli" ]; then
    DOCKER_BUILDKIT=1 "$buildkit_cli" build --quiet \
        --build-arg "PYTHON_IMAGE=$MINITWIT_PYTHON_IMAGE" -t "$MINITWIT_IMAGE:$tag_a-buildkit" . >/dev/null
    log "built with BuildKit too ($buildkit_cli)"
fi
images_seconds=$((SECONDS - started))
image_size="$(docker image inspect --format '{{.Size}}' "$MINITWIT_IMAGE:$tag_a")"
image_user="$(docker image inspect --format '{{.Config.User}}' "$MINITWIT_IMAGE:$tag_a")"
log "images built in ${images_seconds}s; $MINITWIT_IMAGE:$tag_a is $((image_size / 1000000)) MB, user $image_user"

# --- a throwaway CA and the edge's certificate -------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=MiniTwit test CA" \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$work/privkey.pem" -out "$work/edge.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$work/san.ext"
openssl x509 -req -in "$work/edge.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
    -CAcreateserial -days 2 -extfile "$work/san.ext" -out "$work/fullchain.pem" 2>/dev/null
export MINITWIT_TLS_CERT="$work/fullchain.pem" MINITWIT_TLS_KEY="$work/privkey.pem"
curl_edge() { curl --silent --show-error --cacert "$work/ca.pem" --max-time 5 "$@"; }

# --- deploy ------------------------------------------------------------------------------
started=$SECONDS
run_block deploy
for _ in $(seq 1 120); do
    curl_edge --fail --output /dev/null "$edge/health/ready" 2>/dev/null && break
    sleep 1
done
curl_edge --fail --output /dev/null "$edge/health/ready" || die "the edge is not ready"
deploy_seconds=$((SECONDS - started))
log "ready through the edge ${deploy_seconds}s after the deploy began"

# The edge: HTTP moves to HTTPS (308 keeps a POST a POST), HSTS, modern TLS only.
redirect="$(curl --silent --output /dev/null --write-out '%{http_code} %{redirect_url}' \
    "http://127.0.0.1:$http_port/public")"
[ "$redirect" = "308 https://127.0.0.1/public" ] || die "HTTP is not moved to HTTPS: $redirect"
curl_edge --include "$edge/latest" | grep -qi '^strict-transport-security: max-age=' \
    || die "no HSTS header at the edge"
if curl --silent --cacert "$work/ca.pem" --tlsv1.1 --tls-max 1.1 --output /dev/null "$edge/latest"; then
    die "the edge accepts TLS 1.1"
fi

# --- the scenario, replayed through the edge while the stack is operated -----------------
total_lines="$(grep -c . "$scenario")"
restart_lines=3000
first_part=$((total_lines - restart_lines))
# The simulator gives up after 300 ms. Here the stack's own task starts share two cores with
# the requests, so the replay waits up to 2 s: a failure is any answer but the expected one
# or a broken connection, and each phase's requests of 300 ms or more are counted apart.
replay_timeout="${MINITWIT_TEST_REPLAY_TIMEOUT:-2}"
replay() { # LOG [minitwit replay options]: in the background; its exit status in LOG.status
    local out="$1"
    shift
    (status=0
        "$PYTHON" -m minitwit replay "$edge" --scenario "$scenario" --cacert "$work/ca.pem" \
            --timeout "$replay_timeout" --journal "$journal" "$@" > "$out.errors" 2> "$out" \
            || status=$?
        echo "$status" > "$out.status") &
}
wait_replay() { # LOG
    while [ ! -s "$1.status" ]; do sleep 1; done
}
service_converged() { # SERVICE: every task of a replicated service running and updated
    local state
    state="$(docker service inspect "$1" --format '{{ if .UpdateStatus }}{{ .UpdateStatus.State }}{{ end }}')"
    case "$state" in "" | completed | rollback_completed) ;; *) return 1 ;; esac
    local replicas
    replicas="$(docker service ls --filter "name=$1" --format '{{.Name}} {{.Replicas}}' \
        | awk -v name="$1" '$1 == name { print $2 }')"
    [ -n "$replicas" ] && [ "${replicas%%/*}" = "${replicas##*/}" ]
}
wait_converged() { # SERVICE TIMEOUT
    local deadline=$((SECONDS + $2))
    while ! service_converged "$1"; do
        [ "$SECONDS" -lt "$deadline" ] || die "$1 did not converge within $2 s"
        sleep 1
    done
}

phase warm-up
replay "$report_dir/replay-1.log" --limit "$first_part" --rate "$rate"
sleep 20

phase rolling-update
run_block update
wait_converged minitwit_web 300
sleep 5

phase new-image-tag
MINITWIT_TAG="$tag_b" run_block deploy
wait_converged minitwit_web 300
sleep 5

phase rollback
REVISION="$tag_a" run_block rollback
wait_converged minitwit_web 300
sleep 5

phase renew-tls
# A renewed certificate (the same CA, a new key and serial), put in place without a restart.
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$work/privkey-2.pem" -out "$work/edge-2.csr" 2>/dev/null
openssl x509 -req -in "$work/edge-2.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
    -CAcreateserial -days 2 -extfile "$work/san.ext" -out "$work/fullchain-2.pem" 2>/dev/null
proxy_before="$(docker ps -q --filter label=com.docker.swarm.service.name=minitwit_proxy)"
MINITWIT_TLS_CERT="$work/fullchain-2.pem" MINITWIT_TLS_KEY="$work/privkey-2.pem" \
    infra/deploy.sh renew-tls
sleep 2
served_serial="$(openssl s_client -connect "127.0.0.1:$https_port" -servername localhost \
    -CAfile "$work/ca.pem" </dev/null 2>/dev/null | openssl x509 -noout -serial)"
[ "$served_serial" = "$(openssl x509 -noout -serial -in "$work/fullchain-2.pem")" ] \
    || die "the edge does not serve the renewed certificate ($served_serial)"
[ "$(docker ps -q --filter label=com.docker.swarm.service.name=minitwit_proxy)" = "$proxy_before" ] \
    || die "the renewal restarted the proxy"
log "the edge serves the renewed certificate; the proxy was not restarted"
sleep 5

phase kill-web-task
docker kill "$(docker ps -q --filter label=com.docker.swarm.service.name=minitwit_web | head -n1)" >/dev/null
sleep 3
wait_converged minitwit_web 120
sleep 5

phase scale-up
REPLICAS=10 run_block scale
wait_converged minitwit_web 300
sleep 5

phase scale-down
REPLICAS=3 run_block scale
wait_converged minitwit_web 300
sleep 5

phase rest
wait_replay "$report_dir/replay-1.log"
phase first-part-done

# --- a PostgreSQL restart, under the rest of the scenario --------------------------------
replay "$report_dir/replay-2.log" --skip "$first_part" --rate "$rate" --check
sleep 10
phase db-restart
# As an operator restarts it (infra/README.md): Swarm stops the task, starts a new one, and
# gives it its address once its healthcheck passes. It is back when a web task reaches it.
(run_block restart-db > "$report_dir/restart-db.log" 2>&1) &
restarting=$!
web_container="$(docker ps -q --filter label=com.docker.swarm.service.name=minitwit_web | head -n1)"
sleep 3  # it is down by now
deadline=$((SECONDS + 120))
until docker exec "$web_container" pg_isready -q -h db -U minitwit -d minitwit -t 1 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || die "the database did not come back within 120 s"
    sleep 0.2
done
phase db-back
wait "$restarting" || die "the database's restart failed (restart-db.log)"
sleep 15
phase db-after
wait_replay "$report_dir/replay-2.log"
phase second-part-done

# --- monitoring: every replica scraped, every rule loaded, Alertmanager reachable --------
web_container="$(docker ps -q --filter label=com.docker.swarm.service.name=minitwit_web | head -n1)"
prometheus_api() { # PATH: a GET on Prometheus's API, from a web task on the monitoring network
    docker exec "$web_container" python -c 'import sys, urllib.request
print(urllib.request.urlopen("http://prometheus:9090" + sys.argv[1], timeout=5).read().decode())' "$1"
}
sleep 20  # one scrape interval and a bit, after the last scale
prometheus_api /api/v1/targets > "$report_dir/targets.json"
prometheus_api /api/v1/rules > "$report_dir/rules.json"
prometheus_api /api/v1/alertmanagers > "$report_dir/alertmanagers.json"
docker exec "$web_container" python -c 'import urllib.request
print(urllib.request.urlopen("http://alertmanager:9093/-/ready", timeout=5).status)' \
    > "$report_dir/alertmanager-ready.txt"

# --- backup, by the schedule; restore into an empty database by the runbook -------------
phase backup
sleep "$((MINITWIT_BACKUP_INTERVAL + 15))"  # a scheduled backup taken after the last write
backups=("$MINITWIT_BACKUP_DIR"/minitwit-*.dump)
BACKUP="$(basename "${backups[-1]}")"
export BACKUP RESTORE_DB=minitwit_check
run_block backup-list > "$report_dir/backups.txt"
run_block restore-check-db
run_block restore
(cd "$work" && run_block restore-compare) > "$report_dir/restore-compare.txt" 2>&1 \
    || { cat "$report_dir/restore-compare.txt" >&2; die "the restored database differs"; }
cp "$work/live.txt" "$report_dir/checksums-live.txt"
cp "$work/restored.txt" "$report_dir/checksums-restored.txt"
grep -q '^minitwit_backup_last_ok 1$' "$MINITWIT_BACKUP_DIR/.metrics/minitwit_backup.prom" \
    || die "the backup service did not report its backup"
phase finished

# --- the report ---------------------------------------------------------------------------
"$PYTHON" infra/test/report.py "$report_dir" \
    --images-seconds "$images_seconds" --deploy-seconds "$deploy_seconds" \
    --image "$MINITWIT_IMAGE:$tag_a" --image-size "$image_size" --image-user "$image_user" \
    --rate "$rate"
