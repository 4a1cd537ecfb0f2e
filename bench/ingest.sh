#!/usr/bin/env bash
# Throughput of durable, verified webhook acknowledgement: wrk POSTs distinct Gong call
# webhooks, each with its own pre-signed RS256 token, to a release build on SQLite, at 64
# and 256 connections. Prints figures only; the targets are shown for comparison.
#
#   bench/ingest.sh                 # DURATION=20 (s), TOKENS=250000, CONNS="64 256"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
OUT=$ROOT/bench/out
mkdir -p "$OUT"

DURATION=${DURATION:-20}
TOKENS=${TOKENS:-250000}
CONNS=${CONNS:-"64 256"}
THREADS=2
ADDR=127.0.0.1:18080
ROUTE=/webhook/gong/calls
TOKEN_FILE=$OUT/tokens.txt

SERVER_PID=""
RUN_DIR=""
cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  [[ -n $RUN_DIR ]] && rm -rf "$RUN_DIR"
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cargo build --release --bin gong-relay --example bench_tokens

if ! command -v wrk >/dev/null; then
  apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }
fi

# Tokens live 3000 s (the relay refuses exp beyond its 1 h max age), so a file older than
# 40 min could expire mid-run. Each run has a fresh store, so both runs share one file.
if [[ ! -s $TOKEN_FILE || -n $(find "$TOKEN_FILE" -mmin +40) ||
      $(wc -l <"$TOKEN_FILE") -lt $TOKENS ]]; then
  echo "signing $TOKENS tokens (about 1 ms each per core)..."
  target/release/examples/bench_tokens --count "$TOKENS" \
    --template bench/call_template.json --key tests/data/gong_rule_a.key.pem \
    --webhook-url "http://$ADDR$ROUTE" --out "$TOKEN_FILE"
fi

PUBKEY=$(tr -d '\n' <tests/data/gong_rule_a.pub.b64)
CLK_TCK=$(getconf CLK_TCK)

# utime + stime in ticks; the text after the last ')' starts at field 3 (state).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

declare -a ROWS
for C in $CONNS; do
  echo
  echo "=== $C connections, ${DURATION}s ==="
  # A leftover server on the port would answer the health check and be measured instead.
  if curl -fsS -o /dev/null "http://$ADDR/health/live" 2>/dev/null; then
    echo "something already answers on $ADDR; stop it first" >&2
    exit 1
  fi
  RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gong-relay-bench.XXXXXX")
  LOG=$OUT/server-c$C.log
  # env -i: only the variables below, so the caller's shell (or a .env found from the
  # working directory) cannot change the configuration under test.
  env -i -C "$RUN_DIR" PATH="$PATH" \
    BIND_ADDR=$ADDR \
    DATABASE_URL="sqlite://$RUN_DIR/bench.db" \
    GONG_WEBHOOK_PUBLIC_KEYS="[\"$PUBKEY\"]" \
    GONG_WEBHOOK_PUBLIC_URL="http://$ADDR" \
    LOG_LEVEL=info \
    "$ROOT/target/release/gong-relay" serve 2>"$LOG" >/dev/null &
  SERVER_PID=$!

  for _ in $(seq 100); do
    curl -fsS -o /dev/null "http://$ADDR/health/live" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited; see $LOG" >&2; exit 1; }
    sleep 0.1
  done
  curl -fsS -o /dev/null "http://$ADDR/health/live"
  kill -0 "$SERVER_PID" # still ours, not a server that held the port before

  cpu0=$(cpu_ticks "$SERVER_PID")
  BENCH_TOKENS=$TOKEN_FILE BENCH_TEMPLATE=bench/call_template.json BENCH_THREADS=$THREADS \
    wrk -t$THREADS -c"$C" -d"${DURATION}s" --timeout 10s -s bench/ingest.lua \
    "http://$ADDR$ROUTE" | tee "$OUT/wrk-c$C.txt"
  cpu1=$(cpu_ticks "$SERVER_PID")
  rss_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status")

  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" || echo "server exit status $? (see $LOG)" >&2
  SERVER_PID=""
  stored=$(sqlite3 "$RUN_DIR/bench.db" 'select count(*) from inbox_events')
  rm -rf "$RUN_DIR"
  RUN_DIR=""

  # Pull the RESULT line's key=value pairs into shell variables.
  eval "$(grep '^RESULT ' "$OUT/wrk-c$C.txt" | cut -d' ' -f2-)"
  ok=$((requests - non2xx))
  cpu_us=$(awk -v d=$((cpu1 - cpu0)) -v t="$CLK_TCK" -v n="$requests" \
    'BEGIN {printf "%.0f", n ? d / t * 1e6 / n : 0}')
  echo "2xx $ok, rows stored $stored, server CPU ${cpu_us} us/request, peak RSS $((rss_kb / 1024)) MB"
  echo "server log: $(wc -l <"$LOG") lines; warnings and errors by message:"
  { grep -E '"level":"(WARN|ERROR)"' "$LOG" | grep -o '"message":"[^"]*"' |
    sort | uniq -c | sort -rn | head -5; } || echo "  (none)"
  ROWS+=("$(printf '%6s %9s %8s %8s %8s %8s %8s %8s %9s %8s' \
    "$C" "$rps" "$p50" "$p95" "$p99" "$non2xx" "$ok" "$stored" "$cpu_us" $((rss_kb / 1024)))")
done

echo
echo "=== summary (targets: >=3000 req/s at 256 conns, p95 <= 50 ms, <= 120 us CPU/request) ==="
printf '%6s %9s %8s %8s %8s %8s %8s %8s %9s %8s\n' \
  conns req/s p50_ms p95_ms p99_ms non2xx 2xx stored cpu_us/rq rss_MB
printf '%s\n' "${ROWS[@]}"
echo "outputs: $OUT (wrk-c*.txt, server-c*.log)"
