#!/usr/bin/env bash
# The Snowflake stand-in (tests/snowflake-standin): fakesnow behind a small adapter, in a
# virtual environment this script creates and reuses (keyed by requirements.txt).
#
#   scripts/snowflake-standin.sh python      prints the environment's python (creating it)
#   scripts/snowflake-standin.sh test        runs the stand-in's own tests
#   scripts/snowflake-standin.sh run ARGS    runs the stand-in (e.g. --port 8765)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dir="$here/tests/snowflake-standin"
req="$dir/requirements.txt"
key="$( (cat "$req"; python3 --version) | sha256sum | cut -c1-12)"
venv="${GONG_RELAY_STANDIN_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gong-relay/standin-$key}"

ensure_venv() {
  [ -f "$venv/.complete" ] && return 0
  # Tests may start several stand-ins at once: one of them creates the environment.
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
    echo "== creating the Snowflake stand-in's virtual environment in $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
    touch "$venv/.complete"
  fi
  exec 9>&-   # not inherited by the stand-in `run` execs into
}

case "${1:-}" in
  python) ensure_venv; echo "$venv/bin/python" ;;
  test) ensure_venv; cd "$dir" && "$venv/bin/python" -m unittest -q test_standin ;;
  run) shift; ensure_venv; exec "$venv/bin/python" "$dir/standin.py" "$@" ;;
  *) echo "usage: $0 python|test|run [ARGS]" >&2; exit 2 ;;
esac
