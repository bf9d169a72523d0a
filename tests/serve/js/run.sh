#!/usr/bin/env bash
# The npm-based serving tests: starts `frugal serve` on free loopback ports (the micro fixture
# model with the byte test tokenizers), then runs the official openai client tests, the chat page
# in Debian's chromium (playwright-core), and curl checks (SIGTERM shutdown last).
#
#   usage: tests/serve/js/run.sh [path/to/frugal]      (default: $FRUGAL_BINARY or build/cli/frugal)
#   needs: node >= 18 and npm (Debian 12's nodejs and npm do; scripts/install-deps.sh --test installs
#          them), curl, chromium (CHROMIUM=/path to override; SKIP_BROWSER=1 skips the browser test).
#          Runs `npm ci` here when node_modules is missing or older than package-lock.json.
# Anything missing is an error (exit 2), never a skip: scripts/test.sh leaves these tests out only
# with FRUGAL_JS_TESTS=0.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
frugal=${1:-${FRUGAL_BINARY:-$root/build/cli/frugal}}
frugal=$(cd "$(dirname "$frugal")" && pwd)/$(basename "$frugal")
[ -x "$frugal" ] || { echo "run.sh: no frugal binary at $frugal (build it, or pass its path)" >&2; exit 2; }
missing() {
  echo "run.sh: $1 (scripts/install-deps.sh --test installs what these tests need;" \
       "FRUGAL_JS_TESTS=0 ./scripts/test.sh leaves them out)" >&2
  exit 2
}
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 18 ] || missing "needs node >= 18 (found: $(node --version 2>/dev/null || echo none))"
command -v npm >/dev/null || missing "needs npm (not found)"
command -v curl >/dev/null || missing "needs curl (not found)"
if [ "${SKIP_BROWSER:-0}" != 1 ] && [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  missing "needs chromium at ${CHROMIUM:-/usr/bin/chromium}"
fi
if [ ! -e "$here/node_modules/.package-lock.json" ] || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  echo "run.sh: npm ci (openai, playwright-core as pinned in package-lock.json)"
  npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
fi

model=$root/tests/data/fixtures/micro_f32
tok_v3=$root/tests/data/serve/byte_v3
tok_r1=$root/tests/data/serve/byte_r1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/frugal-serve-js.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# start_server NAME MODEL_DIR ARGS...: frugal serve on a free port; sets $url and $pid, waits for /ready.
start_server() {
  local name=$1 model_dir=$2 port=""
  shift 2
  : > "$tmp/$name.log"  # exists before the child opens it, so the polling below can read it
  "$frugal" serve "$model_dir" --port 0 "$@" 2> "$tmp/$name.log" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 600); do
    port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$tmp/$name.log" | head -1)
    if [ -n "$port" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")" = 200 ]; then
      url=http://127.0.0.1:$port
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "run.sh: server $name did not become ready:" >&2
  cat "$tmp/$name.log" >&2
  exit 1
}

start_server v3 "$model" --tokenizer "$tok_v3" --api-key test-key
url_v3=$url
start_server r1 "$model" --tokenizer "$tok_r1"
url_r1=$url
# A slower model for the client-abort test: the tiny preset's shape, the byte tokenizer's vocabulary.
"$frugal" random-model "$tmp/slow" --preset tiny --vocab-size 256 --seed 7 2> "$tmp/slow-model.log"
start_server slow "$tmp/slow" --tokenizer "$tok_v3"
url_slow=$url
start_server slow_r1 "$tmp/slow" --tokenizer "$tok_r1"
url_r1_slow=$url

export FRUGAL_URL_V3=$url_v3 FRUGAL_URL_R1=$url_r1 FRUGAL_URL_SLOW=$url_slow FRUGAL_URL_R1_SLOW=$url_r1_slow FRUGAL_TEST_API_KEY=test-key FRUGAL_BINARY=$frugal
export FRUGAL_MODEL=$model FRUGAL_TOKENIZER_V3=$tok_v3
tests=("$here/client.test.mjs")
if [ "${SKIP_BROWSER:-0}" != 1 ]; then tests+=("$here/browser.test.mjs"); fi
node --test --test-concurrency=1 "${tests[@]}"

# curl checks: a server with small caps (413, 503 when the queue is full), then SIGTERM.
start_server small "$model" --tokenizer "$tok_v3" --max-body-bytes 2048 --max-batch 1 --max-queue 1
bash ${CURL_TEST_TRACE:+-x} "$here/curl_test.sh" "$url_v3" test-key "$url" "$pid"
rc=0
wait "$pid" || rc=$?
if [ "$rc" != 0 ] || ! grep -q 'frugal serve: stopped' "$tmp/small.log"; then
  echo "run.sh: after SIGTERM the server exited $rc:" >&2
  cat "$tmp/small.log" >&2
  exit 1
fi
echo "ok   server exits 0 after SIGTERM"
echo "run.sh: all serving client tests passed"
