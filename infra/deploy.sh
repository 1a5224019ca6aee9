#!/usr/bin/env bash
# Deploy MiniTwit to a Docker Swarm and operate it.
#
#   infra/deploy.sh deploy      create missing secrets, version configs, docker stack deploy, wait
#   infra/deploy.sh rollback REVISION
#                               deploy the image of an earlier revision (git tag or commit)
#   infra/deploy.sh rollback    roll the web service back to its previous spec
#   infra/deploy.sh scale N     scale web to N replicas (checks the connection budget)
#   infra/deploy.sh budget [N]  the database connections N web replicas need (default: the stack's)
#   infra/deploy.sh renew-tls   put a renewed certificate into this node's proxies, no restart
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
#   MINITWIT_TLS_CERT, MINITWIT_TLS_KEY
#                    the edge's certificate (full chain) and key, PEM files (certbot's
#                    fullchain.pem and privkey.pem); secrets named after their hash
#   MINITWIT_GRAFANA 1 (default): also deploy docker-stack.grafana.yml (Grafana, Loki,
#                    Alloy); 0 where those images cannot be had (infra/images/)
#   MINITWIT_RESOLVE_IMAGE  always (default): pin each image to its registry digest;
#                    never on a site whose images are built on its nodes (infra/images/)
#   MINITWIT_*_IMAGE every other image of the stack (docker-stack.yml names them)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

STACK_NAME="${STACK_NAME:-minitwit}"
DEPLOY_TIMEOUT="${DEPLOY_TIMEOUT:-600}"
export MINITWIT_IMAGE="${MINITWIT_IMAGE:-minitwit/minitwit}"

# The connection budget's terms, read from the files that set them. Each web worker:
# DB_POOL_SIZE pooled connections, one for the readiness check and one that listens for live
# timelines' notifications (minitwit/live/listener.py). The reserve: the migrate task 2, backup 1,
# operators 5, PostgreSQL's superuser_reserved_connections 3.
stack_value() { # the first match of the sed pattern $1 (one group) in docker-stack.yml
    sed -n "s/$1/\1/p" docker-stack.yml | head -n1
}
WORKERS_PER_REPLICA="$(sed -n 's/.*"--workers", "\([0-9]*\)".*/\1/p' Dockerfile)"
DB_POOL_SIZE="$(stack_value '^ *DB_POOL_SIZE: "\([0-9]*\)".*')"
MAX_CONNECTIONS="$(stack_value '^ *- max_connections=\([0-9]*\).*')"
WEB_REPLICAS="$(awk '/^  web:/ { web = 1 } web && /^ *replicas:/ { print $2; exit }' docker-stack.yml)"
CONNECTIONS_PER_WORKER=$((DB_POOL_SIZE + 2))
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

    if [ "${MINITWIT_GRAFANA:-1}" != 0 ] && ! secret_exists grafana_admin_password; then
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

stack_files() {
    printf '%s\n' -c docker-stack.yml
    [ "${MINITWIT_GRAFANA:-1}" = 0 ] || printf '%s\n' -c docker-stack.grafana.yml
}

newest_secret() { # PREFIX: the name of the newest secret whose name starts with PREFIX
    docker secret ls --filter "name=$1" --format '{{.CreatedAt}}|{{.Name}}' \
        | sort | tail -n1 | cut -d'|' -f2
}

ensure_tls_secrets() {
    # With MINITWIT_TLS_CERT and MINITWIT_TLS_KEY: secrets named after the files' hashes (a
    # new certificate is a new secret). Without: the newest ones already in the swarm, so a
    # pipeline that has no access to the certificate deploys with the one there.
    local cert="${MINITWIT_TLS_CERT:-}" key="${MINITWIT_TLS_KEY:-}" name
    if [ -z "$cert" ] && [ -z "$key" ]; then
        name="$(newest_secret minitwit_tls_cert_)"
        [ -n "$name" ] \
            || die "set MINITWIT_TLS_CERT and MINITWIT_TLS_KEY to the edge's certificate (full chain) and key, PEM files, for the first deploy (infra/README.md, TLS)"
        TLS_CERT_HASH="${name#minitwit_tls_cert_}"
        name="$(newest_secret minitwit_tls_key_)"
        TLS_KEY_HASH="${name#minitwit_tls_key_}"
        export TLS_CERT_HASH TLS_KEY_HASH
        return
    fi
    if [ ! -r "$cert" ] || [ ! -r "$key" ]; then
        die "cannot read MINITWIT_TLS_CERT ($cert) or MINITWIT_TLS_KEY ($key)"
    fi
    grep -q -- '-----BEGIN CERTIFICATE-----' "$cert" || die "$cert is not a PEM certificate"
    grep -q -- '-----BEGIN .*PRIVATE KEY-----' "$key" || die "$key is not a PEM private key"
    TLS_CERT_HASH="$(file_hash "$cert")"
    TLS_KEY_HASH="$(file_hash "$key")"
    export TLS_CERT_HASH TLS_KEY_HASH
    secret_exists "minitwit_tls_cert_$TLS_CERT_HASH" \
        || docker secret create "minitwit_tls_cert_$TLS_CERT_HASH" "$cert" >/dev/null
    secret_exists "minitwit_tls_key_$TLS_KEY_HASH" \
        || docker secret create "minitwit_tls_key_$TLS_KEY_HASH" "$key" >/dev/null
}

