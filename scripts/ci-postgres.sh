#!/usr/bin/env bash
# Start the machine's PostgreSQL cluster and make a superuser role for the tests.
set -euo pipefail
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | grep -q "^$version main"; then
  pg_createcluster "$version" main >/dev/null
fi
pg_ctlcluster "$version" main start 2>/dev/null || true
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
su postgres -c "psql -q -c \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'weiquan') THEN CREATE ROLE weiquan LOGIN SUPERUSER PASSWORD 'weiquan'; END IF; END \\\$\\\$;\""
# A throwaway cluster for tests: durability buys nothing here, and every test creates and drops
# databases — without fsync a slow CI disk does not set the pace.
su postgres -c "psql -q -c 'ALTER SYSTEM SET fsync = off' -c 'ALTER SYSTEM SET synchronous_commit = off' -c 'ALTER SYSTEM SET full_page_writes = off' -c 'SELECT pg_reload_conf()'" >/dev/null
