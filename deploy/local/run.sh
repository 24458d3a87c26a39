#!/usr/bin/env bash
# `make run`: servers, secrets, then every service in the foreground with combined logs.
set -euo pipefail
cd "$(dirname "$0")/../.."
servers=$(bash deploy/local/infra.sh)  # fails the script if the servers cannot be had
eval "$servers"
deploy/local/secrets.sh
set -a
. .local/secrets.env
set +a
export PYTHONPATH="$PWD:$PWD/gen"

redact() { sed -E 's#//[^@/]*@#//***@#'; }
cat >&2 <<TXT

  PostgreSQL   $(echo "$LOYALTY_PG_URL" | redact)   (databases loyalty_<service>)
  RabbitMQ     $(echo "$LOYALTY_AMQP_URL" | redact)   (exchange loyalty.events)
$(.venv/bin/python -m tools.deploy_files --banner)
  (ops: /livez /readyz /metrics; identity's also /.well-known/jwks.json)

  Ctrl-C stops every service.

TXT
exec .venv/bin/honcho -f deploy/local/Procfile -d . start
