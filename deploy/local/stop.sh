#!/usr/bin/env bash
# Stops the private servers deploy/local/infra.sh started in $LOYALTY_STATE_DIR (<repo>/.local):
# the PostgreSQL cluster in <state>/pg/data and the RabbitMQ nodes whose data is in
# <state>/rabbitmq. Servers it did not start (system ones, or given by URL) are never touched.
# Data stays; the next infra.sh starts the same servers again.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
state=${LOYALTY_STATE_DIR:-$repo/.local}
[ -d "$state" ] || exit 0
state=$(cd "$state" && pwd)
cd "$state"  # a directory the postgres user may enter

log() { echo "stop: $*" >&2; }

pgdata=$state/pg/data
if [ -e "$state/pg.link" ]; then  # the cluster lives outside a private checkout (see infra.sh)
  pgdata=$(readlink -f "$state/pg.link")/data
  cd /  # runuser keeps the working directory, which postgres must be able to enter
fi
if [ -f "$pgdata/postmaster.pid" ]; then
  # The binaries of the cluster's major version; run as the cluster's owner (postgres under root).
  bin=/usr/lib/postgresql/$(cat "$pgdata/PG_VERSION")/bin
  [ -x "$bin/pg_ctl" ] || bin=$(dirname "$(command -v pg_ctl)")
  owner=$(stat -c %U "$pgdata")
  as_owner() { if [ "$owner" = "$(id -un)" ]; then "$@"; else runuser -u "$owner" -- "$@"; fi; }
  if as_owner "$bin/pg_ctl" -D "$pgdata" status >/dev/null; then
    log "PostgreSQL: stopping the cluster in $pgdata"
    as_owner "$bin/pg_ctl" -D "$pgdata" -m fast -w stop >&2
  fi
fi

rmq=$state/rabbitmq
if [ -f "$rmq/env.sh" ]; then
  # One pid file per node started here (its name is the node's), kept by RabbitMQ in MNESIA_BASE.
  for pidfile in "$rmq"/mnesia/*.pid; do
    [ -e "$pidfile" ] || continue
    node=$(basename "$pidfile" .pid)
    log "RabbitMQ: stopping node $node"
    # env.sh: the same HOME (Erlang cookie) and CLI as infra.sh used.
    (unset ${!RABBITMQ_@} && . "$rmq/env.sh" &&
      rabbitmqctl -n "$node" -q stop --idempotent "$pidfile") >&2
  done
fi
