#!/usr/bin/env bash
# The Vercel AI SDK against a real `clawgate serve` (tests/real_client/ai_sdk.mjs
# holds the client): a primary that answers 503 and a fallback that streams a
# tool call, then text. Exits non-zero on failure.
#
#   bash tests/real_client/ai_sdk.sh target/debug
#
# The packages are installed once into $CLAWGATE_CI_CACHE/ai-sdk-<version>
# (default ~/.cache/clawgate-ci); AI_VERSION and AI_COMPAT_VERSION pin them.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bin=$(cd "${1:-target/debug}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
export AI_VERSION=${AI_VERSION:-7.0.173}
compat_version=${AI_COMPAT_VERSION:-3.0.92}
cache=${CLAWGATE_CI_CACHE:-$HOME/.cache/clawgate-ci}
dir="$cache/ai-sdk-$AI_VERSION-$compat_version"
[ -f "$dir/node_modules/@ai-sdk/openai-compatible/package.json" ] \
  || npm install --silent --no-audit --no-fund --prefix "$dir" "ai@$AI_VERSION" \
    "@ai-sdk/openai-compatible@$compat_version" >/dev/null
cp "$here/ai_sdk.mjs" "$dir/ai_sdk.mjs" # beside node_modules, where imports resolve

work_dir
start "$work/down.log" "$bin/clawgate-mock" --fail-status 503
down=$url
start "$work/up.log" "$bin/clawgate-mock" --record "$work/up.jsonl" --reply "It is sunny in Paris." \
  --tool-call 'get_weather={"city":"Paris"}'
up=$url
cat >"$work/config.json" <<JSON
{"models": {"mode": "replace", "providers": {
   "down": {"baseUrl": "$down/v1", "models": [{"id": "m"}]},
   "up": {"baseUrl": "$up/v1", "models": [{"id": "m"}]}}},
 "agents": {"defaults": {"model": {"primary": "down/m", "fallbacks": ["up/m"]}}}}
JSON
start "$work/gateway.log" "$bin/clawgate" serve --port 0 --log-format text --config "$work/config.json"
node "$dir/ai_sdk.mjs" "$url" "$work/up.jsonl" || { tail -n 20 "$work/gateway.log" >&2; exit 1; }
