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
# A broker user per service and one for storefronts (services/kit/publishers.py), when the broker
# can be administered here: <SVC>_AMQP_URL and STOREFRONT_AMQP_URL; otherwise everything runs
# as LOYALTY_AMQP_URL's user.
broker=$(.venv/bin/python -m tools.broker_users local)
eval "$broker"
# Development stand-ins for identity's outside systems (services/identity/verification.py),
# never for production, where identity refuses to start without a real code sender: one-time
# codes go to files in .local/dev-codes/ (named by phone number or e-mail address), no SMS or
# e-mail is sent; a provider assertion "dev:<subject>" is taken as the provider's word.
export IDENTITY_CODE_SENDER=${IDENTITY_CODE_SENDER:-dev-file}
export IDENTITY_ASSERTION_VERIFIER=${IDENTITY_ASSERTION_VERIFIER:-dev-plain}

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
