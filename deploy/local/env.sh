# Sourced by `make run` (deploy/local/run.sh) and `make demo` (tools/demo/demo.sh), from the top
# of the checkout: the environment the services run in here — the servers, the secrets, the
# broker users and the development stand-ins of identity's outside systems.
servers=$(bash deploy/local/infra.sh)  # fails the sourcing script if the servers cannot be had
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
