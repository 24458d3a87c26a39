#!/usr/bin/env bash
# Makes PostgreSQL and RabbitMQ available to `make run` / `make test`. Prints only
#   export LOYALTY_PG_URL=...  and  export LOYALTY_AMQP_URL=...
# (and LOYALTY_RABBITMQCTL=..., a command administering that broker, when there is one: `make
# run` creates the suite's broker users with it, the tests a run's own; see kit/publishers.py)
# on stdout, for the Makefile's `eval "$(deploy/local/infra.sh)"`; everything else goes to stderr.
# For each server, first match wins:
#   1. the URL already in the environment (LOYALTY_PG_URL / LOYALTY_AMQP_URL);
#   2. a server already listening on 127.0.0.1:$LOYALTY_PG_PORT (5432) / $LOYALTY_AMQP_PORT (5672);
#   3. a private server on that port with its data in $LOYALTY_STATE_DIR (<repo>/.local),
#      installed from the Debian packages when missing. Re-runs reuse it; stop.sh stops it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${LOYALTY_STATE_DIR:-$repo/.local}
pg_port=${LOYALTY_PG_PORT:-5432}
amqp_port=${LOYALTY_AMQP_PORT:-5672}

log() { echo "infra: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
emit() { printf 'export %s=%q\n' "$1" "$2"; }
# `eval "$(infra.sh)"` succeeds even when infra.sh fails: on failure give eval a `false` to run.
trap 'rc=$?; [ "$rc" = 0 ] || echo false' EXIT

mkdir -p "$state"
state=$(cd "$state" && pwd)  # absolute: it goes into server configuration
# `make run` and `make test` may run at once: one infra.sh per state dir at a time. `flock -o`
# keeps the lock out of the servers started below, which would otherwise hold it forever.
if [ -z "${LOYALTY_INFRA_LOCKED:-}" ] && command -v flock >/dev/null; then
  LOYALTY_INFRA_LOCKED=1 exec flock -o "$state/.infra.lock" "$here/infra.sh" "$@"
fi
# Start servers from a directory the postgres user may enter (not /root); crash dumps land here.
cd "$state"

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

as_root() {  # only package installation needs root
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "installing packages needs root or sudo (or set LOYALTY_PG_URL / LOYALTY_AMQP_URL)"; fi
}

apt_updated=
apt_install() {
  command -v apt-get >/dev/null ||
    die "$1 is missing and there is no apt-get: install it," \
      "or set LOYALTY_PG_URL / LOYALTY_AMQP_URL"
  log "installing $1 with apt-get"
  [ -n "$apt_updated" ] || { as_root apt-get update -q >&2; apt_updated=1; }
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "$1" >&2
}

# ---------------------------------------------------------------- PostgreSQL

pg_bin() {  # newest Debian server (/usr/lib/postgresql/<v>/bin), else initdb on PATH
  local initdb
  initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n1)
  [ -n "$initdb" ] || initdb=$(command -v initdb || true)
  [ -z "$initdb" ] || dirname "$initdb"
}

pg_listening() {  # pg_isready also tells "is it PostgreSQL", but may not be installed yet
  if command -v pg_isready >/dev/null; then
    pg_isready -q -h 127.0.0.1 -p "$1" 2>/dev/null
  else
    port_open "$1"
  fi
}

use_listening_pg() {
  # Pick the first role that gets in without a password (psql -w never prompts).
  local user=postgres u
  if command -v psql >/dev/null; then
    user=
    for u in postgres "$(id -un)"; do
      if psql -w -h 127.0.0.1 -p "$pg_port" -U "$u" -d postgres -Atqc 'select 1' \
        >/dev/null 2>&1; then
        user=$u; break
      fi
    done
    [ -n "$user" ] || die "something listens on 127.0.0.1:$pg_port but neither postgres" \
      "nor $(id -un) may log in without a password: set" \
      "LOYALTY_PG_URL=postgresql://USER:PASSWORD@127.0.0.1:$pg_port/," \
      "or LOYALTY_PG_PORT=<free port> for a private server"
  fi
  log "PostgreSQL: using the server on 127.0.0.1:$pg_port as $user"
  emit LOYALTY_PG_URL "postgresql://$user@127.0.0.1:$pg_port/"
}

