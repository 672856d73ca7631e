#!/usr/bin/env bash
# A project-local three-node RabbitMQ cluster, for the failover tests and chaos runs.
#
#   deploy/local/cluster.sh [up|down|status|env|stop-node N|start-node N|kill-node N]
#
#   up            install what is missing, start nodes 1-3 (courier-<hash>-N@localhost, data
#                 under $REPO/.local/cluster/nodeN, ports from 5800 on, 127.0.0.1 only) and join
#                 them into one cluster; write $REPO/.local/cluster.env. A second `up` only
#                 verifies, and starts again whatever node is down.
#   down          stop the three nodes.
#   status        each node's state and the cluster's running nodes.
#   env           print the path of the env file.
#   stop-node N   stop node N (its whole VM, as an outage would); `start-node N` or `up` brings it
#                 back on the same port with its data, and it rejoins the cluster.
#   kill-node N   kill -9 node N's VM (a crash rather than a clean stop).
#
# The nodes share the single node's user and password (.local/credentials) and its code:
# services.sh is sourced and its RabbitMQ functions run once per node. The env file has
# COURIER_CLUSTER_AMQP_URL (every node, comma-separated, vhost /), COURIER_CLUSTER_NODE_N,
# COURIER_CLUSTER_PORT_N and COURIER_CLUSTER_RABBITMQCTL_N (a rabbitmqctl for node N).
set -euo pipefail

CLUSTER_SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck source=deploy/local/services.sh
. "$CLUSTER_SCRIPT_DIR/services.sh"

CLUSTER_BASE="$LOCAL/cluster"
CLUSTER_ENV_FILE="$LOCAL/cluster.env"
CLUSTER_LOCK_FILE="$LOCAL/.cluster.lock"
CLUSTER_SIZE=3
CLUSTER_FIRST_PORT=5800

info() { [ "$QUIET_INFO" = 1 ] || printf '[cluster] %s\n' "$*"; }
warn() { printf '[cluster] %s\n' "$*" >&2; }
die()  { printf '[cluster] ERROR: %s\n' "$*" >&2; exit 1; }

node_name() { printf 'courier-%s-%s@localhost' "$HASH" "$1"; }

# Points services.sh's RMQ_* variables at node N.
use_node() {
    local n=$1
    [[ "$n" =~ ^[1-9]$ ]] && [ "$n" -le "$CLUSTER_SIZE" ] || die "no node '$n' (1..$CLUSTER_SIZE)"
    RMQ_BASE="$CLUSTER_BASE/node$n"
    RMQ_NODE=$(node_name "$n")
    RMQ_CONF="$RMQ_BASE/rabbitmq.conf"
    RMQ_PID_FILE="$RMQ_BASE/rabbitmq.pid"
    RMQ_PORT_FILE="$RMQ_BASE/amqp.port"
    RMQ_DEFS="$RMQ_BASE/definitions.json"
    RMQ_TLS_DIR="$CLUSTER_BASE/tls"
    RMQ_DEFAULT_PORT=$CLUSTER_FIRST_PORT
    # Four Erlang VMs on two cores: schedulers that sleep instead of spinning when idle.
    RMQ_EXTRA_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none"
    RMQ_PORT=""
    mkdir -p "$RMQ_BASE"
}

port_taken() { port_in_use "$1" || port_in_use $(($1 + 20000)) || port_in_use $(($1 + RMQ_TLS_OFFSET)); }

# Each node's port is chosen once, before any of them starts (they start side by side), and kept.
assign_ports() {
    local n p=$CLUSTER_FIRST_PORT used=" "
    for n in $(seq 1 "$CLUSTER_SIZE"); do
        use_node "$n"
        if [ -s "$RMQ_PORT_FILE" ]; then used+="$(rmq_current_port) "; fi
    done
    for n in $(seq 1 "$CLUSTER_SIZE"); do
        use_node "$n"
        rmq_running && continue
        if [ -s "$RMQ_PORT_FILE" ] && ! port_taken "$(rmq_current_port)"; then continue; fi
        while port_taken "$p" || [[ "$used" == *" $p "* ]]; do
            p=$((p + 1))
            [ "$p" -lt $((CLUSTER_FIRST_PORT + 100)) ] || die "no free AMQP port in $CLUSTER_FIRST_PORT..$p"
        done
        printf '%s\n' "$p" > "$RMQ_PORT_FILE"
        used+="$p "
    done
}

