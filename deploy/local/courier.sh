#!/usr/bin/env bash
# Runs the ops CLI against the project-local services, as `make run` runs courierd:
#
#   deploy/local/courier.sh dlq list
#   deploy/local/courier.sh status --json
#
# Builds `courier` when it is missing, takes AMQP_URL / DATABASE_URL from .local/services.env
# unless they are set already (FLY_APP_NAME and COURIER_* pass through), and execs it.
set -euo pipefail
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd -P)
"$SCRIPT_DIR/services.sh" up >/dev/null
set -a
# shellcheck disable=SC1091
. "$REPO/.local/services.env"
set +a
export AMQP_URL="${AMQP_URL:-$COURIER_LOCAL_AMQP_URL}" DATABASE_URL="${DATABASE_URL:-$COURIER_LOCAL_DATABASE_URL}"
BIN="$REPO/.build/debug/courier"
if [ ! -x "$BIN" ]; then
    (cd "$REPO" && swift build --product courier >&2)
fi
exec "$BIN" "$@"
