#!/usr/bin/env bash
# `make run`: servers, secrets, then every service in the foreground with combined logs.
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/local/env.sh

redact() { sed -E 's#//[^@/]*@#//***@#'; }
cat >&2 <<TXT

  PostgreSQL   $(echo "$LOYALTY_PG_URL" | redact)   (databases loyalty_<service>)
  RabbitMQ     $(echo "$LOYALTY_AMQP_URL" | redact)   (exchange loyalty.events)
  Storefront   ${STOREFRONT_AMQP_URL:+$(echo "$STOREFRONT_AMQP_URL" | redact) as user storefront (password: .local/broker-users.json)}
$(.venv/bin/python -m tools.deploy_files --banner)
  (ops: /livez /readyz /metrics; identity's also /.well-known/jwks.json)
  One-time codes (development sender, nothing is sent): .local/dev-codes/<phone or e-mail>
  Payments: a fake provider answers subscription's charges (FAKE_PAYMENT_RULE=${FAKE_PAYMENT_RULE:-succeed};
    rules in tools/fake_payment_provider.py); nothing is charged

  Ctrl-C stops every service.

TXT
exec .venv/bin/honcho -f deploy/local/Procfile -d . start
