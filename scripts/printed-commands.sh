#!/usr/bin/env bash
# Runs every command that README.md, docs/partner-guide.md and the demo
# banner print, as a newcomer would paste it at the repository root, and
# fails on the first that does not work (issue 14, item 11). Placeholders
# the texts use on purpose are filled in: the host and port, a Secret-Token,
# a recovery token, a billing key, /etc/rebound/ (a scratch directory).
# `make test` runs it after the build; it needs ./rebound's binary.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scratch=$(mktemp -d)
port=${PRINTED_PORT:-3290}
site=$((port + 1))
server=
pid=
cleanup() {
  for p in $server $pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$scratch" scenario.json
}
trap cleanup EXIT
export DATABASE_URL="sqlite://$scratch/printed.db"
export RUST_LOG=warn
printf 'a long test password\n' >"$scratch/stdin"
checked=0

fail() { echo "printed-commands: $*" >&2; exit 1; }

# Runs one printed command, placeholders filled in.
run() { # $1 = where it was printed, $2 = the command
  local where=$1 cmd=$2
  cmd=${cmd//\/etc\/rebound\//$scratch/}
  cmd=${cmd//127.0.0.1:3000/127.0.0.1:$port}
  cmd=${cmd//https:\/\/HOST/http://127.0.0.1:$port}
  cmd=${cmd//rb_sk_.../$secret}
  cmd=${cmd//<token>/$token}
  cmd=${cmd//<billing key>/sandbox_success}
  cmd=${cmd//<you>/you}
  printf '  %-24s %s\n' "$where" "$2"
  # curl as printed, but failing on an HTTP error.
  # Commands that read a password from standard input get one.
  if ! (curl() { command curl -fsS -o /dev/null "$@"; }; eval "$cmd") <"$scratch/stdin" >"$scratch/out" 2>&1; then
    cat "$scratch/out" >&2
    fail "this command, printed in $where, failed: $2"
  fi
  checked=$((checked + 1))
}

# ---- the demo banner: start the demo as `make run` does, run what it prints
REBOUND_LISTEN=127.0.0.1:$port ./rebound serve --demo --demo-listen 127.0.0.1:$site \
  >"$scratch/banner" 2>"$scratch/serve.log" &
server=$!
for _ in $(seq 100); do grep -q "Try the API" "$scratch/banner" 2>/dev/null && break; sleep 0.2; done
grep -q "Try the API" "$scratch/banner" || { cat "$scratch/serve.log" >&2; fail "the demo printed no banner"; }
secret=$(awk -F':  ' '/Secret-Token \(new at each start\)/ {print $2}' "$scratch/banner")
token=$(grep -o 'token=[A-Za-z0-9_-]*' "$scratch/banner" | head -1 | cut -d= -f2)
[ -n "$secret" ] && [ -n "$token" ] || fail "the banner shows no Secret-Token or link"
echo "the demo banner:"
while read -r url; do
  run banner "curl $url"
done < <(grep -v curl "$scratch/banner" | grep -o 'http://[^ ]*' | sort -u)
while read -r cmd; do
  run banner "$cmd"
done < <(grep -o '\./rebound [^`]*$' "$scratch/banner")
# The API example spans three lines ending in backslashes.
api=$(sed -n '/Try the API:/,/-d /p' "$scratch/banner" | sed -e 's/.*Try the API:  //' -e 's/\\$//' | tr -d '\n')
run banner "$api"

# ---- README and the partner guide: ./rebound commands in code blocks and
# inline code, and the guide's API sequence
commands() { # $1 = file: its ./rebound commands, one a line
  {
    # Code blocks: whole lines, comments cut.
    awk '/^```/ {inside = !inside; next} inside && /^(REBOUND_[A-Z_]+=[^ ]+ )*\.\/rebound /' "$1" |
      sed -e 's/[[:space:]]#.*$//'
    # Inline code.
    grep -o '`\(REBOUND_[A-Z_]*=[^ `]* \)*\./rebound [^`]*`' "$1" | tr -d '`'
  } | sed -e 's/[[:space:]]*$//' | awk '!seen[$0]++'
}
# What the texts act on: partners acme and you, a scenario file.
./rebound partner create --name acme --business-name ACME --origin https://shop.acme.example >/dev/null
./rebound partner create --name you --business-name You --origin https://your.site >/dev/null
for doc in README.md docs/partner-guide.md; do
  echo "$doc:"
  while read -r cmd; do
    case $cmd in
      # Creating acme again is refused: it exists (made above, as the text does).
      "./rebound partner create --name acme"*) continue ;;
      # A fresh database holds no key of an earlier version to move out.
      "./rebound link-key export"*)
        ./rebound link-key export >/dev/null 2>"$scratch/err" && fail "export found a key in a fresh database"
        grep -q "holds no link key" "$scratch/err" || fail "link-key export: $(cat "$scratch/err")"
        checked=$((checked + 1)); continue ;;
      # A fresh database holds no charge to refund: it must say so.
      "./rebound refund charge"*)
        printf '  %-24s %s (refuses: nothing to refund)\n' "$doc" "$cmd"
        eval "$cmd" >/dev/null 2>"$scratch/err" && fail "refunded a charge of a fresh database"
        grep -q "does not wait for a refund" "$scratch/err" || fail "$cmd: $(cat "$scratch/err")"
        checked=$((checked + 1)); continue ;;
      # Production named nothing yet: it must refuse, and say what to set.
      "./rebound serve")
        printf '  %-24s %s (refuses until the gateway is named)\n' "$doc" "$cmd"
        (export REBOUND_LISTEN=127.0.0.1:$((port + 2)); ./rebound serve) >/dev/null 2>"$scratch/err" &&
          fail "production started with nothing named"
        grep -q REBOUND_GATEWAY "$scratch/err" || fail "./rebound serve: $(cat "$scratch/err")"
        checked=$((checked + 1)); continue ;;
      *" serve"*)
        # A server: it must start and answer, then it is stopped.
        printf '  %-24s %s\n' "$doc" "$cmd"
        c=${cmd//\/etc\/rebound\//$scratch/}
        # The settings before it become the environment; exec, so $pid is
        # the server itself and stopping it stops it.
        prefix=${c%%./rebound*}
        (export REBOUND_LISTEN=127.0.0.1:$((port + 2)) DATABASE_URL="sqlite://$scratch/serve.db"
          [ -z "$prefix" ] || eval "export $prefix"
          exec ./rebound ${c#*./rebound }) >/dev/null 2>"$scratch/serve2.log" &
        pid=$!
        ok=
        for _ in $(seq 100); do
          command curl -fs "http://127.0.0.1:$((port + 2))/readyz" >/dev/null && { ok=1; break; }
          kill -0 "$pid" 2>/dev/null || break
          sleep 0.2
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        pid=
        [ -n "$ok" ] || { cat "$scratch/serve2.log" >&2; fail "this server, printed in $doc, did not start: $cmd"; }
        checked=$((checked + 1)); continue ;;
    esac
    run "$doc" "$cmd"
  done < <(commands "$doc")
done
# The guide's API sequence, as one script (it sets H first).
guide_api=$(awk '/^## 1\. API sequence/ {s = 1} s && /^```sh/ {b = 1; next} b && /^```/ {exit} b' docs/partner-guide.md)
[ -n "$guide_api" ] || fail "the partner guide's API sequence was not found"
run docs/partner-guide.md "$guide_api"

echo "printed-commands: all $checked commands work as printed"
