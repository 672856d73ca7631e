#!/usr/bin/env bash
# Runs CMD [ARGS...] against a RabbitMQ vhost and a PostgreSQL database of its own:
#
#   deploy/local/with-test-env.sh swift test
#
# 1. `services.sh up` (project-local RabbitMQ + PostgreSQL; quick no-op when already up),
# 2. creates vhost + database courier_test_<date>_<pid>_<random>, owned/usable by `courier`,
# 3. exports COURIER_TEST_AMQP_URL, COURIER_TEST_AMQPS_URL (TLS), COURIER_TEST_DATABASE_URL, COURIER_TEST_VHOST,
#    COURIER_TEST_DATABASE and everything from .local/services.env, runs the command,
# 4. always deletes the vhost and the database afterwards, and exits with the command's status.
#
# Leftovers of runs that were killed with SIGKILL are removed at the next run (their pid is gone).
#
# With COURIER_WITH_CLUSTER=1 it also starts the local three-node cluster (cluster.sh up), creates
# the same vhost there and exports COURIER_TEST_CLUSTER_AMQP_URL (every node, comma-separated) and
# .local/cluster.env (COURIER_CLUSTER_*), for the cluster failover suite.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd -P)

if [ $# -lt 1 ]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

log() { printf '[with-test-env] %s\n' "$*" >&2; }

# Progress goes to /dev/null, warnings (e.g. "port 5672 taken, using 5673") still reach stderr.
"$SCRIPT_DIR/services.sh" up >/dev/null

ENV_FILE="$REPO/.local/services.env"
[ -r "$ENV_FILE" ] || { log "ERROR: $ENV_FILE missing after services.sh up"; exit 1; }
set -a
# shellcheck disable=SC1090
. "$ENV_FILE"
set +a

RMQCTL=$COURIER_RABBITMQCTL
WITH_CLUSTER=${COURIER_WITH_CLUSTER:-0}
CLUSTER_CTL=""
if [ "$WITH_CLUSTER" = 1 ]; then
    "$SCRIPT_DIR/cluster.sh" up >/dev/null
    set -a
    # shellcheck disable=SC1091
    . "$REPO/.local/cluster.env"
    set +a
    CLUSTER_CTL=$COURIER_CLUSTER_RABBITMQCTL_1
fi

# rabbitmqctl of the cluster, through the first node that answers (a test may have stopped one).
cluster_ctl() {
    local n ctl
    for n in $(seq 1 "${COURIER_CLUSTER_SIZE:-3}"); do
        ctl="COURIER_CLUSTER_RABBITMQCTL_$n"
        if "${!ctl}" -q ping >/dev/null 2>&1; then "${!ctl}" "$@"; return; fi
    done
    return 1
}
PSQL_ADMIN=$COURIER_PSQL_ADMIN

urlencode() {   # RFC 3986 percent-encoding of everything but unreserved characters
    local s=$1 out="" c i
    local LC_ALL=C
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case "$c" in
            [A-Za-z0-9._~-]) out+=$c ;;
            *) out+=$(printf '%%%02X' "'$c") ;;
        esac
    done
    printf '%s' "$out"
}

admin_sql() { "$PSQL_ADMIN" -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }

# --- garbage-collect leftovers of earlier runs whose process is gone (e.g. SIGKILLed CI) ---
# 0 if NAME is a run's vhost or database whose process is gone.
stale() {
    [[ "$1" =~ ^courier_test_[0-9]+_([0-9]+)_[0-9a-f]+$ ]] && ! kill -0 "${BASH_REMATCH[1]}" 2>/dev/null
}

# gc_vhosts CTL WHERE: delete the stale run vhosts that the rabbitmqctl command CTL lists.
gc_vhosts() {
    local ctl=$1 where=$2 name
    while read -r name; do
        stale "$name" || continue
        "$ctl" -q delete_vhost "$name" >/dev/null 2>&1 && log "removed stale vhost $name$where" || true
    done < <("$ctl" -q -s list_vhosts name 2>/dev/null || true)
}