export_config_hashes() {
    NGINX_CONF_HASH="$(file_hash infra/nginx/nginx.conf)"
    EDGE_ENTRYPOINT_HASH="$(file_hash infra/docker/edge-entrypoint.sh)"
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
    export NGINX_CONF_HASH EDGE_ENTRYPOINT_HASH POSTGRES_GUARD_HASH PROMETHEUS_CONF_HASH PROMETHEUS_RULES_HASH \
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
    ensure_tls_secrets
    export_config_hashes
    local files
    mapfile -t files < <(stack_files)
    log "deploying $MINITWIT_IMAGE:$MINITWIT_TAG as stack $STACK_NAME (${files[*]})"
    docker stack deploy --with-registry-auth --resolve-image "${MINITWIT_RESOLVE_IMAGE:-always}" \
        "${files[@]}" "$STACK_NAME"
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

connections_needed() { # REPLICAS: the worst case, a start-first update adding one more
    echo $((($1 + 1) * WORKERS_PER_REPLICA * CONNECTIONS_PER_WORKER + CONNECTION_RESERVE))
}

cmd_budget() {
    local replicas="${1:-$WEB_REPLICAS}"
    [[ "$replicas" =~ ^[1-9][0-9]*$ ]] || die "usage: deploy.sh budget [N] (N >= 1)"
    local per_replica=$((WORKERS_PER_REPLICA * CONNECTIONS_PER_WORKER)) needed verdict=fits
    needed="$(connections_needed "$replicas")"
    [ "$needed" -le "$MAX_CONNECTIONS" ] || verdict="does NOT fit"
    printf '%-13s%s\n' \
        "per worker:" "DB_POOL_SIZE $DB_POOL_SIZE + readiness 1 + live listener 1 = $CONNECTIONS_PER_WORKER" \
        "per replica:" "$WORKERS_PER_REPLICA workers x $CONNECTIONS_PER_WORKER = $per_replica" \
        "steady:" "$replicas replicas x $per_replica = $((replicas * per_replica))" \
        "update:" "start-first adds one: $((replicas + 1)) x $per_replica = $(((replicas + 1) * per_replica))" \
        "reserve:" "migrate 2 + backup 1 + operators 5 + superuser_reserved 3 = $CONNECTION_RESERVE" \
        "worst case:" "$needed against max_connections $MAX_CONNECTIONS: $verdict" \
        "at most:" "$(((MAX_CONNECTIONS - CONNECTION_RESERVE) / per_replica - 1)) replicas"
}

cmd_scale() {
    local replicas="${1:-}" needed
    if ! [[ "$replicas" =~ ^[1-9][0-9]*$ ]]; then
        die "usage: deploy.sh scale N (N >= 1)"
    fi
    needed="$(connections_needed "$replicas")"
    if [ "$needed" -gt "$MAX_CONNECTIONS" ]; then
        die "$replicas replicas need max_connections >= $needed (have $MAX_CONNECTIONS); raise it in docker-stack.yml and deploy"
    fi
    docker service scale --detach=false "${STACK_NAME}_web=$replicas" >/dev/null
    log "${STACK_NAME}_web scaled to $replicas"
}

cmd_renew_tls() {
    # A renewed certificate reaches the running proxies without a restart: written into each
    # one and loaded by nginx's graceful reload (new workers take new connections, the old
    # ones finish theirs). It is stored as secrets too, which the proxy service moves to at
    # the next deploy (with the same MINITWIT_TLS_* files). Run it on each proxy's node.
    if [ -z "${MINITWIT_TLS_CERT:-}" ] || [ -z "${MINITWIT_TLS_KEY:-}" ]; then
        die "set MINITWIT_TLS_CERT and MINITWIT_TLS_KEY to the renewed certificate and key"
    fi
    ensure_tls_secrets
    local containers container
    containers="$(docker ps -q --filter "label=com.docker.swarm.service.name=${STACK_NAME}_proxy")"
    [ -n "$containers" ] || die "no ${STACK_NAME}_proxy container runs on this node"
    for container in $containers; do
        docker exec -i "$container" sh -c 'umask 077 && cat > /etc/nginx/tls/fullchain.pem.new' \
            < "$MINITWIT_TLS_CERT"
        docker exec -i "$container" sh -c 'umask 077 && cat > /etc/nginx/tls/privkey.pem.new' \
            < "$MINITWIT_TLS_KEY"
        docker exec "$container" sh -c 'cd /etc/nginx/tls && mv fullchain.pem.new fullchain.pem \
            && mv privkey.pem.new privkey.pem && nginx -t -q && nginx -s reload'
        log "proxy $container reloaded with certificate $TLS_CERT_HASH"
    done
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
        budget) cmd_budget "$@" ;;
        renew-tls) cmd_renew_tls ;;
        status) cmd_status ;;
        -h | --help | help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' ;;
        *) die "unknown command: $command (deploy, rollback [REVISION], scale N, budget [N], renew-tls, status)" ;;
    esac
}

main "$@"