start_private_pg() {
  local bin dir=$state/pg owner=postgres
  bin=$(pg_bin)
  if [ -z "$bin" ]; then
    apt_install postgresql
    bin=$(pg_bin)
    [ -n "$bin" ] || die "no initdb after installing postgresql"
    # The package's postinst may have created and started its own cluster on our port.
    if pg_listening "$pg_port"; then use_listening_pg; return; fi
  fi
  # initdb refuses to run as root: as root the cluster belongs to the postgres user.
  [ "$(id -u)" = 0 ] || owner=$(id -un)
  as_owner() { if [ "$owner" = "$(id -un)" ]; then "$@"; else runuser -u "$owner" -- "$@"; fi; }
  mkdir -p "$dir/run"
  chown "$owner" "$dir" "$dir/run"
  if ! as_owner test -w "$dir"; then
    # A checkout under a private folder (/root, a 0700 temp dir) is out of the postgres user's
    # reach: keep the cluster in a folder of its own, one per checkout and port.
    dir=/var/tmp/loyalty-pg-$(printf '%s' "$repo:$pg_port" | md5sum | cut -c1-12)
    log "PostgreSQL: $owner cannot reach $state, using $dir"
    mkdir -p "$dir/run"
    chown "$owner" "$dir" "$dir/run"
    as_owner test -w "$dir" || die "$owner cannot write $dir: choose another LOYALTY_STATE_DIR"
    ln -sfn "$dir" "$state/pg.link"  # so that stop.sh finds it
  fi
  if [ ! -s "$dir/data/PG_VERSION" ]; then
    log "PostgreSQL: creating a cluster in $dir/data"
    local locale=C  # C.UTF-8 gives lower()/upper() for non-ASCII letters where the OS has it
    locale -a 2>/dev/null | grep -ix 'c.utf-\?8' >/dev/null && locale=C.UTF-8
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale="$locale" >&2
    echo "include 'loyalty.conf'" | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
  fi
  if as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    die "the cluster in $dir/data runs but does not answer on port $pg_port (started with another" \
      "LOYALTY_PG_PORT?): stop it with deploy/local/stop.sh"
  fi
  # Rewritten on every start, so that another LOYALTY_PG_PORT is honoured. Loopback only (trust
  # auth); the socket stays in the state dir, away from a system server's /var/run/postgresql.
  # Five services with a pool each, plus the tests, need more than the default 100 connections.
  as_owner tee "$dir/data/loyalty.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$dir/run'
max_connections = 300
EOF
  log "PostgreSQL: starting the cluster in $dir/data on 127.0.0.1:$pg_port (log: $dir/postgres.log)"
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >&2 ||
    { tail -n 20 "$dir/postgres.log" >&2; die "PostgreSQL did not start"; }
  emit LOYALTY_PG_URL "postgresql://postgres@127.0.0.1:$pg_port/"
}

if [ -n "${LOYALTY_PG_URL:-}" ]; then
  log "PostgreSQL: using LOYALTY_PG_URL from the environment"  # not printed: it may hold a password
  emit LOYALTY_PG_URL "$LOYALTY_PG_URL"
elif pg_listening "$pg_port"; then
  use_listening_pg
else
  start_private_pg
fi

# ---------------------------------------------------------------- RabbitMQ

rmq_bin() {
  # Debian's /usr/sbin/rabbitmq* wrappers switch to the rabbitmq user and its HOME (so its Erlang
  # cookie); we call the real scripts as ourselves, with a cookie of our own in the state dir.
  if [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then echo /usr/lib/rabbitmq/bin
  elif command -v rabbitmq-server >/dev/null; then dirname "$(command -v rabbitmq-server)"; fi
}

# Whether `rabbitmqctl "$@"` administers the node listening for AMQP on $amqp_port.
ctl_reaches_broker() {
  local found
  found=$(timeout 30 "$@" -q eval "lists:member($amqp_port, [element(6, L) ||
    L <- rabbit_networking:node_listeners(node()), element(3, L) =:= amqp])." 2>/dev/null) &&
    [ "$found" = true ]
}

use_listening_amqp() {  # guest/guest only works from localhost, which is where we are
  log "RabbitMQ: using the broker on 127.0.0.1:$amqp_port as guest"
  emit LOYALTY_AMQP_URL "amqp://guest:guest@127.0.0.1:$amqp_port/"
  local ctl
  # Our own node of an earlier run (its ctl), else the system's rabbitmqctl.
  for ctl in "$state/rabbitmq/ctl" "$(command -v rabbitmqctl || true)"; do
    if [ -x "$ctl" ] && ctl_reaches_broker "$ctl"; then
      emit LOYALTY_RABBITMQCTL "$ctl"
      return
    fi
  done
  log "RabbitMQ: cannot administer it (no rabbitmqctl for it here): services and tests" \
    "publish as guest, without broker users of their own"
}

