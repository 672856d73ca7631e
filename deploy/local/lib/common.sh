# shellcheck shell=bash
# What deploy/local/services.sh's RabbitMQ and PostgreSQL parts share: messages, env-file lines,
# ports and file descriptors, the Debian packages, the local password, the per-checkout lock.
#
# Sourced by deploy/local/services.sh (and, through it, by cluster.sh): functions and settings
# only, no command. Uses LOCAL, CRED_FILE, LOCK_FILE and AMQP_USER from services.sh, and
# RMQ_LIB from lib/rabbitmq.sh (at call time).

QUIET_INFO=0

info() { [ "$QUIET_INFO" = 1 ] || printf '[services] %s\n' "$*"; }
warn() { printf '[services] %s\n' "$*" >&2; }
die()  { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

# Writes a value so that the env file is both `source`-able and readable by simple dotenv parsers.
env_line() {
    local k=$1 v=$2
    if [[ "$v" =~ ^[A-Za-z0-9_./:@%+=,-]*$ ]]; then
        printf '%s=%s\n' "$k" "$v"
    else
        printf '%s=%q\n' "$k" "$v"
    fi
}

# ---------------------------------------------------------------------------- ports

port_in_use() {   # port_in_use PORT -> 0 if something listens on it (any address)
    local p=$1
    if command -v ss >/dev/null 2>&1; then
        ss -Hltn "sport = :$p" 2>/dev/null | grep -q . && return 0
        return 1
    fi
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && return 0
    return 1
}

# Daemons must not inherit our lock fd or any pipe of the caller (make, CI, an IDE...): a
# CI runner waiting for EOF on such a pipe would otherwise hang until the daemon exits.
close_extra_fds() {
    local fd fds
    fds=$(ls /proc/$BASHPID/fd 2>/dev/null || true)
    for fd in $fds; do
        if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
}

tcp_open() {      # tcp_open PORT -> 0 if 127.0.0.1:PORT accepts a connection
    timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# ---------------------------------------------------------------------------- packages

pkg_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

ensure_packages() {
    local missing=() p
    for p in rabbitmq-server librabbitmq-dev amqp-tools postgresql libpq-dev pkg-config openssl; do
        pkg_installed "$p" || missing+=("$p")
    done
    # Belt and braces: the binaries we actually use.
    [ -x "$RMQ_LIB/rabbitmq-server" ] || missing+=(rabbitmq-server)
    command -v amqp-publish >/dev/null 2>&1 || missing+=(amqp-tools)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
    [ ${#missing[@]} -eq 0 ] && return 0

    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    [ "$(id -u)" = 0 ] || die "missing packages: ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})"
    info "installing missing packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

# ---------------------------------------------------------------------------- credentials

PASSWORD=""
CREDS_NEW=0
ensure_credentials() {
    mkdir -p "$LOCAL"
    if [ -s "$CRED_FILE" ]; then
        PASSWORD=$(head -n1 "$CRED_FILE")
    fi
    if ! [[ "$PASSWORD" =~ ^[0-9a-f]{32,}$ ]]; then
        PASSWORD=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
        ( umask 077; printf '%s\n' "$PASSWORD" > "$CRED_FILE.tmp" )
        mv -f "$CRED_FILE.tmp" "$CRED_FILE"
        CREDS_NEW=1
        info "generated a new password for user '$AMQP_USER' in $CRED_FILE"
    fi
    chmod 600 "$CRED_FILE"
}

# ---------------------------------------------------------------------------- lock

take_lock() {   # take_lock [FILE [WHO]]: one services.sh (or WHO) at a time per checkout
    local file=${1:-$LOCK_FILE} who=${2:-services.sh}
    mkdir -p "$LOCAL"
    exec 9>"$file"
    if ! flock -n 9; then
        info "waiting for another $who in this repo to finish..."
        flock -w 600 9 || die "timed out waiting for $file"
    fi
}
