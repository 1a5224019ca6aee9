#!/bin/sh
# docker-entrypoint.sh [postgres ARG...]: initialise PGDATA if it holds no cluster, then run
# PostgreSQL as the postgres user. Any other command is run as it is.
set -eu

if [ "${1:-postgres}" != postgres ] && [ "${1#-}" = "${1:-}" ]; then
    exec "$@"
fi
[ "${1:-}" = postgres ] && shift

pgdata="${PGDATA:-/var/lib/postgresql/data}"

# As root: own the data directory, then start again as postgres.
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$pgdata"
    chown postgres:postgres "$pgdata"
    chmod 0700 "$pgdata"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi

# VAR or VAR_FILE (a Swarm secret), never both.
file_env() { # VAR [DEFAULT]
    var="$1"
    eval "value=\${$var:-} file=\${${var}_FILE:-}"
    if [ -n "$value" ] && [ -n "$file" ]; then
        echo "docker-entrypoint.sh: set $var or ${var}_FILE, not both" >&2
        exit 1
    fi
    [ -n "$file" ] && value="$(cat "$file")"
    [ -n "$value" ] || value="${2:-}"
    eval "$var=\$value"
    export "${var?}"
}

if [ ! -s "$pgdata/PG_VERSION" ]; then
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    if [ -z "$POSTGRES_PASSWORD" ]; then
        echo "docker-entrypoint.sh: $pgdata holds no cluster and POSTGRES_PASSWORD" \
            "(or POSTGRES_PASSWORD_FILE) is not set: refusing to make a database anyone can use" >&2
        exit 1
    fi
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb --pgdata="$pgdata" --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    printf 'host all all all scram-sha-256\n' >> "$pgdata/pg_hba.conf"
    echo "docker-entrypoint.sh: initialised $pgdata" >&2

    # A server on the socket only, for the database and the init scripts.
    pg_ctl --pgdata="$pgdata" --options="-c listen_addresses=''" --wait --silent start
    if [ "$POSTGRES_DB" != postgres ]; then
        psql --username="$POSTGRES_USER" --dbname=postgres --set ON_ERROR_STOP=1 --quiet \
            --command="CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
    fi
    for script in /docker-entrypoint-initdb.d/*; do
        case "$script" in
            *.sql) psql --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" \
                --set ON_ERROR_STOP=1 --quiet --file="$script" ;;
            *.sh)
                # shellcheck source=/dev/null
                . "$script"
                ;;
        esac
    done
    pg_ctl --pgdata="$pgdata" --mode=fast --wait --silent stop
fi

exec postgres -c listen_addresses='*' "$@"
