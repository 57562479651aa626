#!/usr/bin/env bash
# The real Claude Code CLI (npm `@anthropic-ai/claude-code`, its native
# binary from the optional platform package) in print mode against a real
# `clawgate serve` backed by `clawgate-mock`, with one tool round trip: the
# mock asks for a Bash call first, Claude Code runs it, and the mock answers
# in text once the result is in. Then, through an alias, a provider whose
# streams break after their start: Claude Code gets an `error` event and
# asks again without streaming. Then the tool round trip again against a
# provider that speaks Anthropic Messages, which gets Claude Code's own body
# with the least change. Asserts on Claude Code's output and on what the
# mocks received. Last, Claude Code with a wrong gateway token, with a
# client's own key asking for a model it may not use, and with keys
# the provider refuses: each must end within 30 s with a message saying what
# to fix. Exits non-zero on failure.
#
#   bash tests/real_client/claude_code.sh target/debug
#
# The package is installed once into CLAWGATE_CLAUDE_CODE_DIR (default
# ~/.cache/clawgate/claude-code) and reused. CLAUDE_CODE_VERSION pins it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
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

work_dir

token=claude-code-gateway-token-31
start "$work/mock.log" "$bin/clawgate-mock" --record "$work/requests.jsonl" \
  --reply "Done: the command printed its number." \
  --tool-call 'Bash={"command":"echo clawgate-$((6*7))","description":"Print a marker"}'
mock=$url
start "$work/flaky.log" "$bin/clawgate-mock" --record "$work/flaky.jsonl" \
  --reply "Answered without streaming." --error-after-chunks 3 --fail-times 1 \
  --fail-message "engine hiccup"
flaky=$url
start "$work/anthropic.log" "$bin/clawgate-mock" --record "$work/anthropic.jsonl" \
  --reply "Done through the Anthropic transport." --cache-write-tokens 1234 \
  --tool-call 'Bash={"command":"echo clawgate-$((6*7))","description":"Print a marker"}'
anthropic=$url
cat >"$work/config.json" <<JSON
{"gateway": {"auth": {"token": "$token"}},
 "models": {"mode": "replace", "providers": {
   "kimi": {"baseUrl": "$mock/v1", "models": [{"id": "k2"}]},
   "flaky": {"baseUrl": "$flaky/v1", "models": [{"id": "f"}]},
   "kc": {"baseUrl": "$anthropic/", "api": "anthropic-messages", "apiKey": "sk-mock-anthropic",
          "dialect": "kimi-coding", "models": [{"id": "k2a", "reasoning": true, "maxTokens": 8192}]}}},
 "agents": {"defaults": {"model": {"primary": "kimi/k2"},
   "models": {"flaky/f": {"alias": "flaky"}, "kc/k2a": {"alias": "passthrough"}}}}}
JSON

start "$work/gateway.log" "$bin/clawgate" serve --port 0 --log-format text --config "$work/config.json"
gateway=$url gateway_pid=${pids[-1]}

mkdir -p "$work/home" "$work/project"
# Runs Claude Code in print mode with `$@` as extra environment; its output
# goes to $work/$name.txt.
claude_flags=()
claude_code() {
  local name=$1 prompt=$2; shift 2
  (cd "$work/project" && env -i PATH="$PATH" HOME="$work/home" \
    ANTHROPIC_BASE_URL="$gateway" ANTHROPIC_AUTH_TOKEN="$token" \
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 "$@" \
    timeout 180 "$claude" -p "$prompt" --allowedTools Bash "${claude_flags[@]}" \
    >"$work/$name.txt" 2>"$work/$name.err") || {
    echo "claude_code.sh: Claude Code failed ($name):" >&2
    cat "$work/$name.txt" "$work/$name.err" "$work/gateway.log" >&2
    exit 1
  }
}
# No model variables: Claude Code sends its own claude-* ids, which the
# gateway serves with its default chain.
claude_code out "Run the marker command"
# The same conversation again: Claude Code replays it from its transcript,
# which it joins by message id, so each answer's must be its own.
claude_flags=(--continue)
claude_code continued "Run it again please"
claude_flags=()
claude_code recovered "Say hello" ANTHROPIC_MODEL=flaky ANTHROPIC_DEFAULT_HAIKU_MODEL=flaky
# An Anthropic provider: Claude Code's own body passes through, and the
# provider's own events come back (its usage is read from the JSON result).
claude_flags=(--output-format json)
claude_code passed "Run the marker command" ANTHROPIC_MODEL=passthrough ANTHROPIC_DEFAULT_HAIKU_MODEL=passthrough

