#!/bin/sh
# Container entrypoint. Docker secrets arrive as files; DATABASE_URL carries the
# database password, so the stack hands it over as DATABASE_URL_FILE and this
# script exports it before exec'ing the command (which then receives SIGTERM
# directly: no shell stays in between).
set -eu

if [ -n "${DATABASE_URL_FILE:-}" ]; then
    if [ -n "${DATABASE_URL:-}" ]; then
        echo "minitwit-entrypoint: set DATABASE_URL or DATABASE_URL_FILE, not both" >&2
        exit 64
    fi
    DATABASE_URL="$(cat "$DATABASE_URL_FILE")"
    export DATABASE_URL
    unset DATABASE_URL_FILE
fi

exec "$@"
