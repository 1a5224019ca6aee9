#!/bin/sh
# The backup service's command (docker-stack.yml: backup), in the MiniTwit image:
# every MINITWIT_BACKUP_INTERVAL seconds `minitwit backup` writes
# $MINITWIT_BACKUP_DIR/minitwit-YYYYmmddTHHMMSSZ.dump, then all but the newest
# MINITWIT_BACKUP_KEEP backups are deleted. A failed backup is logged and retried at the next
# interval; it never deletes an older backup. MINITWIT_BACKUP_ONCE=1 takes one and exits.
set -eu

dir="${MINITWIT_BACKUP_DIR:-/backups}"
interval="${MINITWIT_BACKUP_INTERVAL:-21600}"
keep="${MINITWIT_BACKUP_KEEP:-28}"

log() { printf '{"time":"%s","level":"%s","logger":"backup","message":"%s"}\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2"; }

case "$interval$keep" in
    *[!0-9]*) log ERROR "MINITWIT_BACKUP_INTERVAL and MINITWIT_BACKUP_KEEP must be whole numbers"; exit 64 ;;
esac
[ "$keep" -ge 1 ] || { log ERROR "MINITWIT_BACKUP_KEEP must be at least 1"; exit 64; }
[ -d "$dir" ] || { log ERROR "$dir is not a directory"; exit 66; }

prune() {
    # The glob sorts by name, which is by time: delete the oldest beyond the newest $keep.
    set -- "$dir"/minitwit-????????T??????Z.dump
    [ -e "$1" ] || return 0
    excess=$(($# - keep))
    while [ "$excess" -gt 0 ]; do
        rm -f "$1" && log INFO "deleted old backup ${1##*/}"
        shift
        excess=$((excess - 1))
    done
}

while :; do
    name="minitwit-$(date -u +%Y%m%dT%H%M%SZ).dump"
    if output="$(minitwit backup "$dir/$name" 2>&1)"; then
        log INFO "$output"
        prune
    else
        log ERROR "backup failed: $(printf '%s' "$output" | tr '"\n' "' ")"
    fi
    [ "${MINITWIT_BACKUP_ONCE:-0}" = "1" ] && exit 0
    sleep "$interval"
done
