#!/usr/bin/env bash
# The drain figures of docs/operations.md: the gateway's resident memory
# idle before and after a burst of streams, and how long the provider
# connections the burst opened stay pooled. Not part of CI (it watches for
# minutes); run by hand on a quiet machine:
#
#   cargo build --release --bins
#   bash tests/ops/drain_figures.sh [BIN_DIR=target/release] [STREAMS=1000] [PARALLEL=250] [WATCH_SECONDS=240]
#
# Prints one line per sample: seconds since the burst ended, VmRSS in KiB,
# and the gateway's established connections to the mock provider.
set -euo pipefail
bin=${1:-target/release} streams=${2:-1000} parallel=${3:-250} watch=${4:-240}
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT

wait_for() { # FILE: the `listening on http://ADDR` line's URL
  for _ in $(seq 200); do
    url=$(grep -o 'listening on http://[0-9.:]*' "$1" | head -1 | sed 's/listening on //') || true
    [ -n "${url:-}" ] && { echo "$url"; return; }
    sleep 0.1
  done
  echo "no listening line in $1" >&2; exit 1
}

"$bin/clawgate-mock" --chunk-delay-ms 50 --reply "$(printf 'word %.0s' $(seq 30))" >"$dir/mock.log" 2>&1 &
pids+=($!)
mock=$(wait_for "$dir/mock.log")
mock_port=${mock##*:}
cat >"$dir/config.json" <<JSON
{"models": {"mode": "replace", "providers": {"mock": {"baseUrl": "$mock/v1", "apiKey": "sk-drain-figures",
  "models": [{"id": "m"}]}}}, "agents": {"defaults": {"model": "mock/m"}}}
JSON
"$bin/clawgate" serve --port 0 --config "$dir/config.json" --log-level warn,clawgate::cli=info >"$dir/gw.log" 2>&1 &
gw_pid=$!
pids+=($gw_pid)
gw=$(wait_for "$dir/gw.log")

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$gw_pid/status"; }
pooled() { ss -tnH state established "( dport = :$mock_port )" | wc -l; }
sleep 1
echo "before: rss ${rss_before:=$(rss)} KiB, provider connections $(pooled)"

start=$(date +%s.%N)
seq "$streams" | xargs -P "$parallel" -I{} curl -sfN -o /dev/null -H 'content-type: application/json' \
  -d '{"stream": true, "messages": [{"role": "user", "content": "hi"}]}' "$gw/v1/chat/completions"
end=$(date +%s.%N)
echo "burst: $streams streams, $parallel at a time, in $(echo "$end - $start" | bc) s; peak rss $(awk '/^VmHWM:/ {print $2}' "/proc/$gw_pid/status") KiB"

for t in $(seq 0 10 "$watch"); do
  echo "t=${t}s rss $(rss) KiB (+$(( $(rss) - rss_before )) KiB) provider connections $(pooled)"
  sleep 10
done
