#!/bin/sh
# Entrypoint of the proxy service (docker-stack.yml: proxy), in front of nginx:
#   minitwit-edge nginx -g 'daemon off;'
#
# Copies the certificate and key from their Swarm secrets to /etc/nginx/tls, where
# nginx.conf reads them: a renewal (`infra/deploy.sh renew-tls`) writes new files there and
# reloads nginx in place, which a secret, fixed for the task's life, could not.
set -eu

secrets="${MINITWIT_TLS_SECRETS_DIR:-/run/secrets}"
tls="${MINITWIT_TLS_DIR:-/etc/nginx/tls}"

if [ "$#" -eq 0 ]; then
    echo "minitwit-edge: usage: minitwit-edge COMMAND [ARG...]" >&2
    exit 64
fi
for name in tls_fullchain.pem tls_privkey.pem; do
    if [ ! -s "$secrets/$name" ]; then
        echo "minitwit-edge: $secrets/$name is missing or empty: give the service the" \
            "minitwit_tls_cert and minitwit_tls_key secrets (infra/deploy.sh creates them)" >&2
        exit 1
    fi
done
mkdir -p "$tls"
umask 077
cp "$secrets/tls_fullchain.pem" "$tls/fullchain.pem"
cp "$secrets/tls_privkey.pem" "$tls/privkey.pem"
exec "$@"