stop_gateway "$gateway_pid"

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
check(len(requests) == 4, f"the provider got {len(requests)} requests, not 4")
first, second = (r["body"] for r in requests[:2])
check(first["stream"] is True and first["stream_options"] == {"include_usage": True}, "not streamed with usage")
check(any(t["function"]["name"] == "Bash" for t in first["tools"]), "the Bash tool was not offered")
check("x-anthropic-billing-header" not in json.dumps(first), "the billing header reached the provider")
check("cache_control" not in json.dumps(first), "cache_control reached the provider")
call, result = second["messages"][-2], second["messages"][-1]
check(call["tool_calls"][0]["id"] == "functions.Bash:0", f"the call's id did not come back: {call}")
check(result == {"role": "tool", "tool_call_id": "functions.Bash:0", "content": "clawgate-42"},
      f"the tool result is not the command's output: {result}")
check(token not in log, "the gateway token leaked into the log")
# The continued turn replays the first as it went: the call, its result,
# then the answer, each once (answers that shared a message id were
# merged: the answer before the result, and a turn Claude Code made up).
replayed = [m for m in requests[2]["body"]["messages"] if m["role"] != "system"]
shape = [(m["role"], bool(m.get("tool_calls"))) for m in replayed]
check(shape == [("user", False), ("assistant", True), ("tool", False), ("assistant", False), ("user", False)],
      f"the continued history is not the first turn in order: {replayed}")
check("Done: the command printed its number." in json.dumps(replayed[3])
      and "Done:" not in json.dumps(replayed[1]), f"the first answer is out of place: {replayed}")
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
# One session per conversation (docs/sessions.md): each run's requests
# share Claude Code's session, and the three runs have three.
import re
def sessions(asked):
    lines = [l for l in log.splitlines() if "clawgate::access" in l and "POST /v1/messages " in l and asked(l)]
    return [m.group(1) for l in lines for m in [re.search(r' session="([^"]*)"', l)] if m], len(lines)
runs = {
    "out": sessions(lambda l: 'model="claude-' in l),
    "recovered": sessions(lambda l: 'model="flaky"' in l),
    "passed": sessions(lambda l: 'model="passthrough"' in l),
}
for name, (found, count) in runs.items():
    check(count >= 2 and len(found) == count and len(set(found)) == 1,
          f"the {name} run's {count} requests are not one session: {found}")
check(len({found[0] for found, _ in runs.values()}) == 3, f"three conversations are not three sessions: {runs}")

passed = json.load(open(f"{work}/passed.txt"))
sent = [json.loads(line) for line in open(f"{work}/anthropic.jsonl")]
check("Done through the Anthropic transport." in passed["result"], f"no final answer through the Anthropic provider: {passed}")
# The provider's events reached Claude Code as they came: the cache writes
# it reported are in Claude Code's usage, and the thinking it replays on
# the second turn carries the provider's signature.
check(passed["usage"]["cache_creation_input_tokens"] >= 1234, f"no cache writes in Claude Code's usage: {passed['usage']}")
check([r["path"] for r in sent] == ["/v1/messages"] * 2, f"not two Messages requests: {[r['path'] for r in sent]}")
first, second = (r["body"] for r in sent)
check(first["model"] == "k2a" and first["stream"] is True and first["max_tokens"] <= 8192,
      f"model, stream or limit not the target's: {first['model']} {first.get('stream')} {first['max_tokens']}")
