#!/usr/bin/env bash
# Build every image the stack needs from Debian's packages, for a site that can pull nothing
# (no registry, or an air-gapped one). Each third-party image does what docker-stack.yml and
# compose.yaml rely on from the official one it replaces (infra/images/README.md).
#
#   infra/images/build.sh [IMAGE...]    build these (default: all), print the settings to use
#   infra/images/build.sh --env         only print the settings (export lines for deploy.sh)
#
# Images: debian python minitwit postgres nginx prometheus alertmanager blackbox-exporter
# node-exporter. Grafana, Loki and Alloy have no Debian package: they are not built here.
#
# Environment:
#   LOCAL_IMAGE_PREFIX  repository prefix of the images made here (default minitwit-local)
#   MINITWIT_IMAGE, MINITWIT_TAG   the MiniTwit image (default $LOCAL_IMAGE_PREFIX/minitwit,
#                       tag: the checkout's commit)
#   DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR
#                       the Debian archives debootstrap and apt use (default: the host's own,
#                       from its apt sources)
#   LOCAL_CA_DIR        certificate authorities to trust inside builds, beyond Debian's
#                       (default /usr/local/share/ca-certificates, as the host trusts them)
#   REBUILD_BASE=1      debootstrap again even if the base image exists
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"

prefix="${LOCAL_IMAGE_PREFIX:-minitwit-local}"
# The archive a host's apt uses for SUITE's packages: its URIs (deb822) or deb lines.
host_archive() { # PATH_SUFFIX (debian, debian-security)
    { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
        2>/dev/null || true; } | sed -n -e "s|^URIs: *\([^ ]*/$1\)/*$|\1|p" \
        -e "s|^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*/$1\)/* .*|\2|p" | head -n1
}
mirror="${DEBIAN_MIRROR:-$(host_archive debian)}"
security_mirror="${DEBIAN_SECURITY_MIRROR:-$(host_archive debian-security)}"
local_ca="${LOCAL_CA_DIR:-/usr/local/share/ca-certificates}"
minitwit_image="${MINITWIT_IMAGE:-$prefix/minitwit}"
minitwit_tag="${MINITWIT_TAG:-$(git -C "$repo_root" rev-parse --short=12 HEAD 2>/dev/null || echo latest)}"

debootstrap_image="$prefix/debootstrap:bookworm"
debian_image="$prefix/debian:bookworm"
python_image="$prefix/python:3.11-bookworm"

log() { printf '%s images: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

build() {
    # build TAG DIR [--build-arg ...]: the classic builder and BuildKit both take these files.
    local tag="$1" dir="$2"
    shift 2
    log "building $tag"
    docker build --quiet --tag "$tag" --build-arg "DEBIAN_IMAGE=$debian_image" "$@" "$dir" >/dev/null
}

build_debootstrap() {
    if image_exists "$debootstrap_image" && [ "${REBUILD_BASE:-0}" != 1 ]; then
        log "$debootstrap_image exists (REBUILD_BASE=1 to make it again)"
        return
    fi
    command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
    local rootfs
    rootfs="$(mktemp -d)"
    log "debootstrap bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import - "$debootstrap_image" >/dev/null
    rm -rf "$rootfs"
}

build_debian() {
    local context
    context="$(mktemp -d)"
    cp "$here/debian/Dockerfile" "$context/"
    mkdir "$context/local-ca"
    if [ -d "$local_ca" ]; then
        find "$local_ca" -maxdepth 1 -name '*.crt' -exec cp {} "$context/local-ca/" \;
    fi
    build "$debian_image" "$context" --build-arg "BASE_IMAGE=$debootstrap_image" \
        --build-arg "DEBIAN_MIRROR=$mirror" --build-arg "DEBIAN_SECURITY_MIRROR=$security_mirror"
    rm -rf "$context"
}

build_one() {
    case "$1" in
        debootstrap) build_debootstrap ;;
        debian) build_debian ;;
        python) build "$python_image" "$here/python" ;;
        minitwit)
            build "$minitwit_image:$minitwit_tag" "$repo_root" --build-arg "PYTHON_IMAGE=$python_image" ;;
        alertmanager) build "$(image_of "$1")" "$here/$1" --build-arg "DEBIAN_MIRROR=$mirror" ;;
        postgres | nginx | prometheus | blackbox-exporter | node-exporter)
            build "$(image_of "$1")" "$here/$1" ;;
        *) die "unknown image: $1" ;;
    esac
}

image_of() {
    case "$1" in
        postgres) echo "$prefix/postgres:15-bookworm" ;;
        nginx) echo "$prefix/nginx:bookworm" ;;
        prometheus) echo "$prefix/prometheus:bookworm" ;;
        alertmanager) echo "$prefix/alertmanager:bookworm" ;;
        blackbox-exporter) echo "$prefix/blackbox-exporter:bookworm" ;;
        node-exporter) echo "$prefix/node-exporter:bookworm" ;;
    esac
}

print_env() {
    cat <<EOF
export MINITWIT_IMAGE=$minitwit_image MINITWIT_TAG=$minitwit_tag
export MINITWIT_PYTHON_IMAGE=$python_image
export MINITWIT_POSTGRES_IMAGE=$(image_of postgres)
export MINITWIT_NGINX_IMAGE=$(image_of nginx)
export MINITWIT_PROMETHEUS_IMAGE=$(image_of prometheus)
export MINITWIT_ALERTMANAGER_IMAGE=$(image_of alertmanager)
export MINITWIT_BLACKBOX_IMAGE=$(image_of blackbox-exporter)
export MINITWIT_NODE_EXPORTER_IMAGE=$(image_of node-exporter)
# Grafana, Loki and Alloy have no Debian package: deploy without them. The images exist
# on this node only: deploy them as they are, without asking a registry for their digests.
export MINITWIT_GRAFANA=0 MINITWIT_RESOLVE_IMAGE=never
EOF
}

main() {
    if [ -z "$mirror" ] || [ -z "$security_mirror" ]; then
        die "set DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR (this host's apt sources name none)"
    fi
    if [ "${1:-}" = --env ]; then
        print_env
        return
    fi
    local images=("$@")
    if [ "${#images[@]}" -eq 0 ]; then
        images=(debootstrap debian python minitwit postgres nginx prometheus alertmanager
            blackbox-exporter node-exporter)
    fi
    local image
    for image in "${images[@]}"; do
        build_one "$image"
    done
    print_env
}

main "$@"
