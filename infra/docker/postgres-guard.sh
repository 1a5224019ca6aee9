#!/bin/sh
# Entrypoint of the db service, in front of the postgres image's docker-entrypoint.sh:
#   minitwit-pg-guard docker-entrypoint.sh postgres -c ...
#
# PostgreSQL initialises an empty data directory without asking. If the block volume failed
# to mount, the bind mount shows the empty directory underneath it, PostgreSQL creates a new
# empty cluster there, the app migrates it and runs "fine" with no data. This refuses that:
# a data directory without a cluster is initialised only when the volume carries the marker
# file that provisioning writes after mounting it (infra/terraform cloud-init), or when the
# operator says this is the first start (MINITWIT_ALLOW_INITDB=1).
set -eu

pgdata="${PGDATA:-/var/lib/postgresql/data}"
volume="${MINITWIT_PG_VOLUME:-$(dirname "$pgdata")}"
marker="$volume/.minitwit-volume"

if [ "$#" -eq 0 ]; then
    echo "minitwit-pg-guard: usage: minitwit-pg-guard COMMAND [ARG...]" >&2
    exit 64
fi

if [ -s "$pgdata/PG_VERSION" ]; then
    # An existing cluster: the volume is there. Mark it for the next start if unmarked.
    [ -e "$marker" ] || touch "$marker" 2>/dev/null || true
    exec "$@"
fi

if [ -e "$marker" ]; then
    echo "minitwit-pg-guard: $pgdata holds no cluster; $marker is present, initialising" >&2
    exec "$@"
fi

if [ "${MINITWIT_ALLOW_INITDB:-0}" = "1" ]; then
    echo "minitwit-pg-guard: MINITWIT_ALLOW_INITDB=1: first start, initialising $pgdata" >&2
    mkdir -p "$volume"
    touch "$marker"
    exec "$@"
fi

echo "minitwit-pg-guard: refusing to start: $pgdata holds no PostgreSQL cluster and $volume has" \
    "no .minitwit-volume marker, so the data volume is probably not mounted." \
    "Mount it and restart; for a genuinely new volume create the marker" \
    "(touch $marker on the host's volume) or deploy once with MINITWIT_ALLOW_INITDB=1." >&2
exit 1
