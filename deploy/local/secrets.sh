#!/usr/bin/env bash
# Generates the local development secrets once (kept in the ignored .local/ folder).
# Production passes the same variables from its secret store; nothing secret is committed.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .local
file=.local/secrets.env
if [ ! -s "$file" ]; then
  umask 077
  key() { python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'; }
  {
    echo "IDENTITY_DATA_KEY=$(key)"
    echo "IDENTITY_LOOKUP_KEY=$(key)"
  } > "$file"
  echo "generated development secrets in $file" >&2
fi