for dropped in ["x-anthropic-billing-header", "context_management", "output_config"]:
    check(dropped not in json.dumps(first), f"{dropped} reached the Anthropic provider")
# Claude Code's cache breakpoints are carried to an Anthropic target (docs/translation.md).
check("cache_control" in json.dumps(first), "Claude Code's cache_control did not reach the Anthropic provider")
check(all(m["role"] in ("user", "assistant") for r in (first, second) for m in r["messages"]),
      "a system message reached the Anthropic provider")
check(any(t["name"] == "Bash" for t in first["tools"]), "the Bash tool was not passed on")
check(all("input_schema" in t for t in first["tools"]), "a server tool was passed on")
uses = [b for m in second["messages"] if m["role"] == "assistant" and isinstance(m["content"], list)
        for b in m["content"] if b["type"] == "tool_use"]
results = [b for m in second["messages"] if m["role"] == "user" and isinstance(m["content"], list)
           for b in m["content"] if b["type"] == "tool_result"]
check(len(uses) == 1 and len(results) == 1, f"not one call and one result: {uses} {results}")
thinking = [b for m in second["messages"] if m["role"] == "assistant" and isinstance(m["content"], list)
            for b in m["content"] if b["type"] == "thinking"]
check([b.get("signature") for b in thinking] == ["mock-signature"],
      f"the replayed thinking does not carry the provider's signature: {thinking}")
# Passed, not translated: the ids are the ones Claude Code was given (a
# translation would restore the provider's own `functions.Bash:0`).
check(uses[0]["id"].startswith("cgid_") and results[0]["tool_use_id"] == uses[0]["id"],
      f"the call and its result do not pair up: {uses[0]['id']} {results[0]['tool_use_id']}")
check("clawgate-42" in json.dumps(results[0]["content"]), f"the tool result is not the output: {results[0]}")
PY
# Never silent: a wrong gateway token, then providers that refuse
# clawgate's keys. Each ends within 30 s with a message naming the fix.
start "$work/refusing.log" "$bin/clawgate-mock" --require-key the-right-provider-key
refusing=$url
cat >"$work/refusing.json" <<JSON
{"gateway": {"auth": {"token": "\${CLAWGATE_TOKEN}"},
   "clients": {"ci": {"key": "\${CI_KEY}", "models": ["kimi/k2"]}}},
 "models": {"mode": "replace", "providers": {
   "kimi": {"baseUrl": "$refusing/v1", "apiKey": "\${KIMI_API_KEY}", "models": [{"id": "k2"}, {"id": "k3"}]}}},
 "agents": {"defaults": {"model": {"primary": "kimi/k2"}}}}
JSON
ci_key=claude-code-client-key-0123456789
CLAWGATE_TOKEN=$token KIMI_API_KEY=sk-refused-key CI_KEY=$ci_key \
  start "$work/refusing-gateway.log" "$bin/clawgate" serve --port 0 --log-format text --config "$work/refusing.json"
refusing_gateway=$url
# Runs Claude Code expecting it to fail: name, then env; at most 30 s.
fails_with() {
  local name=$1 expected=$2; shift 2
  local began=$(date +%s) status=0
  (cd "$work/project" && env -i PATH="$PATH" HOME="$work/home" ANTHROPIC_BASE_URL="$refusing_gateway" \
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 "$@" timeout 30 "$claude" -p "Say hello" \
    >"$work/$name.txt" 2>&1) || status=$?
  if [ "$status" -eq 0 ] || [ "$status" -eq 124 ] || ! grep -qF "$expected" "$work/$name.txt"; then
    echo "claude_code.sh: $name: exit $status after $(( $(date +%s) - began ))s, not a prompt failure saying: $expected" >&2
    cat "$work/$name.txt" "$work/refusing-gateway.log" >&2
    exit 1
  fi
}
fails_with refused-keys "kimi/k2 answered 401 (the key in KIMI_API_KEY)" ANTHROPIC_AUTH_TOKEN="$token"
# (Claude Code prints its own "Not logged in · Please run /login" instead of
# a 401's message when the message names x-api-key.)
fails_with wrong-token "the key sent is not one this clawgate knows" ANTHROPIC_AUTH_TOKEN=not-the-token
grep -q "WARN.*request refused (401): the key sent is neither gateway.auth.token nor a client's key" "$work/refusing-gateway.log" \
  || { echo "claude_code.sh: no WARN line for the wrong token" >&2; cat "$work/refusing-gateway.log" >&2; exit 1; }
