#!/usr/bin/env bash
# Create (or refresh) the dashboard's read-only Postgres role `leadscore_reader` in one database.
# Usage: scripts/create_readonly_role.sh postgresql://OWNER@HOST:5432/DB
#   Run it as the role that owns the platform's tables. LEADSCORE_READER_PASSWORD, if set, becomes the
#   role's password (needed unless the server trusts local connections).
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 postgresql://OWNER@HOST:5432/DB" >&2
  exit 2
fi
url="${1/postgresql+psycopg:/postgresql:}"
here="$(cd "$(dirname "$0")/.." && pwd)"
psql "$url" -X -q -v ON_ERROR_STOP=1 -f "$here/dashboard/sql/readonly_role.sql"
if [ -n "${LEADSCORE_READER_PASSWORD:-}" ]; then
  printf '%s\n' "ALTER ROLE leadscore_reader PASSWORD :'reader_password';" \
    | psql "$url" -X -q -v ON_ERROR_STOP=1 -v reader_password="$LEADSCORE_READER_PASSWORD"
fi
echo "leadscore_reader can read $(psql "$url" -X -At -c "select count(*) from information_schema.table_privileges where grantee = 'leadscore_reader' and privilege_type = 'SELECT'") tables"
