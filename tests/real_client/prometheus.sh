#!/usr/bin/env bash
# Prometheus' own linter (`promtool check metrics`, Debian's `prometheus`)
# over a real `clawgate serve`'s /metrics once it has counted what users
# meet: a fallback from a failing provider, streamed and whole answers, a
# Kimi Coding account's quota read, a provider with maxConcurrent. Exits
# non-zero when promtool finds anything to say (a metric without HELP, a
# counter not named `_total`, a unit spelt wrong), or when a family the
# traffic must have made is missing from the page.
#
#   bash tests/real_client/prometheus.sh target/debug
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bin=$(cd "${1:-target/debug}" && pwd)
command -v promtool >/dev/null || { echo "prometheus.sh: promtool not found (apt-get install prometheus)" >&2; exit 1; }

work_dir
start "$work/down.log" "$bin/clawgate-mock" --fail-status 503
down=$url
start "$work/kimi.log" "$bin/clawgate-mock" --weekly-quota 40/100
kimi=$url
start "$work/up.log" "$bin/clawgate-mock" --cached-tokens 3
up=$url
cat >"$work/config.json" <<JSON
{"models": {"mode": "replace", "providers": {
   "down": {"baseUrl": "$down/v1", "models": [{"id": "m", "cost": {"input": 1, "output": 2}}]},
   "kimi": {"dialect": "kimi-coding", "baseUrl": "$kimi/v1", "apiKey": "sk-kimi-test-0123456789",
            "quota": {"thresholdPercent": 90}, "models": [{"id": "k"}]},
   "up": {"baseUrl": "$up/v1", "maxConcurrent": 4,
          "models": [{"id": "m", "cost": {"input": 1, "output": 2}}]}}},
 "agents": {"defaults": {"model": {"primary": "down/m", "fallbacks": ["up/m"]}}}}
JSON
start "$work/gateway.log" "$bin/clawgate" serve --port 0 --config "$work/config.json"
chat() { # MODEL STREAM
  curl -sf "$url/v1/chat/completions" -H 'content-type: application/json' \
    -d "{\"model\": \"$1\", \"stream\": $2, \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}" >/dev/null
}
chat down/m false
chat down/m true
chat kimi/k false
# The quota is read in the background after the first call: wait for it.
for _ in $(seq 1 100); do
  curl -sf "$url/metrics" >"$work/metrics.txt"
  grep -q '^clawgate_quota_used{' "$work/metrics.txt" && break
  sleep 0.1
done
for family in clawgate_requests_total clawgate_attempts_total clawgate_fallbacks_total \
  clawgate_retries_total clawgate_tokens_total clawgate_cost_microdollars_total \
  clawgate_upstream_latency_seconds clawgate_quota_used clawgate_quota_limit \
  clawgate_quota_exhausted clawgate_provider_in_flight gen_ai_client_token_usage \
  gen_ai_client_operation_duration_seconds gen_ai_server_time_to_first_token_seconds; do
  grep -q "^# TYPE $family " "$work/metrics.txt" \
    || { echo "prometheus.sh: no $family on the page:" >&2; cat "$work/metrics.txt" >&2; exit 1; }
done
if ! said=$(promtool check metrics <"$work/metrics.txt" 2>&1) || [ -n "$said" ]; then
  echo "prometheus.sh: promtool check metrics:" >&2; echo "$said" >&2; exit 1
fi
echo "prometheus.sh: promtool finds nothing to say of $(grep -c '^# TYPE ' "$work/metrics.txt") metric families"
