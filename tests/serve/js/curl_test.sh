#!/usr/bin/env bash
# curl against running servers (started by run.sh):
#   curl_test.sh URL_WITH_KEY KEY URL_SMALL PID_SMALL
# URL_SMALL runs with --max-body-bytes 2048 --max-batch 1 --max-queue 1; it gets SIGTERM at the end
# (PID_SMALL) and must still finish its stream.
set -euo pipefail
url=$1 key=$2 small=$3 small_pid=$4
echo "curl_test.sh: $url (key) and $small (pid $small_pid)"
fails=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/frugal-serve-js.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
check() {  # check NAME COMMAND...: the command must succeed
  local name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
status() { curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' "$@"; }
json=(-H 'Content-Type: application/json')  # JSON routes refuse other content types (curl -d says form)
chat='{"messages":[{"role":"user","content":"Hi"}],"max_tokens":8,"temperature":0}'

check "/health needs no key" test "$(status "$url/health")" = 200
check "/v1/models without a key is 401" test "$(status "$url/v1/models")" = 401
check "401 body is an OpenAI error" grep -q '"type":"authentication_error"' "$tmp/body"
check "wrong key is 401" test "$(status -H 'Authorization: Bearer nope' "$url/v1/models")" = 401
check "chat with the key" test "$(status -H "Authorization: Bearer $key" "${json[@]}" -d "$chat" "$url/v1/chat/completions")" = 200
check "chat answer is a chat.completion" grep -q '"object":"chat.completion"' "$tmp/body"
curl -sN -H "Authorization: Bearer $key" "${json[@]}" -d "${chat%\}},\"stream\":true}" "$url/v1/chat/completions" > "$tmp/sse"
check "SSE chunks" grep -q '^data: {.*"object":"chat.completion.chunk"' "$tmp/sse"
check "SSE ends with [DONE]" test "$(grep -v '^$' "$tmp/sse" | tail -1)" = "data: [DONE]"
check "malformed JSON is 400" test "$(status -H "Authorization: Bearer $key" "${json[@]}" -d '{"messages": [' "$url/v1/chat/completions")" = 400
check "400 names the problem" grep -q '"invalid_request_error"' "$tmp/body"
check "unknown path is 404" test "$(status -H "Authorization: Bearer $key" "$url/v1/nothing")" = 404
check "/metrics is Prometheus text" test "$(status -H "Authorization: Bearer $key" "$url/metrics")" = 200
check "/metrics content type" grep -qi '^content-type: text/plain' "$tmp/headers"
check "/metrics has TTFT histogram" grep -q '^frugal:time_to_first_token_seconds_bucket' "$tmp/body"
check "/ is the chat page" test "$(status "$url/")" = 200
check "the page forbids foreign loads" grep -qi "^content-security-policy: default-src 'none'" "$tmp/headers"
check "/tokenize" test "$(status -H "Authorization: Bearer $key" "${json[@]}" -d '{"content":"hi"}' "$url/tokenize")" = 200
check "/tokenize counts" grep -q '"count":3' "$tmp/body"
check "a form body (curl -d) is 415" test "$(status -H "Authorization: Bearer $key" -d "$chat" "$url/v1/chat/completions")" = 415
check "--json works" test "$(status -H "Authorization: Bearer $key" --json "$chat" "$url/v1/chat/completions")" = 200
check "a foreign Host is 421" test "$(status -H 'Host: evil.example' "$url/health")" = 421
check "a foreign Origin is 403" test "$(status -H "Authorization: Bearer $key" "${json[@]}" -H 'Origin: http://evil.example' -d "$chat" "$url/v1/chat/completions")" = 403

# Caps of the small server.
head -c 3000 /dev/zero | tr '\0' 'a' > "$tmp/big"
check "body over --max-body-bytes is 413" test "$(status "${json[@]}" --data-binary @"$tmp/big" "$small/v1/completions")" = 413
check "chunked body over --max-body-bytes is 413" test "$(status "${json[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$tmp/big" "$small/v1/completions")" = 413
long='{"prompt":"x","max_tokens":200,"ignore_eos":true,"temperature":1}'
# Six at once against one batch slot and one queue slot: some must be turned away.
for i in 1 2 3 4 5 6; do
  curl -s -o /dev/null -D "$tmp/h$i" -w '%{http_code}' "${json[@]}" -d "$long" "$small/v1/completions" > "$tmp/code$i" &
done
wait
check "a full queue is 503" grep -lq 503 "$tmp"/code*
check "503 has Retry-After" grep -qil '^retry-after: ' "$tmp"/h*

# SIGTERM while a stream runs: the stream still ends with [DONE] (run.sh then checks that the
# server exits 0).
curl -sN "${json[@]}" -d "${long%\}},\"stream\":true}" "$small/v1/completions" > "$tmp/term_sse" &
curl_pid=$!
for _ in $(seq 1 100); do [ -s "$tmp/term_sse" ] && break; sleep 0.02; done
kill -TERM "$small_pid"
wait "$curl_pid" || true
check "stream interrupted by SIGTERM ends with [DONE]" test "$(grep -v '^$' "$tmp/term_sse" | tail -1)" = "data: [DONE]"

if [ "$fails" -gt 0 ]; then echo "curl_test.sh: $fails check(s) failed"; exit 1; fi
echo "curl_test.sh: all checks passed"
