#!/usr/bin/env bash
# Deploy MiniTwit to a Docker Swarm and operate it.
#
#   infra/deploy.sh deploy      create missing secrets, version configs, docker stack deploy, wait
#   infra/deploy.sh rollback REVISION
#                               deploy the image of an earlier revision (git tag or commit)
#   infra/deploy.sh rollback    roll the web service back to its previous spec
#   infra/deploy.sh scale N     scale web to N replicas (checks the connection budget)
#   infra/deploy.sh status      services and recent tasks
#
# The docker CLI must talk to a swarm manager, e.g. DOCKER_HOST=ssh://root@MANAGER_IP.
# Environment:
#   MINITWIT_IMAGE   image repository the nodes can pull (default minitwit/minitwit)
#   MINITWIT_TAG     image tag (default: the current git commit, short)
#   STACK_NAME       stack name (default minitwit)
#   DEPLOY_TIMEOUT   seconds to wait for migrations and the rollout (default 600)
#   ALERT_WEBHOOK_URL  where Alertmanager posts alerts; needed once, to create the
#                    alertmanager_webhook_url secret on the first deploy
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

STACK_NAME="${STACK_NAME:-minitwit}"
DEPLOY_TIMEOUT="${DEPLOY_TIMEOUT:-600}"
export MINITWIT_IMAGE="${MINITWIT_IMAGE:-minitwit/minitwit}"

# Keep in step with docker-stack.yml: workers from the Dockerfile CMD,
# DB_POOL_SIZE and max_connections from the stack.
# Each worker: DB_POOL_SIZE pooled connections, one for the readiness check and one that
# listens for live timelines' notifications (minitwit/live.py). The reserve:
# migrate task 2, backup 1, operators 5, superuser_reserved_connections 3.
WORKERS_PER_REPLICA=2
CONNECTIONS_PER_WORKER=12
MAX_CONNECTIONS=130
CONNECTION_RESERVE=11

log() { printf '%s deploy: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

random_token() {
    # 32 random bytes as hex; no openssl needed.
    od -An -N32 -tx1 /dev/urandom | tr -d ' \n'
}

file_hash() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -c1-12
    else
        shasum -a 256 "$1" | cut -c1-12
    fi
}

secret_exists() {
    docker secret inspect "$1" >/dev/null 2>&1
}

create_secret() {
    local name="$1" value="$2"
    printf '%s' "$value" | docker secret create "$name" - >/dev/null
    log "created secret $name"
}

ensure_secrets() {
    secret_exists minitwit_secret_key || create_secret minitwit_secret_key "$(random_token)"

    if ! secret_exists minitwit_db_password; then
        secret_exists minitwit_database_url \
            && die "minitwit_database_url exists without minitwit_db_password; remove it or create the password secret by hand"
        local password
        password="$(random_token)"
        create_secret minitwit_db_password "$password"
        create_secret minitwit_database_url "postgresql://minitwit:${password}@db:5432/minitwit"
    elif ! secret_exists minitwit_database_url; then
        die "minitwit_db_password exists but minitwit_database_url does not; create it: printf 'postgresql://minitwit:PASSWORD@db:5432/minitwit' | docker secret create minitwit_database_url -"
    fi

    if ! secret_exists alertmanager_webhook_url; then
        [ -n "${ALERT_WEBHOOK_URL:-}" ] \
            || die "set ALERT_WEBHOOK_URL (the operators' webhook that Alertmanager posts alerts to) for the first deploy"
        create_secret alertmanager_webhook_url "$ALERT_WEBHOOK_URL"
    fi

    if ! secret_exists grafana_admin_password; then
        local grafana_password
        grafana_password="$(random_token | cut -c1-24)"
        create_secret grafana_admin_password "$grafana_password"
        log "Grafana admin password (shown once, store it now): $grafana_password"
    fi
}

ensure_node_labels() {
    local label nodes
    for label in minitwit.db minitwit.monitoring; do
        nodes="$(docker node ls -q | xargs docker node inspect \
            --format "{{ if eq (index .Spec.Labels \"$label\") \"true\" }}{{ .Description.Hostname }}{{ end }}" \
            | sed '/^$/d')"
        [ -n "$nodes" ] || die "no node is labelled $label=true; pick the node that keeps the data: docker node update --label-add $label=true NODE"
        [ "$(printf '%s\n' "$nodes" | wc -l)" -eq 1 ] \
            || die "more than one node is labelled $label=true ($(echo "$nodes" | tr '\n' ' ')); its volume is node-local, label exactly one"
    done
}

export_config_hashes() {
    NGINX_CONF_HASH="$(file_hash infra/nginx/nginx.conf)"
    POSTGRES_GUARD_HASH="$(file_hash infra/docker/postgres-guard.sh)"
    PROMETHEUS_CONF_HASH="$(file_hash infra/prometheus/prometheus.yml)"
    PROMETHEUS_RULES_HASH="$(file_hash infra/prometheus/rules/minitwit.rules.yml)"
    ALERTMANAGER_CONF_HASH="$(file_hash infra/alertmanager/alertmanager.yml)"
    BLACKBOX_CONF_HASH="$(file_hash infra/blackbox/blackbox.yml)"
    LOKI_CONF_HASH="$(file_hash infra/loki/loki.yml)"
    ALLOY_CONF_HASH="$(file_hash infra/alloy/config.alloy)"
    GRAFANA_DATASOURCE_HASH="$(file_hash infra/grafana/provisioning/datasources/prometheus.yml)"
    GRAFANA_DATASOURCE_LOKI_HASH="$(file_hash infra/grafana/provisioning/datasources/loki.yml)"
    GRAFANA_PROVIDER_HASH="$(file_hash infra/grafana/provisioning/dashboards/minitwit.yml)"
    GRAFANA_DASHBOARD_HASH="$(file_hash infra/grafana/dashboards/minitwit.json)"
    export NGINX_CONF_HASH POSTGRES_GUARD_HASH PROMETHEUS_CONF_HASH PROMETHEUS_RULES_HASH \
        ALERTMANAGER_CONF_HASH BLACKBOX_CONF_HASH LOKI_CONF_HASH ALLOY_CONF_HASH \
        GRAFANA_DATASOURCE_HASH GRAFANA_DATASOURCE_LOKI_HASH GRAFANA_PROVIDER_HASH \
        GRAFANA_DASHBOARD_HASH
}

wait_for_migrations() {
    local deadline=$((SECONDS + DEPLOY_TIMEOUT)) state
    log "waiting for ${STACK_NAME}_migrate"
    while [ "$SECONDS" -lt "$deadline" ]; do
        state="$(docker service ps "${STACK_NAME}_migrate" --no-trunc \
            --format '{{.DesiredState}} {{.CurrentState}}' | head -n1)"
        case "$state" in
            *Complete*) log "migrations done"; return 0 ;;
            *Failed* | *Rejected*) log "migrate task: $state (swarm retries it)" ;;
        esac
        sleep 5
    done
    die "migrations did not complete within ${DEPLOY_TIMEOUT}s: docker service logs ${STACK_NAME}_migrate"
}

