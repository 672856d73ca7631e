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
gc_leftovers() {
    local name pid
    while read -r name; do
        [[ "$name" =~ ^courier_test_[0-9]+_([0-9]+)_[0-9a-f]+$ ]] || continue
        pid=${BASH_REMATCH[1]}
        kill -0 "$pid" 2>/dev/null && continue
        "$RMQCTL" -q delete_vhost "$name" >/dev/null 2>&1 && log "removed stale vhost $name" || true
    done < <("$RMQCTL" -q -s list_vhosts name 2>/dev/null || true)
    while read -r name; do
        [[ "$name" =~ ^courier_test_[0-9]+_([0-9]+)_[0-9a-f]+$ ]] || continue
        pid=${BASH_REMATCH[1]}
        kill -0 "$pid" 2>/dev/null && continue
        admin_sql -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null 2>&1 && log "removed stale database $name" || true
    done < <(admin_sql -c "SELECT datname FROM pg_database WHERE datname LIKE 'courier\_test\_%'" 2>/dev/null || true)
}
gc_leftovers

NAME="courier_test_$(date +%Y%m%d%H%M%S)_$$_$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"

VHOST_CREATED=0
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
