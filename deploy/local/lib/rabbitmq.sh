# shellcheck shell=bash
# deploy/local/services.sh's RabbitMQ part: the project-local node (settings, start, stop,
# liveness, TLS, definitions) and the rabbitmqctl wrappers.
#
# Sourced by deploy/local/services.sh (and, through it, by cluster.sh, which points the RMQ_*
# variables at each of its nodes): functions and settings only, no command. Needs lib/common.sh
# and LOCAL, HASH, AMQP_USER, PASSWORD from services.sh.

# ---------------------------------------------------------------------------- settings

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

# ---------------------------------------------------------------------------- the node

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

# ---------------------------------------------------------------------------- wrappers

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
