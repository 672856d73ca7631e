#!/usr/bin/env bash
# Project-local RabbitMQ node + PostgreSQL cluster for Courier development and tests.
#
#   deploy/local/services.sh [up|down|status|env]
#
#   up      (default) install missing Debian packages, start our own RabbitMQ node and
#           PostgreSQL cluster (data under $REPO/.local/), create the `courier` user/role/db,
#           write $REPO/.local/services.env. Idempotent: a second `up` only verifies.
#   down    stop our node and cluster (never the system services, never anything else).
#   status  print the state of both.
#   env     print the path of the env file.
#   stop-postgres [immediate] | stop-rabbitmq
#           stop one of the two (for outage tests and chaos; `up` starts it again).
#
# Nothing here uses the system rabbitmq-server / postgresql services. Passwords are never
# printed; URLs are shown with the password replaced by ***.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd -P)
LOCAL="$REPO/.local"
# A git worktree may share another checkout's services through a `.local` symlink: resolve it,
# so both see one RabbitMQ node (name, data, pid and port files) instead of each starting its own
# and rewriting services.env under the other.
[ -L "$LOCAL" ] && LOCAL=$(cd "$LOCAL" && pwd -P)
HASH=$(printf '%s' "$(dirname "$LOCAL")" | sha256sum | cut -c1-8)

ENV_FILE="$LOCAL/services.env"
CRED_FILE="$LOCAL/credentials"
BIN_DIR="$LOCAL/bin"
LOCK_FILE="$LOCAL/.services.lock"

DB_USER=courier
DB_NAME=courier
AMQP_USER=courier

RMQ_BASE="$LOCAL/rabbitmq"
RMQ_NODE="courier-$HASH@localhost"
RMQ_LIB=/usr/lib/rabbitmq/bin
RMQ_CONF="$RMQ_BASE/rabbitmq.conf"
RMQ_PID_FILE="$RMQ_BASE/rabbitmq.pid"
RMQ_PORT_FILE="$RMQ_BASE/amqp.port"
RMQ_DEFS="$RMQ_BASE/definitions.json"
RMQ_DEFAULT_PORT=5672
RMQ_TLS_OFFSET=1000                       # the TLS listener sits at the AMQP port + 1000
RMQ_TLS_DIR="$RMQ_BASE/tls"

PG_DEFAULT_PORT=5432
PG_BASE_FILE="$LOCAL/postgres.location"   # records where the cluster lives (repo or /tmp fallback)

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

# ---------------------------------------------------------------------------- RabbitMQ

rmq_export_env() {
    export HOME="$RMQ_BASE"
    export RABBITMQ_NODENAME="$RMQ_NODE"
    export RABBITMQ_CONF_ENV_FILE="$RMQ_BASE/rabbitmq-env.conf"
    export RABBITMQ_CONFIG_FILE="$RMQ_CONF"
    export RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ_BASE/advanced.config"
    export RABBITMQ_MNESIA_BASE="$RMQ_BASE/mnesia"
    export RABBITMQ_LOG_BASE="$RMQ_BASE/log"
    export RABBITMQ_PID_FILE="$RMQ_PID_FILE"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_BASE/enabled_plugins"
    export ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}${RMQ_EXTRA_ERL_ARGS:+ $RMQ_EXTRA_ERL_ARGS}"
    export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    if [ -n "${RMQ_PORT:-}" ]; then
        # The AMQP listener itself comes from rabbitmq.conf (127.0.0.1 only); RABBITMQ_NODE_PORT is
        # deliberately not set, it would add a listener on all interfaces.
        export RABBITMQ_DIST_PORT=$((RMQ_PORT + 20000))
    fi
}

rmqctl() { ( rmq_export_env; cd "$RMQ_BASE"; exec "$RMQ_LIB/rabbitmqctl" -n "$RMQ_NODE" "$@" ); }

# 0 if the pid in our pid file is a live beam process of *our* node (not a stale pid after reboot).
rmq_pid_alive() {
    local pid
    [ -s "$RMQ_PID_FILE" ] || return 1
    pid=$(tr -dc '0-9' < "$RMQ_PID_FILE")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    # RabbitMQ 3.10 starts distribution at runtime, so the node name is not on the command
    # line; our node is the beam.smp whose "-home" is our RMQ_BASE (HOME=$RMQ_BASE).
    rmq_cmdline_is_ours "/proc/$pid/cmdline"
}

