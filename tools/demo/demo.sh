#!/usr/bin/env bash
# `make demo`: the environment `make run` gives the services (deploy/local/env.sh: servers,
# secrets, broker users, the development stand-ins of identity's outside systems), then the demo,
# which starts the services itself with it (tools/demo/services.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/local/env.sh
# One operator verifies hundreds of members' real names: the per-caller limit (30 an hour) is for
# callers acting for one person each.
export IDENTITY_REAL_NAME_ATTEMPTS_PER_SOURCE_HOUR=${IDENTITY_REAL_NAME_ATTEMPTS_PER_SOURCE_HOUR:-100000}
exec .venv/bin/python -m tools.demo