# One Erlang cookie for the three nodes (and their rabbitmqctl): nodes of a cluster must share it.
share_cookie() {
    local n
    mkdir -p "$CLUSTER_BASE"
    if [ ! -s "$CLUSTER_BASE/.erlang.cookie" ]; then
        ( umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' | tr 'a-f0-9' 'A-P' > "$CLUSTER_BASE/.erlang.cookie" )
    fi
    for n in $(seq 1 "$CLUSTER_SIZE"); do
        use_node "$n"
        if ! cmp -s "$CLUSTER_BASE/.erlang.cookie" "$RMQ_BASE/.erlang.cookie" 2>/dev/null; then
            rm -f "$RMQ_BASE/.erlang.cookie"
            cp "$CLUSTER_BASE/.erlang.cookie" "$RMQ_BASE/.erlang.cookie"
        fi
        chmod 400 "$RMQ_BASE/.erlang.cookie"
    done
}

# Starts the nodes that are down side by side: a node that was in the cluster waits at boot
# for the peers it last saw, so starting them one after the other could wait for minutes.
start_nodes() {
    local n pids=() failed=0
    ( use_node 1; rmq_write_tls )   # once, before the nodes that share it start side by side
    for n in "$@"; do
        # RMQ_DEFAULT_PORT = the port assign_ports chose: no "port taken" note for it.
        ( use_node "$n"; RMQ_DEFAULT_PORT=$(rmq_current_port); rmq_start ) &
        pids+=($!)
    done
    for n in "${!pids[@]}"; do wait "${pids[$n]}" || failed=1; done
    [ "$failed" = 0 ] || die "a cluster node failed to start (logs: $CLUSTER_BASE/node*/log/)"
}

# The running nodes node N sees in its cluster (one name per line).
running_nodes() {
    use_node "$1"
    rmqctl -q cluster_status --formatter json 2>/dev/null \
        | grep -o '"running_nodes":\[[^]]*\]' | grep -o '"[^"]*@[^"]*"' | tr -d '"' || true
}

join_nodes() {
    local n first
    first=$(node_name 1)
    for n in $(seq 2 "$CLUSTER_SIZE"); do
        use_node "$n"
        if running_nodes "$n" | grep -qx "$first"; then continue; fi
        info "joining $(node_name "$n") to $first"
        use_node "$n"
        rmqctl -q stop_app >/dev/null
        rmqctl -q join_cluster "$first" >/dev/null || die "$(node_name "$n") could not join $first"
        rmqctl -q start_app >/dev/null
        rmqctl -q await_startup --timeout 120 >/dev/null
    done
}

write_cluster_env() {
    local n urls="" port
    mkdir -p "$BIN_DIR"
    ( umask 077
      {
        echo "# Generated by deploy/local/cluster.sh - the project-local three-node RabbitMQ cluster."
        echo "# Contains a password: mode 600, not committed."
        for n in $(seq 1 "$CLUSTER_SIZE"); do
            use_node "$n"
            port=$(rmq_current_port)
            if [ "$n" = 1 ]; then urls="amqp://$AMQP_USER:$PASSWORD@127.0.0.1:$port/%2F"; else urls+=",amqp://127.0.0.1:$port"; fi
            rmq_write_ctl_wrapper rabbitmqctl "$BIN_DIR/cluster-rabbitmqctl-$n"
            env_line "COURIER_CLUSTER_NODE_$n" "$RMQ_NODE"
            env_line "COURIER_CLUSTER_PORT_$n" "$port"
            env_line "COURIER_CLUSTER_RABBITMQCTL_$n" "$BIN_DIR/cluster-rabbitmqctl-$n"
        done
        env_line COURIER_CLUSTER_AMQP_URL "$urls"
        env_line COURIER_CLUSTER_SIZE "$CLUSTER_SIZE"
        env_line COURIER_CLUSTER_SCRIPT "$CLUSTER_SCRIPT_DIR/cluster.sh"
      } > "$CLUSTER_ENV_FILE.tmp"
    )
    mv -f "$CLUSTER_ENV_FILE.tmp" "$CLUSTER_ENV_FILE"
    chmod 600 "$CLUSTER_ENV_FILE"
}

take_cluster_lock() { take_lock "$CLUSTER_LOCK_FILE" cluster.sh; }

cluster_up() {
    local t0=$SECONDS n down=()
    take_cluster_lock
    ensure_packages
    ensure_credentials
    share_cookie
    assign_ports
    for n in $(seq 1 "$CLUSTER_SIZE"); do
        use_node "$n"
        rmq_running || down+=("$n")
    done
    [ ${#down[@]} -eq 0 ] || info "starting node(s) ${down[*]}"
    [ ${#down[@]} -eq 0 ] || start_nodes "${down[@]}"
    join_nodes
    write_cluster_env
    local running
    running=$(running_nodes 1 | wc -l)
    [ "$running" = "$CLUSTER_SIZE" ] || die "the cluster runs $running of $CLUSTER_SIZE nodes (see $CLUSTER_BASE/node*/log/)"
    info "cluster of $CLUSTER_SIZE nodes up: ports $(for n in $(seq 1 "$CLUSTER_SIZE"); do use_node "$n"; printf '%s ' "$(rmq_current_port)"; done)($((SECONDS - t0))s)"
    info "env file: $CLUSTER_ENV_FILE"
}

cluster_down() {
    local n
    take_cluster_lock
    for n in $(seq "$CLUSTER_SIZE" -1 1); do
        use_node "$n"
        rmq_stop
    done
}

cluster_status() {
    local n rc=0
    for n in $(seq 1 "$CLUSTER_SIZE"); do
        use_node "$n"
        if rmq_running; then
            echo "node $n: running  $RMQ_NODE port=$(rmq_current_port) data=$RMQ_BASE"
        else
            echo "node $n: stopped  $RMQ_NODE data=$RMQ_BASE"
            rc=1
        fi
    done
    for n in $(seq 1 "$CLUSTER_SIZE"); do
        use_node "$n"
        if rmq_running; then echo "running nodes (seen by node $n): $(running_nodes "$n" | tr '\n' ' ')"; break; fi
    done
    return $rc
}

kill_node() {
    local pid
    use_node "$1"
    rmq_pid_alive || { info "node $1 is not running"; return 0; }
    pid=$(tr -dc '0-9' < "$RMQ_PID_FILE")
    info "kill -9 node $1 ($RMQ_NODE, pid $pid)"
    kill -9 "$pid"
    while [ -e "/proc/$pid" ]; do sleep 0.1; done
    rm -f "$RMQ_PID_FILE"
}

case "${1:-up}" in
    up)         cluster_up ;;
    down)       cluster_down ;;
    status)     cluster_status ;;
    env)        echo "$CLUSTER_ENV_FILE" ;;
    stop-node)  [ $# -ge 2 ] || die "stop-node N"; take_cluster_lock; use_node "$2"; rmq_stop ;;
    start-node) [ $# -ge 2 ] || die "start-node N"; take_cluster_lock; ensure_credentials; share_cookie; use_node "$2"; start_nodes "$2" ;;
    kill-node)  [ $# -ge 2 ] || die "kill-node N"; take_cluster_lock; kill_node "$2" ;;
    -h|--help|help)
        sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
    *)          die "unknown command '$1' (expected: up | down | status | env | stop-node N | start-node N | kill-node N)" ;;
esac