start_private_amqp() {
  local bin dir=$state/rabbitmq node=loyalty-$amqp_port@localhost dist=$((amqp_port + 20000))
  ((dist <= 65535)) || dist=$((amqp_port - 10000))  # 55672 -> 45672 (35672-35682 are the CLI's)
  bin=$(rmq_bin)
  if [ -z "$bin" ]; then
    apt_install rabbitmq-server
    bin=$(rmq_bin)
    [ -n "$bin" ] || die "no rabbitmq-server after installing it"
    # The package's postinst may have started the system broker on our port.
    if port_open "$amqp_port"; then use_listening_amqp; return; fi
  fi
  mkdir -p "$dir/log" "$dir/mnesia"
  # The environment of our node and of the CLI talking to it; stop.sh sources it too. The config
  # files are ours (possibly empty), so that nothing of /etc/rabbitmq (the system broker's
  # settings, e.g. a listener on 5672) applies.
  {
    emit PATH "$bin:$PATH"
    emit HOME "$dir"  # Erlang reads its cookie from $HOME/.erlang.cookie
    emit RABBITMQ_CONF_ENV_FILE "$dir/rabbitmq-env.conf"
    emit RABBITMQ_CONFIG_FILE "$dir/rabbitmq.conf"
    emit RABBITMQ_ADVANCED_CONFIG_FILE "$dir/advanced.config"
    emit RABBITMQ_ENABLED_PLUGINS_FILE "$dir/enabled_plugins"
    emit RABBITMQ_NODENAME "$node"
    emit RABBITMQ_NODE_IP_ADDRESS 127.0.0.1
    emit RABBITMQ_NODE_PORT "$amqp_port"
    emit RABBITMQ_DIST_PORT "$dist"
    emit RABBITMQ_MNESIA_BASE "$dir/mnesia"
    emit RABBITMQ_PID_FILE "$dir/mnesia/$node.pid"  # stop.sh finds our nodes by these
    emit RABBITMQ_LOG_BASE "$dir/log"
    emit RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS "-kernel inet_dist_use_interface {127,0,0,1}"
  } >"$dir/env.sh"
  touch "$dir/rabbitmq-env.conf"
  # No event of the suite comes near 1 MiB: a bigger message is refused by the broker itself.
  echo "max_message_size = 1048576" >"$dir/rabbitmq.conf"
  echo '[].' >"$dir/enabled_plugins"  # no plugins: the management UI is not needed
  # Our own cookie, created before the node and the CLI could race to create it.
  [ -s "$dir/.erlang.cookie" ] ||
    (umask 077 && od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$dir/.erlang.cookie")
  log "RabbitMQ: starting node $node on 127.0.0.1:$amqp_port (logs: $dir/log)"
  # (set -e does not apply in a subshell followed by ||, hence the &&.) await_startup fails at
  # once while the node is not reachable yet; `wait` first waits for the pid file and the node,
  # and gives up early if the process dies.
  (
    unset ${!RABBITMQ_@} # only our settings
    . "$dir/env.sh" &&
      rabbitmq-server -detached >&2 &&
      rabbitmqctl -n "$node" -q wait "$RABBITMQ_PID_FILE" -t 60 >&2 &&
      rabbitmqctl -n "$node" -q -t 60 await_startup >&2
  ) || { tail -n 30 "$dir/log/$node.log" >&2 || true; die "RabbitMQ did not start"; }
  emit LOYALTY_AMQP_URL "amqp://guest:guest@127.0.0.1:$amqp_port/"
  # rabbitmqctl for our node: its environment, then the real script.
  cat >"$dir/ctl" <<EOF
#!/usr/bin/env bash
unset \${!RABBITMQ_@}
. '$dir/env.sh'
exec rabbitmqctl -n '$node' "\$@"
EOF
  chmod 755 "$dir/ctl"
  emit LOYALTY_RABBITMQCTL "$dir/ctl"
}

if [ -n "${LOYALTY_AMQP_URL:-}" ]; then
  log "RabbitMQ: using LOYALTY_AMQP_URL from the environment"
  emit LOYALTY_AMQP_URL "$LOYALTY_AMQP_URL"
  # Broker users need a way to administer it: LOYALTY_RABBITMQCTL, if you give one.
  [ -z "${LOYALTY_RABBITMQCTL:-}" ] || emit LOYALTY_RABBITMQCTL "$LOYALTY_RABBITMQCTL"
elif port_open "$amqp_port"; then
  use_listening_amqp
else
  start_private_amqp
fi
