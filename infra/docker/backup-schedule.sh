#!/bin/sh
# The backup service's command (docker-stack.yml: backup), in the MiniTwit image:
# every MINITWIT_BACKUP_INTERVAL seconds `minitwit backup` writes
# $MINITWIT_BACKUP_DIR/minitwit-YYYYmmddTHHMMSSZ.dump, then all but the newest
# MINITWIT_BACKUP_KEEP backups are deleted. A failed backup is logged, deletes nothing, and is
# tried again after MINITWIT_BACKUP_RETRY seconds. MINITWIT_BACKUP_ONCE=1 takes one and exits.
#
# Every attempt is also written for Prometheus, to $dir/.metrics/minitwit_backup.prom, which
# node-exporter's textfile collector reads on the node (alerts MinitwitBackupFailed and
# MinitwitBackupMissing).
set -eu

dir="${MINITWIT_BACKUP_DIR:-/backups}"
interval="${MINITWIT_BACKUP_INTERVAL:-21600}"
retry="${MINITWIT_BACKUP_RETRY:-600}"
keep="${MINITWIT_BACKUP_KEEP:-28}"

log() { printf '{"time":"%s","level":"%s","logger":"backup","message":"%s"}\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2"; }

case "$interval$retry$keep" in
    *[!0-9]*) log ERROR "MINITWIT_BACKUP_INTERVAL, MINITWIT_BACKUP_RETRY and MINITWIT_BACKUP_KEEP must be whole numbers"; exit 64 ;;
esac
[ "$keep" -ge 1 ] || { log ERROR "MINITWIT_BACKUP_KEEP must be at least 1"; exit 64; }
[ -d "$dir" ] || { log ERROR "$dir is not a directory"; exit 66; }
# Backups are readable by their owner only; the metrics by node-exporter too.
umask 077
metrics="$dir/.metrics"
if ! mkdir -p "$metrics" || ! chmod 0755 "$metrics"; then
    log ERROR "cannot create $metrics"
    exit 73
fi
last_success=0

report() { # OK(1|0) SIZE: the attempt just made, for Prometheus (written whole, then renamed)
    now="$(date -u +%s)"
    [ "$1" = 1 ] && last_success="$now"
    {
        echo "# HELP minitwit_backup_last_ok Whether the last backup attempt succeeded."
        echo "# TYPE minitwit_backup_last_ok gauge"
        echo "minitwit_backup_last_ok $1"
        echo "# HELP minitwit_backup_last_attempt_timestamp_seconds When the last backup was attempted."
        echo "# TYPE minitwit_backup_last_attempt_timestamp_seconds gauge"
        echo "minitwit_backup_last_attempt_timestamp_seconds $now"
        echo "# HELP minitwit_backup_last_success_timestamp_seconds When a backup last succeeded (0: not since start)."
        echo "# TYPE minitwit_backup_last_success_timestamp_seconds gauge"
        echo "minitwit_backup_last_success_timestamp_seconds $last_success"
        echo "# HELP minitwit_backup_last_size_bytes The size of the newest backup."
        echo "# TYPE minitwit_backup_last_size_bytes gauge"
        echo "minitwit_backup_last_size_bytes $2"
    } > "$metrics/.minitwit_backup.prom.partial" || true
    if ! chmod 0644 "$metrics/.minitwit_backup.prom.partial" \
        || ! mv "$metrics/.minitwit_backup.prom.partial" "$metrics/minitwit_backup.prom"; then
        log ERROR "cannot write $metrics/minitwit_backup.prom"
    fi
}

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
        report 1 "$(wc -c < "$dir/$name")"
        prune
        wait_for="$interval"
    else
        log ERROR "backup failed: $(printf '%s' "$output" | tr '"\n' "' ")"
        report 0 0
        wait_for="$retry"
    fi
    [ "${MINITWIT_BACKUP_ONCE:-0}" = "1" ] && exit 0
    sleep "$wait_for"
done
