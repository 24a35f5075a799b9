#!/usr/bin/env bash
# Benchmarks, each a ratio of two figures measured in one run on this machine,
# on SQLite and on PostgreSQL: order creates per second to GET /healthz, the
# server-rendered recovery page to a static file from the same server, stage
# sends per second to bare outbox inserts, notice deliveries to plain POSTs,
# the analytics API over 100,000 cases to GET /healthz.
# Usage: bench/run.sh <server binary>   (make bench builds it first)
set -euo pipefail
BIN=$1
PORT=${BENCH_PORT:-3190}
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-16}
PG_BASE=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

# Production mode names what the demo assumes: no money moves, messages stay
# in the outbox.
export REBOUND_GATEWAY=sandbox REBOUND_MESSAGES=outbox
# Every client of the bench is loopback: the per-address connection cap
# (tested in server/tests/it/limits.rs) would count them all as one host.
export REBOUND_MAX_CONNECTIONS_PER_ADDRESS=1000000
REBOUND_LINK_KEY=$("$BIN" link-key generate)
export REBOUND_LINK_KEY

rps() { # wrk output -> requests/sec
  awk '/Requests\/sec/ {print $2}'
}

bench_one() { # $1 = label, $2 = DATABASE_URL
  local label=$1 url=$2
  # Throughput, not protection: the rate limit and the render budget
  # (which shed wrk's excess with fast 429s and 503s) are lifted here; the
  # overload test below runs with the defaults.
  DATABASE_URL=$url REBOUND_LISTEN=127.0.0.1:$PORT RUST_LOG=warn REBOUND_API_RATE=100000 REBOUND_MAX_RENDERS=64 \
    "$BIN" serve >"$WORK/$label.log" 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
  local token
  token=$(DATABASE_URL=$url "$BIN" partner create --name "bench" --business-name Bench \
    --origin https://bench.example | awk '/Secret-Token/ {print $NF}')
  local api="http://127.0.0.1:$PORT/api/v1/cover"
  local post=(curl -fs -H "Secret-Token: $token" -H 'Content-Type: application/json')
  local customer product price
  customer=$("${post[@]}" "$api/customer" -d '{"name":"b","email":"b@e.co","phone":"01012345678","partnerCustomerId":"b"}' | sed -E 's/^\{"id":([0-9]+).*/\1/')
  product=$("${post[@]}" "$api/product" -d '{"name":"b","partnerProductId":"b"}' | sed -E 's/^\{"id":([0-9]+).*/\1/')
  price=$("${post[@]}" "$api/price" -d "{\"name\":\"b\",\"partnerPriceId\":\"b\",\"productId\":$product,\"price\":10000,\"recurringInterval\":\"MONTH\"}" | sed -E 's/^\{"id":([0-9]+).*/\1/')
  local health orders
  health=$(wrk -t2 -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$PORT/healthz" | rps)
  orders=$(SECRET_TOKEN=$token CUSTOMER_ID=$customer PRICE_ID=$price \
    wrk -t2 -c"$CONNS" -d"$DURATION" -s "$HERE/create_order.lua" "http://127.0.0.1:$PORT" 2>"$WORK/$label.wrk.err" | rps)
  # The recovery page (SSR, two indexed queries) against a static file
  # served by the same process.
  local case_token page static
  case_token=$(DATABASE_URL=$url "$BIN" seed-demo | awk '/recovery token/ {print $NF}')
  page=$(wrk -t2 -c"$CONNS" -d"$DURATION" \
    "http://127.0.0.1:$PORT/embed/recovery?token=$case_token&origin=http%3A%2F%2Flocalhost%3A3001&embedId=bench" | rps)
  static=$(wrk -t2 -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$PORT/pkg/rebound.css" | rps)
  # Analytics (issue 15): the figures of the default 30 days over 100,000
  # seeded cases (90 days of them), against /healthz. The first call folds
  # the seed's change log into the daily rollup; wrk then reads the rollup.
  local cases=${BENCH_ANALYTICS_CASES:-100000} analytics
  DATABASE_URL=$url "$BIN" dev seed-outcomes --partner bench --cases "$cases" --days 90 >/dev/null
  curl -fs -H "Secret-Token: $token" "$api/analytics" >/dev/null
  analytics=$(wrk -t2 -c"$CONNS" -d"$DURATION" -H "Secret-Token: $token" "$api/analytics" | rps)
  # The console's overview of the same partner, as its user: sign in once
  # with curl, then wrk with the session cookie.
  local cookie overview
  echo "bench-console-password" | DATABASE_URL=$url "$BIN" admin create --email "bench@rebound.example" --partner bench >/dev/null
  cookie=$(curl -fs -o /dev/null -D - -d 'email=bench@rebound.example&password=bench-console-password' \
    "http://127.0.0.1:$PORT/console/login" | awk -F'[:;] *' 'tolower($1) == "set-cookie" {print $2; exit}')
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "http://127.0.0.1:$PORT/console")" = 200 ] ||
    { echo "$label: the console sign-in failed; no overview figure" >&2; exit 1; }
  overview=$(wrk -t2 -c"$CONNS" -d"$DURATION" -H "Cookie: $cookie" "http://127.0.0.1:$PORT/console" | rps)
  # Experiments (issue 25): an experiment of 100,000 cases (two arms and
  # a holdout), its figures through the API. The first call counts them
  # (timed alone); later calls within 10 s reuse the count, as the API says
  # in asOf.
  local experiment first_ms
  DATABASE_URL=$url "$BIN" experiment start --partner bench --name bench \
    --arm control=current:45 --arm variant=current:45 --arm holdout=holdout:10 >/dev/null
  DATABASE_URL=$url "$BIN" dev seed-experiment --partner bench --cases "$cases" --days 90 >/dev/null
  first_ms=$(curl -fs -o /dev/null -w '%{time_total}' -H "Secret-Token: $token" "$api/experiments/1" | awk '{printf "%.0f", $1 * 1000}')
  experiment=$(wrk -t2 -c"$CONNS" -d"$DURATION" -H "Secret-Token: $token" "$api/experiments/1" | rps)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf '%-9s healthz %9.0f req/s   analytics API (%s cases, 30 days) %8.0f req/s   ratio analytics/healthz %.3f (goal >= 0.01)\n' \
    "$label" "$health" "$cases" "$analytics" "$(echo "$analytics / $health" | bc -l)"
  printf '%-9s healthz %9.0f req/s   console overview (same cases) %8.0f req/s   ratio overview/healthz %.3f (goal >= 0.01)\n' \
    "$label" "$health" "$overview" "$(echo "$overview / $health" | bc -l)"
  printf '%-9s healthz %9.0f req/s   experiment API (%s cases) %8.0f req/s   ratio experiment/healthz %.3f (goal >= 0.01); counting them once: %s ms\n' \
    "$label" "$health" "$cases" "$experiment" "$(echo "$experiment / $health" | bc -l)" "$first_ms"
  printf '%-9s static file %9.0f req/s   recovery page (SSR) %8.0f req/s   ratio page/static %.3f\n' \
    "$label" "$static" "$page" "$(echo "$page / $static" | bc -l)"
  printf '%-9s healthz %9.0f req/s   order creates %8.0f /s   ratio creates/healthz %.3f   (%s)\n' \
    "$label" "$health" "$orders" "$(echo "$orders / $health" | bc -l)" "$(tr -d '\n' <"$WORK/$label.wrk.err")"
}

# The scenario engine (stage sends through the outbox provider, against the
# outbox's own insert rate) and notice delivery (to a local receiver, against
# plain POSTs to it), each on a fresh database.
workers_one() { # $1 = label, $2 = DATABASE_URL for the engine, $3 = for notices
  printf '%-9s engine:  %s\n' "$1" "$(DATABASE_URL=$2 RUST_LOG=warn "$BIN" bench engine --cases "${BENCH_CASES:-10000}")"
  printf '%-9s notices: %s\n' "$1" "$(DATABASE_URL=$3 RUST_LOG=warn "$BIN" bench notify --events "${BENCH_EVENTS:-5000}")"
}

# Overload (issue 14): twice the page's measured capacity for a minute with
# 1,000 slowloris connections open; the excess must be shed (429/503),
# nothing may hang, and the answered pages' p99 must stay within 3x of the
# unloaded p99 measured in the same run. Meanwhile (issue 24) 2,000 console
# sign-ins a second from many addresses (X-Forwarded-For, so the server
# trusts loopback as its proxy) and a partner calling the API, which must
# answer every call. SQLite, the default store.
overload() {
  local url="sqlite://$WORK/overload.db"
  DATABASE_URL=$url REBOUND_LISTEN=127.0.0.1:$PORT REBOUND_TRUSTED_PROXIES=127.0.0.1 RUST_LOG=warn \
    "$BIN" serve >"$WORK/overload.log" 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
  local case_token seeded api_token
  seeded=$(DATABASE_URL=$url "$BIN" seed-demo)
  case_token=$(awk '/recovery token/ {print $NF}' <<<"$seeded")
  api_token=$(awk '/demo partner Secret-Token/ {print $NF}' <<<"$seeded")
  echo "overload (sqlite): ${BENCH_OVERLOAD_SECS:-60} s at twice the page's capacity, ${BENCH_SLOW:-1000} slow connections"
  "$BIN" bench load --duration-secs "${BENCH_OVERLOAD_SECS:-60}" --slow "${BENCH_SLOW:-1000}" \
    --sign-ins "${BENCH_SIGN_INS:-2000}" --api-token "$api_token" \
    --url "http://127.0.0.1:$PORT/embed/recovery?token=$case_token&origin=http%3A%2F%2Flocalhost%3A3001&embedId=bench" \
    || status=$?
  kill "$pid"; wait "$pid" 2>/dev/null || true
  return "${status:-0}"
}

echo "API benchmark: $CONNS connections, $DURATION per measurement, wrk with 2 threads"
bench_one sqlite "sqlite://$WORK/bench.db"
workers_one sqlite "sqlite://$WORK/engine.db" "sqlite://$WORK/notify.db"
if [ -n "${TEST_POSTGRES_URL-x}" ]; then
  db="rebound_bench_$$"
  psql "$PG_BASE" -qc "CREATE DATABASE $db"
  psql "$PG_BASE" -qc "CREATE DATABASE ${db}_engine"
  psql "$PG_BASE" -qc "CREATE DATABASE ${db}_notify"
  bench_one postgres "${PG_BASE%/*}/$db"
  workers_one postgres "${PG_BASE%/*}/${db}_engine" "${PG_BASE%/*}/${db}_notify"
  for d in "$db" "${db}_engine" "${db}_notify"; do psql "$PG_BASE" -qc "DROP DATABASE $d WITH (FORCE)"; done
fi
overload