# 0 if our node is registered with epmd (cheap) - used when the pid file is missing.
rmq_epmd_registered() {
    command -v epmd >/dev/null 2>&1 || return 1
    epmd -names 2>/dev/null | grep -q "^name ${RMQ_NODE%@*} at port"
}

# 0 if the command line in file $1 (/proc/PID/cmdline) is our beam: "-home $RMQ_BASE".
rmq_cmdline_is_ours() {
    local -a args=()
    local n
    mapfile -d '' -t args 2>/dev/null < "$1" || return 1   # (the process may be gone already)
    for ((n = 0; n + 1 < ${#args[@]}; n++)); do
        [ "${args[n]}" = "-home" ] && [ "${args[n+1]}" = "$RMQ_BASE" ] && return 0
    done
    return 1
}

# 0 if any process (booting or running) is our beam.
rmq_vm_exists() {
    local f
    for f in /proc/[0-9]*/cmdline; do
        rmq_cmdline_is_ours "$f" && return 0
    done
    return 1
}

rmq_running() {
    rmq_pid_alive && return 0
    if rmq_epmd_registered && rmqctl -q ping >/dev/null 2>&1; then
        return 0
    fi
    return 1
}

rmq_current_port() {
    local p=""
    [ -s "$RMQ_PORT_FILE" ] && p=$(tr -dc '0-9' < "$RMQ_PORT_FILE")
    printf '%s' "${p:-$RMQ_DEFAULT_PORT}"
}

rmq_write_definitions() {
    ( umask 077
      cat > "$RMQ_DEFS.tmp" <<EOF
{
  "users": [
    {"name": "$AMQP_USER", "password": "$PASSWORD", "tags": ["administrator"], "limits": {}}
  ],
  "vhosts": [
    {"name": "/"}
  ],
  "permissions": [
    {"user": "$AMQP_USER", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
  ]
}
EOF
    )
    mv -f "$RMQ_DEFS.tmp" "$RMQ_DEFS"
}

# A throwaway CA and a server certificate for localhost / 127.0.0.1, made once, so that amqps://
# (librabbitmq's TLS socket) is exercised by the tests like plain amqp://.
rmq_write_tls() {
    [ -s "$RMQ_TLS_DIR/server.pem" ] && [ -s "$RMQ_TLS_DIR/ca.pem" ] && return 0
    mkdir -p "$RMQ_TLS_DIR"
    ( umask 077; cd "$RMQ_TLS_DIR"
      openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Courier local CA" \
          -keyout ca.key -out ca.pem >/dev/null 2>&1
      openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr >/dev/null 2>&1
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
          -extfile server.ext -out server.pem >/dev/null 2>&1
      rm -f server.csr server.ext ca.srl
    ) || die "could not create the local TLS certificates with openssl"
    chmod 644 "$RMQ_TLS_DIR/ca.pem"
}

rmq_write_config() {
    mkdir -p "$RMQ_BASE/mnesia" "$RMQ_BASE/log"
    chmod 700 "$RMQ_BASE"
    printf '[].\n' > "$RMQ_BASE/enabled_plugins"
    printf '# intentionally empty: keeps /etc/rabbitmq/rabbitmq-env.conf out of our node\n' \
        > "$RMQ_BASE/rabbitmq-env.conf"
    if [ ! -s "$RMQ_BASE/.erlang.cookie" ]; then
        ( umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' | tr 'a-f0-9' 'A-P' > "$RMQ_BASE/.erlang.cookie" )
    fi
    chmod 400 "$RMQ_BASE/.erlang.cookie"
    cat > "$RMQ_CONF" <<EOF
# Generated by deploy/local/services.sh - project-local node $RMQ_NODE
listeners.tcp.1 = 127.0.0.1:$RMQ_PORT
listeners.ssl.1 = 127.0.0.1:$((RMQ_PORT + RMQ_TLS_OFFSET))
ssl_options.cacertfile = $RMQ_TLS_DIR/ca.pem
ssl_options.certfile = $RMQ_TLS_DIR/server.pem
ssl_options.keyfile = $RMQ_TLS_DIR/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
loopback_users.guest = true
# Users/vhosts/permissions are (re)applied from this file at every boot; it also stops
# RabbitMQ from seeding the default guest/guest user.
load_definitions = $RMQ_DEFS
log.console = false
log.file.level = info
EOF
}

rmq_start() {
    local p
    if rmq_running && ! tcp_open $(( $(rmq_current_port) + RMQ_TLS_OFFSET )) \
        && tcp_open "$(rmq_current_port)"; then
        # Started by an older version of this script, without the TLS listener.
        info "restarting RabbitMQ node $RMQ_NODE to add its TLS listener"
        rmq_stop
    fi
    if rmq_running; then
        RMQ_PORT=$(rmq_current_port)
        if ! tcp_open "$RMQ_PORT"; then
            # Node alive but listener not (yet) up: wait for the app to finish booting.
            rmqctl -q await_startup --timeout 60 >/dev/null 2>&1 || true
            tcp_open "$RMQ_PORT" || die "RabbitMQ node $RMQ_NODE runs but 127.0.0.1:$RMQ_PORT is not accepting connections (see $RMQ_BASE/log/)"
        fi
        if [ "$CREDS_NEW" = 1 ] || [ ! -s "$RMQ_DEFS" ]; then
            rmq_write_definitions
            rmqctl -q import_definitions "$RMQ_DEFS" >/dev/null
        fi
        info "RabbitMQ node $RMQ_NODE already running on 127.0.0.1:$RMQ_PORT"
        return 0
    fi

    # Not running: a pid file left over (e.g. after a reboot) is stale.
    rm -f "$RMQ_PID_FILE"

    # The port of the last start when it is still free: clients (a cluster's URL list above all)
    # keep reaching a node that was stopped and started again.
    p=$(rmq_current_port)
    if port_in_use "$p" || port_in_use $((p + 20000)) || port_in_use $((p + RMQ_TLS_OFFSET)); then p=$RMQ_DEFAULT_PORT; fi
    while port_in_use "$p" || port_in_use $((p + 20000)) || port_in_use $((p + RMQ_TLS_OFFSET)); do
        p=$((p + 1))
        [ "$p" -lt $((RMQ_DEFAULT_PORT + 100)) ] || die "no free AMQP port in $RMQ_DEFAULT_PORT..$p"
    done
    if [ "$p" != "$RMQ_DEFAULT_PORT" ]; then
        warn "NOTE: port $RMQ_DEFAULT_PORT (or its dist port $((RMQ_DEFAULT_PORT + 20000))) is taken by another process; our RabbitMQ node uses port $p instead"
    fi
    RMQ_PORT=$p
    rmq_write_tls
    rmq_write_config
    rmq_write_definitions
    printf '%s\n' "$RMQ_PORT" > "$RMQ_PORT_FILE"

    info "starting RabbitMQ node $RMQ_NODE on 127.0.0.1:$RMQ_PORT (data: $RMQ_BASE)"
    ( rmq_export_env; cd "$RMQ_BASE"; close_extra_fds
      exec "$RMQ_LIB/rabbitmq-server" -detached ) </dev/null >>"$RMQ_BASE/log/startup.out" 2>&1 \
        || die "rabbitmq-server failed to launch (see $RMQ_BASE/log/startup.out)"

    # await_startup fails at once while the VM has not registered with epmd yet, so poll for
    # that first; give up early when the VM is gone (bad config, port race, ...).
    # The VM's command line shows our -home only once the start script has exec'd it, which on a
    # busy machine (three nodes booting side by side) takes seconds: "gone" counts after 30 s.
    local ok=0 deadline=$((SECONDS + 150)) launched=$SECONDS
    while [ "$SECONDS" -lt "$deadline" ]; do
        if rmq_epmd_registered || rmq_pid_alive; then
            if rmqctl -q await_startup --timeout 120 >/dev/null 2>&1; then ok=1; break; fi
        fi
        rmq_vm_exists || [ "$SECONDS" -lt $((launched + 30)) ] || break
        sleep 0.5
    done
    if [ "$ok" != 1 ] || ! tcp_open "$RMQ_PORT"; then
        warn "RabbitMQ did not come up; last lines of $RMQ_BASE/log/$RMQ_NODE.log:"
        tail -n 15 "$RMQ_BASE/log/$RMQ_NODE.log" >&2 2>/dev/null || true
        if ! rmq_vm_exists; then
            # A detached VM that dies early (e.g. a rabbitmq.conf error) says why only on its
            # stdout, which -detached discards: boot it once in the foreground to show the reason.
            warn "booting it once in the foreground to show the error:"
            ( rmq_export_env; cd "$RMQ_BASE"; close_extra_fds
              exec timeout 60 "$RMQ_LIB/rabbitmq-server" ) </dev/null >"$RMQ_BASE/log/foreground.out" 2>&1 || true
            grep -v '^ *$' "$RMQ_BASE/log/foreground.out" | tail -n 15 >&2 || true
        fi
        die "RabbitMQ node $RMQ_NODE failed to start (logs: $RMQ_BASE/log/)"
    fi
    # Definitions are loaded at boot; make sure it really happened.
    if ! rmqctl -q list_users 2>/dev/null | grep -q "^${AMQP_USER}[[:space:]]"; then
        rmqctl -q import_definitions "$RMQ_DEFS" >/dev/null
    fi
    info "RabbitMQ node $RMQ_NODE is up"
}

rmq_stop() {
    if rmq_running; then
        info "stopping RabbitMQ node $RMQ_NODE"
        rmqctl -q shutdown >/dev/null 2>&1 || rmqctl -q stop >/dev/null 2>&1 || true
        local _
        for _ in $(seq 1 30); do rmq_pid_alive || break; sleep 1; done
        rmq_pid_alive && die "RabbitMQ node $RMQ_NODE did not stop"
        rm -f "$RMQ_PID_FILE"
    else
        info "RabbitMQ node $RMQ_NODE is not running"
        rm -f "$RMQ_PID_FILE"
    fi
}

# ---------------------------------------------------------------------------- PostgreSQL

PG_BIN=""
pg_find_bin() {
    local d
    d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)
    [ -x "$d/initdb" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
    PG_BIN=$d
}

PG_BASE="" PG_DATA="" PG_SOCK="" PG_LOG="" PG_PORT=""
pg_set_paths() {
    PG_BASE=$1
    PG_DATA="$PG_BASE/data"
    PG_SOCK="$PG_BASE/run"
    PG_LOG="$PG_BASE/log/postgresql.log"
}

pg_as() { ( cd / && runuser -u postgres -- "$@" ); }

# Pick the cluster location: $REPO/.local/postgres unless the postgres user cannot reach it
# (repo under a 0700 home dir, ...) or the unix socket path would be too long.
pg_choose_base() {
    local want="$LOCAL/postgres" fallback="/tmp/courier-$HASH/postgres" reason=""
    getent passwd postgres >/dev/null || die "system user 'postgres' does not exist (is the postgresql package installed?)"
    mkdir -p "$want"
    chmod 755 "$LOCAL"
    chown postgres:postgres "$want"
    chmod 750 "$want"
    if ! pg_as test -w "$want" -a -x "$want"; then
        reason="user 'postgres' cannot reach $want"
    elif [ ${#want} -gt 80 ]; then
        reason="unix socket path under $want would be too long"
    fi
    if [ -n "$reason" ]; then
        warn "NOTE: $reason; using $fallback for the PostgreSQL cluster instead"
        mkdir -p "$fallback"
        chmod 755 "$(dirname "$fallback")"
        chown postgres:postgres "$fallback"
        chmod 750 "$fallback"
        pg_set_paths "$fallback"
    else
        pg_set_paths "$want"
    fi
    printf '%s\n' "$PG_BASE" > "$PG_BASE_FILE"
}

pg_load_base() {
    local b="$LOCAL/postgres"
    [ -s "$PG_BASE_FILE" ] && b=$(head -n1 "$PG_BASE_FILE")
    pg_set_paths "$b"
}

# Prints "PID PORT" of a live postmaster for our data dir, or fails.
pg_running_info() {
    local pid port cwd
    [ -r "$PG_DATA/postmaster.pid" ] || return 1
    pid=$(sed -n 1p "$PG_DATA/postmaster.pid" | tr -dc '0-9')
    port=$(sed -n 4p "$PG_DATA/postmaster.pid" | tr -dc '0-9')
    [ -n "$pid" ] && [ -n "$port" ] && [ -e "/proc/$pid" ] || return 1
    # A reused pid after a reboot is not ours: the postmaster's cwd is its data dir.
    cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null || true)
    [ "$cwd" = "$(readlink -f "$PG_DATA")" ] || return 1
    printf '%s %s\n' "$pid" "$port"
}

pg_wait_ready() {
    local _
    for _ in $(seq 1 60); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2 && return 0
        sleep 0.5
    done
    return 1
}

pg_admin_sql() {   # SQL on stdin, as superuser over the unix socket
    "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d postgres "$@"
}

pg_ensure_role_db() {
    # Password goes through stdin, never argv. scram-sha-256 is PG15's default encryption.
    pg_admin_sql >/dev/null <<EOF
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER') THEN
    CREATE ROLE $DB_USER LOGIN CREATEDB;
  END IF;
END
\$\$;
ALTER ROLE $DB_USER LOGIN CREATEDB PASSWORD '$PASSWORD';
EOF
    if [ -z "$(pg_admin_sql -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" ]; then
        pg_admin_sql -c "CREATE DATABASE $DB_NAME OWNER $DB_USER" >/dev/null
    fi
}

pg_start() {
    local info p
    pg_find_bin
    pg_choose_base

    if info=$(pg_running_info); then
        PG_PORT=${info#* }
        pg_wait_ready || die "PostgreSQL (pid ${info% *}) runs but does not answer on 127.0.0.1:$PG_PORT"
        pg_ensure_role_db
        info "PostgreSQL cluster $PG_DATA already running on 127.0.0.1:$PG_PORT"
        return 0
    fi

    mkdir -p "$PG_SOCK" "$(dirname "$PG_LOG")"
    chown postgres:postgres "$PG_SOCK" "$(dirname "$PG_LOG")"

    if [ ! -s "$PG_DATA/PG_VERSION" ]; then
        if [ -e "$PG_DATA" ]; then
            warn "removing incomplete PostgreSQL data dir $PG_DATA (no PG_VERSION)"
            rm -rf "$PG_DATA"
        fi
        info "initialising PostgreSQL cluster in $PG_DATA ($("$PG_BIN/postgres" --version))"
        pg_as "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
            --auth-local=trust --auth-host=scram-sha-256 >"$PG_BASE/log/initdb.log" 2>&1 \
            || { tail -n 20 "$PG_BASE/log/initdb.log" >&2; die "initdb failed"; }
        printf "\n# Courier local settings (port, sockets, ...) are rewritten by services.sh\ninclude_if_exists = 'courier-local.conf'\n" \
            | pg_as tee -a "$PG_DATA/postgresql.conf" >/dev/null
    fi
    local data_major bin_major
    data_major=$(head -n1 "$PG_DATA/PG_VERSION")
    bin_major=$(basename "$(dirname "$PG_BIN")")
    [ "$data_major" = "$bin_major" ] || die "$PG_DATA was created by PostgreSQL $data_major but the newest server here is $bin_major; remove it or upgrade it by hand"

    # Not running: a postmaster.pid left over (e.g. after a reboot) is stale.
    rm -f "$PG_DATA/postmaster.pid"

    p=$PG_DEFAULT_PORT
    while port_in_use "$p" || [ -e "$PG_SOCK/.s.PGSQL.$p" ]; do
        [ -e "$PG_SOCK/.s.PGSQL.$p" ] && ! port_in_use "$p" && { rm -f "$PG_SOCK/.s.PGSQL.$p" "$PG_SOCK/.s.PGSQL.$p.lock"; continue; }
        p=$((p + 1))
        [ "$p" -lt $((PG_DEFAULT_PORT + 100)) ] || die "no free PostgreSQL port in $PG_DEFAULT_PORT..$p"
    done
    if [ "$p" != "$PG_DEFAULT_PORT" ]; then
        warn "NOTE: port $PG_DEFAULT_PORT is taken by another process; our PostgreSQL cluster uses port $p instead"
    fi
    PG_PORT=$p

    pg_as tee "$PG_DATA/courier-local.conf" >/dev/null <<EOF
# Generated by deploy/local/services.sh at every start - do not edit.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK'
max_connections = 200
password_encryption = 'scram-sha-256'
EOF

    info "starting PostgreSQL cluster $PG_DATA on 127.0.0.1:$PG_PORT"
    # The postmaster must not inherit our lock fd or the caller's stdout/stderr/pipes.
    ( cd / && close_extra_fds && exec runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start ) \
        </dev/null >"$PG_BASE/log/pg_ctl.out" 2>&1 \
        || { cat "$PG_BASE/log/pg_ctl.out" >&2; tail -n 20 "$PG_LOG" >&2 2>/dev/null || true; die "pg_ctl start failed (see $PG_LOG)"; }
    pg_wait_ready || die "PostgreSQL started but pg_isready does not answer on 127.0.0.1:$PG_PORT"
    pg_ensure_role_db
    info "PostgreSQL cluster is up"
}

pg_stop() {   # pg_stop [fast|immediate]: immediate is a crash (no checkpoint), as chaos wants
    local mode=${1:-fast}
    pg_find_bin
    pg_load_base
    if pg_running_info >/dev/null; then
        info "stopping PostgreSQL cluster $PG_DATA ($mode)"
        pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m "$mode" -w -t 60 stop >/dev/null
    else
        info "PostgreSQL cluster $PG_DATA is not running"
    fi
}

# ---------------------------------------------------------------------------- env file + wrappers

# rmq_write_ctl_wrapper TOOL PATH: a script at PATH that runs TOOL against the node the RMQ_*
# variables describe now.
rmq_write_ctl_wrapper() {
    local tool=$1 target=$2
    cat > "$target.tmp" <<EOF
#!/bin/sh
# Generated by deploy/local/services.sh: runs $tool against the project-local node $RMQ_NODE.
export HOME='$RMQ_BASE'
export RABBITMQ_NODENAME='$RMQ_NODE'
export RABBITMQ_CONF_ENV_FILE='$RMQ_BASE/rabbitmq-env.conf'
export RABBITMQ_CONFIG_FILE='$RMQ_CONF'
export RABBITMQ_ADVANCED_CONFIG_FILE='$RMQ_BASE/advanced.config'
export RABBITMQ_MNESIA_BASE='$RMQ_BASE/mnesia'
export RABBITMQ_LOG_BASE='$RMQ_BASE/log'
export RABBITMQ_PID_FILE='$RMQ_PID_FILE'
export RABBITMQ_ENABLED_PLUGINS_FILE='$RMQ_BASE/enabled_plugins'
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_CTL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
exec '$RMQ_LIB/$tool' -n '$RMQ_NODE' "\$@"
EOF
    chmod 755 "$target.tmp"
    mv -f "$target.tmp" "$target"
}

write_wrappers() {
    mkdir -p "$BIN_DIR"
    local tool
    for tool in rabbitmqctl rabbitmq-diagnostics; do
        rmq_write_ctl_wrapper "$tool" "$BIN_DIR/$tool"
    done
    cat > "$BIN_DIR/psql-admin.tmp" <<EOF
#!/bin/sh
# Generated by deploy/local/services.sh: psql as superuser 'postgres' over the unix socket
# of the project-local cluster (default database: postgres).
exec '$PG_BIN/psql' -h '$PG_SOCK' -p '$PG_PORT' -U postgres "\$@"
EOF
    chmod 755 "$BIN_DIR/psql-admin.tmp"
    mv -f "$BIN_DIR/psql-admin.tmp" "$BIN_DIR/psql-admin"
}

AMQP_URL="" DATABASE_URL=""
write_env_file() {
    AMQP_URL="amqp://$AMQP_USER:$PASSWORD@127.0.0.1:$RMQ_PORT/%2F"  # %2F = vhost "/" for every client, amqp-tools included
    DATABASE_URL="postgres://$DB_USER:$PASSWORD@127.0.0.1:$PG_PORT/$DB_NAME"
    ( umask 077
      {
        echo "# Generated by deploy/local/services.sh - project-local services for $REPO"
        echo "# Source it (set -a; . $ENV_FILE; set +a). Contains a password: mode 600, not committed."
        env_line COURIER_LOCAL_AMQP_URL "$AMQP_URL"
        env_line COURIER_LOCAL_DATABASE_URL "$DATABASE_URL"
        env_line COURIER_LOCAL_USER "$AMQP_USER"
        env_line COURIER_LOCAL_PASSWORD "$PASSWORD"
        env_line COURIER_RABBITMQ_HOST 127.0.0.1
        env_line COURIER_RABBITMQ_PORT "$RMQ_PORT"
        env_line COURIER_RABBITMQ_TLS_PORT "$((RMQ_PORT + RMQ_TLS_OFFSET))"
        env_line COURIER_TLS_CA_FILE "$RMQ_TLS_DIR/ca.pem"
        env_line COURIER_LOCAL_AMQPS_URL "amqps://$AMQP_USER:$PASSWORD@localhost:$((RMQ_PORT + RMQ_TLS_OFFSET))/%2F?cacertfile=$RMQ_TLS_DIR/ca.pem"
        env_line COURIER_RABBITMQ_NODE "$RMQ_NODE"
        env_line COURIER_RABBITMQCTL "$BIN_DIR/rabbitmqctl"
        env_line COURIER_POSTGRES_HOST 127.0.0.1
        env_line COURIER_POSTGRES_PORT "$PG_PORT"
        env_line COURIER_POSTGRES_DATABASE "$DB_NAME"
        env_line COURIER_POSTGRES_SOCKET_DIR "$PG_SOCK"
        env_line COURIER_POSTGRES_DATA "$PG_DATA"
        env_line COURIER_PSQL_ADMIN "$BIN_DIR/psql-admin"
      } > "$ENV_FILE.tmp"
    )
    mv -f "$ENV_FILE.tmp" "$ENV_FILE"
    chmod 600 "$ENV_FILE"
}

mask() { printf '%s' "${1//$PASSWORD/***}"; }

# ---------------------------------------------------------------------------- commands

take_lock() {   # take_lock [FILE [WHO]]: one services.sh (or WHO) at a time per checkout
    local file=${1:-$LOCK_FILE} who=${2:-services.sh}
    mkdir -p "$LOCAL"
    exec 9>"$file"
    if ! flock -n 9; then
        info "waiting for another $who in this repo to finish..."
        flock -w 600 9 || die "timed out waiting for $file"
    fi
}

cmd_up() {
    local t0=$SECONDS
    take_lock
    ensure_packages
    ensure_credentials
    mkdir -p "$RMQ_BASE"
    rmq_start
    pg_start
    write_wrappers
    write_env_file
    info "AMQP:       $(mask "$AMQP_URL")"
    info "PostgreSQL: $(mask "$DATABASE_URL")"
    info "env file:   $ENV_FILE ($((SECONDS - t0))s)"
}

cmd_down() {
    take_lock
    if [ -x "$RMQ_LIB/rabbitmqctl" ]; then rmq_stop; fi
    if compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; then pg_stop; fi
}

cmd_status() {
    local rc=0 info
    if [ -x "$RMQ_LIB/rabbitmqctl" ] && rmq_running; then
        echo "rabbitmq:   running  node=$RMQ_NODE pid=$(tr -dc '0-9' < "$RMQ_PID_FILE" 2>/dev/null || echo '?') port=$(rmq_current_port) data=$RMQ_BASE"
    else
        echo "rabbitmq:   stopped  node=$RMQ_NODE data=$RMQ_BASE"
        rc=1
    fi
    pg_load_base
    if info=$(pg_running_info); then
        pg_find_bin
        PG_PORT=${info#* }
        local ready=ready
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2 || { ready="not-ready"; rc=1; }
        echo "postgresql: running  pid=${info% *} port=$PG_PORT ($ready) data=$PG_DATA"
    else
        echo "postgresql: stopped  data=$PG_DATA"
        rc=1
    fi
    if [ -s "$ENV_FILE" ]; then echo "env file:   $ENV_FILE"; else echo "env file:   (not written yet)"; fi
    return $rc
}

# Sourced (by cluster.sh, for its nodes): only the functions above, no command.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

case "${1:-up}" in
    up)     cmd_up ;;
    down)   cmd_down ;;
    stop-postgres)   # for the outage tests and chaos: stop only our PostgreSQL cluster (`up` starts
                     # it again); `stop-postgres immediate` stops it the way a crash would
            case "${2:-fast}" in fast|immediate) ;; *) die "stop-postgres takes fast or immediate, not '$2'" ;; esac
            take_lock; pg_stop "${2:-fast}" ;;
    stop-rabbitmq)   # for chaos: stop only our RabbitMQ node, the whole VM (`up` starts it again)
            take_lock; rmq_stop ;;
    status) cmd_status ;;
    env)    echo "$ENV_FILE" ;;
    -h|--help|help)
        sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
    *)      die "unknown command '$1' (expected: up | down | status | env | stop-postgres [immediate] | stop-rabbitmq)" ;;
esac
