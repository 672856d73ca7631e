# shellcheck shell=bash
# deploy/local/services.sh's PostgreSQL part: the project-local cluster (where it lives, start,
# stop, liveness, the courier role and database).
#
# Sourced by deploy/local/services.sh: functions and settings only, no command. Needs
# lib/common.sh and LOCAL, HASH, DB_USER, DB_NAME, PASSWORD from services.sh.

# ---------------------------------------------------------------------------- settings

PG_DEFAULT_PORT=5432
PG_BASE_FILE="$LOCAL/postgres.location"   # records where the cluster lives (repo or /tmp fallback)

# ---------------------------------------------------------------------------- the cluster

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
