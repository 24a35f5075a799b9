#!/usr/bin/env bash
# The API contract (issue 24, item 6), checked by tools others wrote:
# openapi-spec-validator reads /api/openapi.json, and Schemathesis runs
# every check against a real server (production mode, a fresh SQLite
# database, one partner) with bounded examples. Any failure fails the step.
#
# The tools live in a virtual environment under the build cache, every
# package pinned (contract/requirements.txt); it is made once per machine.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
venv=${CONTRACT_VENV:-$HOME/.cache/rebound/contract-venv}
pins=contract/requirements.txt
stamp="$venv/.pins-$(sha256sum "$pins" | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  echo "==> making the contract tools' virtual environment ($venv)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$pins"
  touch "$stamp"
fi

bin=${REBOUND_SERVER_BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/rebound/target}/debug/server}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DATABASE_URL="sqlite://$work/contract.db" REBOUND_LISTEN="127.0.0.1:$port" \
  REBOUND_PUBLIC_URL="http://127.0.0.1:$port" REBOUND_SITE_ROOT="$work/site" REBOUND_SDK_DIR="$work/sdk" \
  REBOUND_GATEWAY=sandbox REBOUND_MESSAGES=outbox REBOUND_API_RATE=100000 RUST_LOG=warn
REBOUND_LINK_KEY=$("$bin" link-key generate | tail -n1)
export REBOUND_LINK_KEY
token=$("$bin" partner create --name contract --business-name "Contract Test" \
  --origin https://shop.example | awk '/Secret-Token/ {print $NF}')
"$bin" serve >"$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$port/api/openapi.json" -o "$work/openapi.json"

echo "==> openapi-spec-validator"
"$venv/bin/openapi-spec-validator" "$work/openapi.json"

echo "==> schemathesis: every check, every operation"
# Bounded: a few dozen examples an operation keeps the step near a minute.
# The seed makes a failure reproducible from the log.
"$venv/bin/st" --no-color --config-file contract/schemathesis.toml run "$work/openapi.json" --url "http://127.0.0.1:$port" \
  --header "Secret-Token: $token" --checks all --max-examples "${CONTRACT_EXAMPLES:-25}" \
  --workers 2 --seed "${CONTRACT_SEED:-2024}" --suppress-health-check all \
  --request-timeout 10 || {
    echo "schemathesis found requests the schema and the server disagree on (server log: $work/server.log)" >&2
    trap - EXIT
    kill "$server" 2>/dev/null
    exit 1
  }
