#!/usr/bin/env bash
# Project-local Prometheus and promtool (Debian's `prometheus` package, unpacked, not installed).
#
#   deploy/local/prometheus.sh [up|path]
#
#   up    (default) unpack Debian's `prometheus` package into $REPO/.local/prometheus/ unless it
#         is there already, and check that both binaries run. Idempotent.
#   path  print the directory holding `prometheus` and `promtool`.
#
# Why not `apt-get install prometheus`: its postinst creates a system user and starts a system
# Prometheus daemon on :9090. `apt-get download` + `dpkg-deb -x` gives the two binaries (Go,
# needing only libc) without running anything. The tests (`PrometheusScrapeTests`) and
# `make check-observability` use them from here.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd -P)
LOCAL="$REPO/.local"
# A worktree may share another checkout's .local through a symlink (see services.sh).
[ -L "$LOCAL" ] && LOCAL=$(cd "$LOCAL" && pwd -P)
DEST="$LOCAL/prometheus"
BIN="$DEST/usr/bin"

info() { printf 'prometheus.sh: %s\n' "$*" >&2; }
die() { printf 'prometheus.sh: %s\n' "$*" >&2; exit 1; }

works() {
    [ -x "$BIN/promtool" ] && [ -x "$BIN/prometheus" ] \
        && "$BIN/promtool" --version >/dev/null 2>&1 && "$BIN/prometheus" --version >/dev/null 2>&1
}

up() {
    works && return 0
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: put prometheus and promtool under $BIN by hand"
    mkdir -p "$LOCAL"
    local work
    work=$(mktemp -d "$LOCAL/.prometheus-download.XXXXXX")
    trap 'rm -rf "$work"' RETURN
    info "downloading Debian's prometheus package (not installing it)"
    if ! (cd "$work" && apt-get download -q prometheus >&2); then
        [ "$(id -u)" = 0 ] || die "apt-get download prometheus failed (package lists missing? run: sudo apt-get update)"
        apt-get update -q >&2
        (cd "$work" && apt-get download -q prometheus >&2) || die "apt-get download prometheus failed"
    fi
    local deb
    deb=$(ls "$work"/prometheus_*.deb)
    mkdir -p "$work/root"
    dpkg-deb -x "$deb" "$work/root"
    rm -rf "$DEST"
    mkdir -p "$DEST/usr"
    mv "$work/root/usr/bin" "$DEST/usr/bin"
    works || die "the unpacked prometheus/promtool do not run: $("$BIN/promtool" --version 2>&1 | head -1)"
    info "$("$BIN/promtool" --version 2>&1 | head -1) in $BIN"
}

case "${1:-up}" in
    up) up ;;
    path) echo "$BIN" ;;
    *) die "usage: $0 [up|path]" ;;
esac
