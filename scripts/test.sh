#!/usr/bin/env bash
# Runs the whole test suite: unit tests and integration tests, the store tests on SQLite
# and on PostgreSQL. PostgreSQL is started if it is installed but down; where it cannot be
# had, the PostgreSQL cases are skipped and this script says so loudly (CI allows no skip:
# it sets GONG_RELAY_REQUIRE_PG=1, and then a missing PostgreSQL fails the run). The same for
# Redis and the notification tests (GONG_RELAY_REQUIRE_REDIS=1).
set -euo pipefail
cd "$(dirname "$0")/.."

PG_URL="${GONG_RELAY_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
export GONG_RELAY_TEST_PG_URL="$PG_URL"

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

start_pg() {
  pg_up && return 0
  command -v pg_isready >/dev/null 2>&1 || return 1
  if [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "== starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_up && return 0; sleep 1; done
  fi
  return 1
}

skipped=""
if start_pg; then
  export GONG_RELAY_REQUIRE_PG=1
  echo "== PostgreSQL at 127.0.0.1:5432: the store tests run on SQLite and on PostgreSQL"
  # Databases left behind by interrupted earlier runs (not FORCE: a database still in use
  # belongs to a run going on beside this one, whose tests it would break).
  psql "$PG_URL" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'gr\_test\_%'" 2>/dev/null |
    while read -r db; do psql "$PG_URL" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true; done
else
  if [ "${GONG_RELAY_REQUIRE_PG:-0}" = "1" ]; then
    echo "error: PostgreSQL is required (GONG_RELAY_REQUIRE_PG=1) but does not answer on 127.0.0.1:5432" >&2
    exit 1
  fi
  skipped="PostgreSQL (127.0.0.1:5432 does not answer; install it or set GONG_RELAY_TEST_PG_URL)"
  echo "################################################################"
  echo "## WARNING: SKIPPING the PostgreSQL test cases: $skipped"
  echo "################################################################"
fi

REDIS_URL_FOR_TESTS="${GONG_RELAY_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
if command -v redis-cli >/dev/null 2>&1 && [ "$(redis-cli -u "$REDIS_URL_FOR_TESTS" ping 2>/dev/null)" = "PONG" ]; then
  export GONG_RELAY_REQUIRE_REDIS=1
  echo "== Redis at $REDIS_URL_FOR_TESTS: the notification tests run"
elif [ "${GONG_RELAY_REQUIRE_REDIS:-0}" = "1" ]; then
  echo "error: Redis is required (GONG_RELAY_REQUIRE_REDIS=1) but does not answer at $REDIS_URL_FOR_TESTS" >&2
  exit 1
else
  skipped="${skipped:+$skipped; }Redis ($REDIS_URL_FOR_TESTS does not answer; start redis-server or set GONG_RELAY_TEST_REDIS_URL)"
  echo "################################################################"
  echo "## WARNING: SKIPPING the notification test cases: Redis does not answer"
  echo "################################################################"
fi

# The Snowflake stand-in (fakesnow behind an adapter, tests/snowflake-standin) is checked
# with Snowflake's own Python connector; it needs python3 with venv and PyPI once.
if command -v python3 >/dev/null 2>&1 && python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "== the Snowflake stand-in's own tests"
  scripts/snowflake-standin.sh test
elif [ "${GONG_RELAY_REQUIRE_SNOWFLAKE:-0}" = "1" ]; then
  echo "error: python3 with venv is required for the Snowflake stand-in (GONG_RELAY_REQUIRE_SNOWFLAKE=1)" >&2
  exit 1
else
  skipped="${skipped:+$skipped; }the Snowflake stand-in (python3 with venv is missing)"
  echo "################################################################"
  echo "## WARNING: SKIPPING the Snowflake stand-in's tests: python3 with venv is missing"
  echo "################################################################"
fi

cargo test --locked --all-targets "$@"
# The examples in the crates' documentation (gong-api's is its first page).
cargo test --locked --doc --workspace

if [ -n "$skipped" ]; then
  echo "################################################################"
  echo "## WARNING: test cases were SKIPPED: $skipped"
  echo "################################################################"
fi
