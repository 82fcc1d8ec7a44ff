#!/usr/bin/env bash
# The Postgres the tests use: postgresql+psycopg://postgres@127.0.0.1:5432/test, trusted, role able to CREATEDB.
# When it already answers, this only checks (well under a second) and changes nothing. Otherwise, as root:
# installs Debian's `postgresql` if its tools are missing, creates the cluster if there is none, trusts the
# role `postgres` on 127.0.0.1, starts the cluster, waits (bounded) until it answers, creates database `test`.
# Fails with one line when Postgres never answers.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=install-system-deps.sh
source "$HERE/install-system-deps.sh"  # apt_install, can_apt (its main runs only when executed)

PG_HOST=127.0.0.1
PG_PORT="${PG_PORT:-5432}"
PG_DATABASE="${PG_DATABASE:-test}"
PG_ROLE=postgres
PG_WAIT_SECONDS="${PG_WAIT_SECONDS:-60}"
PG_ETC="${PG_ETC:-/etc/postgresql}"
PG_LIB="${PG_LIB:-/usr/lib/postgresql}"

fail() { echo "error: $*" >&2; exit 1; }

pg_tools_present() { command -v pg_ctlcluster >/dev/null && command -v pg_isready >/dev/null \
  && command -v psql >/dev/null && command -v pg_lsclusters >/dev/null; }

answers() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; }

test_database_ready() {
  # the tests' own connection: trusted TCP login, database present, role may create databases
  [ "$(psql -X -w -At -h "$PG_HOST" -p "$PG_PORT" -U "$PG_ROLE" -d "$PG_DATABASE" \
        -c "SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user" 2>/dev/null)" = "t" ]
}

install_postgres() {
  pg_tools_present && return 0
  can_apt || fail "Postgres is not installed and this is not root with apt-get: sudo apt-get install postgresql"
  apt_install postgresql
  pg_tools_present || fail "apt-get installed postgresql but pg_ctlcluster / pg_isready / psql are still missing"
}

cluster_version() {
  # the newest installed server version, e.g. 15
  local version
  version="$(ls "$PG_LIB" 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$version" ] || fail "no Postgres server under $PG_LIB (install Debian's postgresql)"
  echo "$version"
}

ensure_cluster() {
  # ensure_cluster VERSION: the cluster `main` exists (Debian may be set not to create it on install)
  if ! pg_lsclusters -h 2>/dev/null | awk -v v="$1" '$1 == v && $2 == "main" {found = 1} END {exit !found}'; then
    echo "creating Postgres cluster $1/main on port $PG_PORT"
    pg_createcluster -p "$PG_PORT" "$1" main >/dev/null
  fi
  local port
  port="$(pg_lsclusters -h | awk -v v="$1" '$1 == v && $2 == "main" {print $3}')"
  [ "$port" = "$PG_PORT" ] || fail "Postgres cluster $1/main listens on port $port, the tests expect $PG_PORT"
}

trust_rule_present() {
  # trust_rule_present HBA_FILE: a first-match `host` rule trusting the role on 127.0.0.1
  grep -Eq "^[[:space:]]*host[[:space:]]+(all|$PG_DATABASE)[[:space:]]+(all|$PG_ROLE)[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust" "$1"
}

ensure_trust() {
  # ensure_trust VERSION: prepend `host all postgres 127.0.0.1/32 trust` (pg_hba.conf: first match wins)
  local hba="$PG_ETC/$1/main/pg_hba.conf"
  [ -f "$hba" ] || fail "no $hba"
  trust_rule_present "$hba" && return 0
  echo "trusting role $PG_ROLE on $PG_HOST in $hba (test machine only)"
  { echo "host all $PG_ROLE 127.0.0.1/32 trust  # leadscore tests (scripts/test-postgres.sh)"; cat "$hba"; } > "$hba.new"
  chown --reference="$hba" "$hba.new" 2>/dev/null || true
  chmod --reference="$hba" "$hba.new" 2>/dev/null || true
  mv "$hba.new" "$hba"
  if answers; then
    pg_ctlcluster --skip-systemctl-redirect "$1" main reload
  fi
}

ensure_started() {
  # ensure_started VERSION
  answers && return 0
  echo "starting Postgres cluster $1/main"
  pg_ctlcluster --skip-systemctl-redirect "$1" main start || true  # the bounded wait below judges
}

wait_until_answers() {
  local waited=0
  until answers; do
    [ "$waited" -ge "$PG_WAIT_SECONDS" ] \
      && fail "Postgres did not answer at $PG_HOST:$PG_PORT within ${PG_WAIT_SECONDS}s (see /var/log/postgresql/)"
    sleep 1
    waited=$((waited + 1))
  done
}

as_postgres_user() { runuser -u postgres -- "$@"; }

ensure_test_database() {
  local exists
  exists="$(as_postgres_user psql -X -At -p "$PG_PORT" -d postgres \
              -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")"
  if [ "$exists" != "1" ]; then
    echo "creating database $PG_DATABASE"
    as_postgres_user createdb -p "$PG_PORT" "$PG_DATABASE"
  fi
  as_postgres_user psql -X -q -p "$PG_PORT" -d postgres -c "ALTER ROLE $PG_ROLE CREATEDB" >/dev/null
}

main() {
  if pg_tools_present && answers && test_database_ready; then
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || fail "Postgres is not ready at $PG_HOST:$PG_PORT/$PG_DATABASE and setting it up needs root"
  install_postgres
  local version
  version="$(cluster_version)"
  ensure_cluster "$version"
  ensure_trust "$version"
  ensure_started "$version"
  wait_until_answers
  ensure_test_database
  test_database_ready || fail "Postgres answers but role $PG_ROLE cannot log in to $PG_DATABASE over $PG_HOST with CREATEDB"
  echo "Postgres ready at $PG_HOST:$PG_PORT/$PG_DATABASE"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