gc_leftovers() {
    local name
    gc_vhosts "$RMQCTL" ""
    if [ -n "$CLUSTER_CTL" ]; then gc_vhosts cluster_ctl " on the cluster"; fi
    while read -r name; do
        stale "$name" || continue
        admin_sql -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null 2>&1 && log "removed stale database $name" || true
    done < <(admin_sql -c "SELECT datname FROM pg_database WHERE datname LIKE 'courier\_test\_%'" 2>/dev/null || true)
}
gc_leftovers

NAME="courier_test_$(date +%Y%m%d%H%M%S)_$$_$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"

VHOST_CREATED=0
CLUSTER_VHOST_CREATED=0
DB_CREATED=0
# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [ "$DB_CREATED" = 1 ]; then
        admin_sql -c "DROP DATABASE IF EXISTS \"$NAME\" WITH (FORCE)" >/dev/null \
            || log "WARNING: could not drop database $NAME"
    fi
    if [ "$VHOST_CREATED" = 1 ]; then
        "$RMQCTL" -q delete_vhost "$NAME" >/dev/null \
            || log "WARNING: could not delete vhost $NAME"
    fi
    if [ "$CLUSTER_VHOST_CREATED" = 1 ]; then
        cluster_ctl -q delete_vhost "$NAME" >/dev/null \
            || log "WARNING: could not delete vhost $NAME on the cluster"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

VHOST_CREATED=1
"$RMQCTL" -q add_vhost "$NAME" >/dev/null
"$RMQCTL" -q set_permissions -p "$NAME" "$COURIER_LOCAL_USER" '.*' '.*' '.*' >/dev/null
DB_CREATED=1
admin_sql -c "CREATE DATABASE \"$NAME\" OWNER \"$COURIER_LOCAL_USER\"" >/dev/null

ENCODED_NAME=$(urlencode "$NAME")
if [ "$WITH_CLUSTER" = 1 ]; then
    CLUSTER_VHOST_CREATED=1
    cluster_ctl -q add_vhost "$NAME" >/dev/null
    cluster_ctl -q set_permissions -p "$NAME" "$COURIER_LOCAL_USER" '.*' '.*' '.*' >/dev/null
    # The first URL carries credentials and vhost; the others are host:port (config/README.md).
    first=${COURIER_CLUSTER_AMQP_URL%%,*}
    export COURIER_TEST_CLUSTER_AMQP_URL="${first%/*}/$ENCODED_NAME${COURIER_CLUSTER_AMQP_URL#"$first"}"
    export COURIER_TEST_CLUSTER_VHOST="$NAME"
fi
export COURIER_TEST_VHOST="$NAME"
export COURIER_SERVICES_SCRIPT="$SCRIPT_DIR/services.sh"
export COURIER_TEST_DATABASE="$NAME"
export COURIER_TEST_AMQP_URL="amqp://$COURIER_LOCAL_USER:$COURIER_LOCAL_PASSWORD@127.0.0.1:$COURIER_RABBITMQ_PORT/$ENCODED_NAME"
export COURIER_TEST_AMQPS_URL="amqps://$COURIER_LOCAL_USER:$COURIER_LOCAL_PASSWORD@localhost:$COURIER_RABBITMQ_TLS_PORT/$ENCODED_NAME?cacertfile=$COURIER_TLS_CA_FILE"
export COURIER_TEST_DATABASE_URL="postgres://$COURIER_LOCAL_USER:$COURIER_LOCAL_PASSWORD@127.0.0.1:$COURIER_POSTGRES_PORT/$ENCODED_NAME"

log "vhost + database $NAME (rabbitmq 127.0.0.1:$COURIER_RABBITMQ_PORT, postgres 127.0.0.1:$COURIER_POSTGRES_PORT)"

# Not exec: the trap has to run afterwards. The command keeps our stdin.
set +e
"$@"
status=$?
set -e
exit "$status"
