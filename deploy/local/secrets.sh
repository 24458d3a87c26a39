#!/usr/bin/env bash
# The local development secrets, in the ignored .local/secrets.env (production passes the same
# variables from its secret store; nothing secret is committed).
#
# The keys belong with the database they encrypt, not with a checkout: every checkout on this
# machine that uses the same PostgreSQL server shares one copy, kept next to the machine's other
# local state (/var/tmp, or LOYALTY_SECRETS_DIR). A second clone therefore opens the identity
# database the first one made instead of failing to decrypt it. Needs LOYALTY_PG_URL (infra.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .local
file=.local/secrets.env
server=${IDENTITY_DATABASE_URL:-${LOYALTY_PG_URL:?run deploy/local/infra.sh first}}
shared=${LOYALTY_SECRETS_DIR:-/var/tmp}/loyalty-dev-secrets-$(printf '%s' "$server" | md5sum | cut -c1-12).env
umask 077
key() { python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'; }
if [ ! -s "$shared" ] && [ -s "$file" ]; then
  cp "$file" "$shared"  # this checkout made the server's database: its keys open it
fi
# Every key the services need, added once (a shared file made before a service existed gets
# that service's key; keys already there are never replaced: data depends on them).
for name in IDENTITY_DATA_KEY IDENTITY_LOOKUP_KEY GIFTCARD_PIN_KEY SUBSCRIPTION_CODE_KEY; do
  if ! grep -q "^$name=" "$shared" 2>/dev/null; then
    echo "$name=$(key)" >> "$shared"
    echo "generated the development secret $name in $shared" >&2
  fi
done
if ! cmp -s "$shared" "$file"; then
  [ ! -s "$file" ] || cp "$file" "$file.replaced"  # kept, in case it was the one that mattered
  cp "$shared" "$file"
  echo "using the development secrets of this server ($shared) in $file" >&2
fi
