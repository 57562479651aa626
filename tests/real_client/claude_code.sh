#!/usr/bin/env bash
# The real Claude Code CLI (npm `@anthropic-ai/claude-code`, its native
# binary from the optional platform package) in print mode against a real
# `clawgate serve` backed by `clawgate-mock`, with one tool round trip: the
# mock asks for a Bash call first, Claude Code runs it, and the mock answers
# in text once the result is in. Then, through an alias, a provider whose
# streams break after their start: Claude Code gets an `error` event and
# asks again without streaming. Asserts on Claude Code's output and on what
# the mocks received; exits non-zero on failure.
#
#   bash tests/real_client/claude_code.sh target/debug
#
# The package is installed once into CLAWGATE_CLAUDE_CODE_DIR (default
# ~/.cache/clawgate/claude-code) and reused. CLAUDE_CODE_VERSION pins it.
set -euo pipefail
bin=$(cd "${1:-target/debug}" && pwd)
version=${CLAUDE_CODE_VERSION:-2.1.330}
cache=${CLAWGATE_CLAUDE_CODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/clawgate/claude-code}
started=$(date +%s)

case "$(uname -m)" in
  x86_64) platform=linux-x64 ;;
  aarch64 | arm64) platform=linux-arm64 ;;
  *) echo "claude_code.sh: no Claude Code build for $(uname -m)" >&2; exit 1 ;;
esac
claude="$cache/node_modules/@anthropic-ai/claude-code-$platform/claude"
installed=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' \
  "$cache/node_modules/@anthropic-ai/claude-code-$platform/package.json" 2>/dev/null || true)
if [ ! -x "$claude" ] || [ "$installed" != "$version" ]; then
  mkdir -p "$cache"
  # The native binary comes with the optional dependency; the package's
  # own Node wrapper (which wants Node 22) is not used.
  npm install --silent --no-audit --no-fund --engine-strict=false --prefix "$cache" \
    "@anthropic-ai/claude-code@$version" >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Starts a program in the background (logging to $1) and sets `url` to the
# URL it announces. Not run in a subshell, so cleanup knows its pid.
start() {
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  url=
  for _ in $(seq 1 200); do
    url=$(grep -o 'listening on http://[^ ]*' "$log" | head -n1 | sed 's/listening on //' || true)
    [ -n "$url" ] && return
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "claude_code.sh: $1 did not start:" >&2; cat "$log" >&2; exit 1
}

token=claude-code-gateway-token-31
start "$work/mock.log" "$bin/clawgate-mock" --record "$work/requests.jsonl" \
  --reply "Done: the command printed its number." \
  --tool-call 'Bash={"command":"echo clawgate-$((6*7))","description":"Print a marker"}'
mock=$url
start "$work/flaky.log" "$bin/clawgate-mock" --record "$work/flaky.jsonl" \
  --reply "Answered without streaming." --error-after-chunks 3 --fail-times 1 \
  --fail-message "engine hiccup"
flaky=$url
cat >"$work/config.json" <<JSON
{"gateway": {"auth": {"token": "$token"}},
 "models": {"mode": "replace", "providers": {
   "kimi": {"baseUrl": "$mock/v1", "models": [{"id": "k2"}]},
   "flaky": {"baseUrl": "$flaky/v1", "models": [{"id": "f"}]}}},
 "agents": {"defaults": {"model": {"primary": "kimi/k2"}, "models": {"flaky/f": {"alias": "flaky"}}}}}
JSON
start "$work/gateway.log" "$bin/clawgate" serve --port 0 --log-format text --config "$work/config.json"
gateway=$url

mkdir -p "$work/home" "$work/project"
# Runs Claude Code in print mode with `$@` as extra environment; its output
# goes to $work/$name.txt.
claude_code() {
  local name=$1 prompt=$2; shift 2
  (cd "$work/project" && env -i PATH="$PATH" HOME="$work/home" \
    ANTHROPIC_BASE_URL="$gateway" ANTHROPIC_AUTH_TOKEN="$token" \
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 "$@" \
    timeout 180 "$claude" -p "$prompt" --allowedTools Bash \
    >"$work/$name.txt" 2>"$work/$name.err") || {
    echo "claude_code.sh: Claude Code failed ($name):" >&2
    cat "$work/$name.txt" "$work/$name.err" "$work/gateway.log" >&2
    exit 1
  }
}
# No model variables: Claude Code sends its own claude-* ids, which the
# gateway serves with its default chain.
claude_code out "Run the marker command"
claude_code recovered "Say hello" ANTHROPIC_MODEL=flaky ANTHROPIC_DEFAULT_HAIKU_MODEL=flaky

python3 - "$work" "$token" <<'PY'
import json, sys
work, token = sys.argv[1], sys.argv[2]
out = open(f"{work}/out.txt").read()
requests = [json.loads(line) for line in open(f"{work}/requests.jsonl")]
log = open(f"{work}/gateway.log").read()
def check(ok, what):
    if not ok:
        print(f"claude_code.sh: {what}\n--- output\n{out}\n--- gateway log\n{log}", file=sys.stderr)
        sys.exit(1)
check("Done: the command printed its number." in out, "Claude Code did not print the final answer")
check(len(requests) == 2, f"the provider got {len(requests)} requests, not 2")
first, second = (r["body"] for r in requests)
check(first["stream"] is True and first["stream_options"] == {"include_usage": True}, "not streamed with usage")
check(any(t["function"]["name"] == "Bash" for t in first["tools"]), "the Bash tool was not offered")
check("x-anthropic-billing-header" not in json.dumps(first), "the billing header reached the provider")
check("cache_control" not in json.dumps(first), "cache_control reached the provider")
call, result = second["messages"][-2], second["messages"][-1]
check(call["tool_calls"][0]["id"] == "functions.Bash:0", f"the call's id did not come back: {call}")
check(result == {"role": "tool", "tool_call_id": "functions.Bash:0", "content": "clawgate-42"},
      f"the tool result is not the command's output: {result}")
check(token not in log, "the gateway token leaked into the log")
recovered = open(f"{work}/recovered.txt").read()
flaky = [json.loads(line)["body"] for line in open(f"{work}/flaky.jsonl")]
check("Answered without streaming." in recovered, f"Claude Code did not recover from the broken stream: {recovered}")
# The gateway streams every upstream call (it assembles a non-streaming
# answer itself), so what Claude Code sent is read from the access log.
check(len(flaky) == 2, f"the flaky provider got {len(flaky)} requests, not 2")
flaky_lines = [l for l in log.splitlines() if "POST /v1/messages" in l and 'model="flaky"' in l]
check(len(flaky_lines) == 2 and all(" 200 " in l for l in flaky_lines),
      f"not two answered requests for the flaky model: {flaky_lines}")
check("stream ended abnormally" in log, "the first stream did not break")
check("served by the default chain" in log, "the claude-* model was not served by the default chain")
PY
version_line=$("$claude" --version)
echo "claude-code $version_line: tool round trip and stream recovery passed in $(( $(date +%s) - started ))s"