# A client with its own key, kept to kimi/k2, asking for kimi/k3: a 403
# that Claude Code prints at once (x-should-retry: false), not retries.
fails_with not-allowed "client ci may not use model" ANTHROPIC_AUTH_TOKEN="$ci_key" \
  ANTHROPIC_MODEL=kimi/k3 ANTHROPIC_DEFAULT_HAIKU_MODEL=kimi/k3
if grep -q "sk-refused-key\|$token\|$ci_key" "$work/wrong-token.txt" "$work/refused-keys.txt" \
  "$work/not-allowed.txt" "$work/refusing-gateway.log"; then
  echo "claude_code.sh: a key or the token leaked" >&2; exit 1
fi

# Auto mode (docs/claude-code.md): its server-side check (`safeguards`,
# with the home and working directories) is refused with a 400 before any
# provider sees it, and Claude Code then checks the action itself, with
# requests of its own that the default chain answers. Without
# CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC, which turns that check off.
start "$work/auto.log" "$bin/clawgate-mock" --record "$work/auto.jsonl" \
  --reply "Done in auto mode." \
  --tool-call 'Bash={"command":"echo clawgate-$((6*7))","description":"Print a marker"}'
auto=$url
cat >"$work/auto.json" <<JSON
{"gateway": {"auth": {"token": "$token"}},
 "models": {"mode": "replace", "providers": {
   "kc": {"baseUrl": "$auto/", "api": "anthropic-messages", "apiKey": "sk-mock-anthropic",
          "dialect": "kimi-coding", "models": [{"id": "k2a", "reasoning": true, "maxTokens": 8192}]}}},
 "agents": {"defaults": {"model": {"primary": "kc/k2a"}}}}
JSON
start "$work/auto-gateway.log" "$bin/clawgate" serve --port 0 --log-format text --config "$work/auto.json"
auto_gateway=$url auto_pid=${pids[-1]}
(cd "$work/project" && env -i PATH="$PATH" HOME="$work/home" ANTHROPIC_BASE_URL="$auto_gateway" \
  ANTHROPIC_AUTH_TOKEN="$token" ANTHROPIC_MODEL=kc/k2a ANTHROPIC_DEFAULT_HAIKU_MODEL=kc/k2a \
  timeout 180 "$claude" -p "Run the marker command" --permission-mode auto \
  >"$work/auto.txt" 2>&1) || {
  echo "claude_code.sh: Claude Code failed in auto mode:" >&2
  cat "$work/auto.txt" "$work/auto-gateway.log" >&2
  exit 1
}
stop_gateway "$auto_pid"
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
out, log = open(f"{work}/auto.txt").read(), open(f"{work}/auto-gateway.log").read()
sent = open(f"{work}/auto.jsonl").read()
def check(ok, what):
    if not ok:
        print(f"claude_code.sh: auto mode: {what}\n--- output\n{out}\n--- gateway log\n{log}", file=sys.stderr)
        sys.exit(1)
check("Done in auto mode." in out, "Claude Code did not finish")
check("clawgate-42" in sent, "the command's output did not reach the provider: the action did not run")
check("POST /v1/messages 400" in log, "the check was not refused")
check("safeguards" not in sent and "classifier_context" not in sent, "the check's context reached the provider")
PY

version_line=$("$claude" --version)
echo "claude-code $version_line: tool round trips (OpenAI and Anthropic providers), stream recovery, auto mode's check, a wrong token, refused keys and a client's model refused passed in $(( $(date +%s) - started ))s"