wait_for_web() {
    local deadline=$((SECONDS + DEPLOY_TIMEOUT)) update replicas
    log "waiting for ${STACK_NAME}_web to converge"
    while [ "$SECONDS" -lt "$deadline" ]; do
        update="$(docker service inspect "${STACK_NAME}_web" \
            --format '{{ if .UpdateStatus }}{{ .UpdateStatus.State }}{{ end }}')"
        case "$update" in
            rollback_started | rollback_completed | rollback_paused | paused)
                die "web update failed ($update); swarm rolled back or paused: docker service ps ${STACK_NAME}_web" ;;
        esac
        replicas="$(docker service ls --filter "name=${STACK_NAME}_web" --format '{{.Name}} {{.Replicas}}' \
            | awk -v name="${STACK_NAME}_web" '$1 == name { print $2 }')"
        if { [ -z "$update" ] || [ "$update" = completed ]; } && [ -n "$replicas" ] \
            && [ "${replicas%%/*}" = "${replicas##*/}" ]; then
            log "web converged: $replicas replicas"
            return 0
        fi
        sleep 5
    done
    die "web did not converge within ${DEPLOY_TIMEOUT}s: docker service ps ${STACK_NAME}_web"
}

cmd_deploy() {
    if [ -z "${MINITWIT_TAG:-}" ]; then
        MINITWIT_TAG="$(git rev-parse --short=12 HEAD)" || die "set MINITWIT_TAG"
    fi
    export MINITWIT_TAG
    docker info --format '{{.Swarm.ControlAvailable}}' | grep -qx true \
        || die "the docker CLI is not talking to a swarm manager (set DOCKER_HOST)"
    ensure_node_labels
    ensure_secrets
    export_config_hashes
    log "deploying $MINITWIT_IMAGE:$MINITWIT_TAG as stack $STACK_NAME"
    docker stack deploy --with-registry-auth --resolve-image always \
        -c docker-stack.yml "$STACK_NAME"
    wait_for_migrations
    wait_for_web
    log "done; unused configs can be removed with: docker config ls, docker config rm NAME"
}

cmd_rollback() {
    local revision="${1:-}"
    if [ -n "$revision" ]; then
        # The image of an earlier revision, deployed like any other: one command.
        [[ "$revision" =~ ^[A-Za-z0-9_.-]+$ ]] || die "not an image tag: $revision"
        log "rolling back to $MINITWIT_IMAGE:$revision (the schema is not downgraded)"
        MINITWIT_TAG="$revision"
        cmd_deploy
        return
    fi
    log "rolling ${STACK_NAME}_web back to its previous spec (the schema is not downgraded)"
    docker service rollback "${STACK_NAME}_web"
}

cmd_scale() {
    local replicas="${1:-}" needed
    if ! [[ "$replicas" =~ ^[1-9][0-9]*$ ]]; then
        die "usage: deploy.sh scale N (N >= 1)"
    fi
    needed=$(((replicas + 1) * WORKERS_PER_REPLICA * CONNECTIONS_PER_WORKER + CONNECTION_RESERVE))
    if [ "$needed" -gt "$MAX_CONNECTIONS" ]; then
        die "$replicas replicas need max_connections >= $needed (have $MAX_CONNECTIONS); raise it in docker-stack.yml and deploy"
    fi
    docker service scale "${STACK_NAME}_web=$replicas"
}

cmd_status() {
    docker stack services "$STACK_NAME"
    docker stack ps "$STACK_NAME" --format 'table {{.Name}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}' \
        | head -n 40
}

main() {
    local command="${1:-deploy}"
    shift || true
    case "$command" in
        deploy) cmd_deploy ;;
        rollback) cmd_rollback "$@" ;;
        scale) cmd_scale "$@" ;;
        status) cmd_status ;;
        -h | --help | help) sed -n '2,18p' "${BASH_SOURCE[0]}" ;;
        *) die "unknown command: $command (deploy, rollback [REVISION], scale N, status)" ;;
    esac
}

main "$@"
