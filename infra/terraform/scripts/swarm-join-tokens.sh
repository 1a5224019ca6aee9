#!/usr/bin/env bash
# Terraform external data source. Reads {"host", "user", "private_key"} as JSON on
# stdin, waits until cloud-init on the manager has initialised the swarm, and
# prints {"worker": TOKEN, "manager": TOKEN}. Needs ssh and jq.
set -euo pipefail

input="$(cat)"
host="$(jq -r '.host' <<<"$input")"
user="$(jq -r '.user' <<<"$input")"
private_key="$(jq -r '.private_key' <<<"$input")"

ssh_opts=(
    -i "$private_key"
    -o BatchMode=yes
    -o ConnectTimeout=10
    -o StrictHostKeyChecking=accept-new
)
remote='cloud-init status --wait >/dev/null 2>&1 || true
docker swarm join-token -q worker
docker swarm join-token -q manager'

deadline=$((SECONDS + 900))
# shellcheck disable=SC2029 # $remote is a fixed command meant to run on the manager
until tokens="$(ssh "${ssh_opts[@]}" "$user@$host" "$remote" 2>/dev/null)"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "$host did not become a swarm manager within 15 minutes" >&2
        exit 1
    fi
    sleep 10
done

worker="$(sed -n 1p <<<"$tokens")"
manager="$(sed -n 2p <<<"$tokens")"
if [ -z "$worker" ] || [ -z "$manager" ]; then
    echo "no join tokens from $host" >&2
    exit 1
fi
jq -n --arg worker "$worker" --arg manager "$manager" '{worker: $worker, manager: $manager}'
