#!/usr/bin/env bash
# The real Codex CLI (npm `@openai/codex`, its native binary from the
# optional platform package) in `codex exec --json` mode against a real
# `clawgate serve` backed by `clawgate-mock`, over the Responses API:
#
#   1. a plain answer (reasoning shown, usage in `turn.completed`);
#   2. the default chain, whose primary answers 503: the fallback asks for
#      an `exec_command` call, Codex runs it, and the output reaches the
#      provider as a tool message under the provider's own call id;
#   3. an unknown model: Codex's run ends with clawgate's message;
#   4. a model aliased as one Codex knows (`gpt-5.5`), for which Codex
#      offers `apply_patch` as a `custom` (free-form) tool: the mock calls
#      it, and Codex writes the file.
#
# Codex sends a client key of its own (`gateway.clients.codex`), and the
# ledger files every request under that client.
#
# Asserts on Codex's JSON events, on what the mocks received, on the
# gateway's access log and its ledger; exits non-zero on failure.
#
#   bash tests/real_client/codex.sh target/debug
#
# The package is installed once into CLAWGATE_CODEX_DIR (default
# ${CLAWGATE_CI_CACHE:-~/.cache/clawgate-ci}/codex) and reused; CODEX_VERSION
# pins it. Codex refuses a CODEX_HOME under /tmp for its helper binaries, so
# the run's files live under the cache directory too.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bin=$(cd "${1:-target/debug}" && pwd)
version=${CODEX_VERSION:-0.169.0}
cache=${CLAWGATE_CODEX_DIR:-${CLAWGATE_CI_CACHE:-$HOME/.cache/clawgate-ci}/codex}
started=$(date +%s)

codex=$(install_codex "$cache" "$version")

mkdir -p "$cache/runs"
work_dir "$cache/runs"

token=codex-gateway-token-53
# Codex runs with a client key of its own (gateway.clients), not the token.
codex_key=codex-client-key-0123456789abcdef
start "$work/plain.log" "$bin/clawgate-mock" --record "$work/plain.jsonl" \
  --reply "Hello from the plain mock." --reasoning "Codex asked for a greeting."
plain=$url
start "$work/down.log" "$bin/clawgate-mock" --record "$work/down.jsonl" \
  --fail-status 503 --fail-type server_error --fail-message "primary is down"
down=$url
start "$work/tools.log" "$bin/clawgate-mock" --record "$work/tools.jsonl" \
  --reply "Done: the command printed its number." \
  --tool-call 'exec_command={"cmd":"echo clawgate-$((6*7))"}'
tools=$url
start "$work/patch.log" "$bin/clawgate-mock" --record "$work/patch.jsonl" --reply "Patched." \
  --tool-call 'apply_patch={"input":"*** Begin Patch\n*** Add File: hello.txt\n+hello from clawgate\n*** End Patch\n"}'
patch=$url
cat >"$work/config.json" <<JSON
{"gateway": {"auth": {"token": "$token"},
   "clients": {"codex": {"key": "\${CODEX_KEY}", "limits": {"concurrentRequests": 4}}}},
 "models": {"mode": "replace", "providers": {
   "down": {"baseUrl": "$down/v1", "models": [{"id": "d"}]},
   "kimi": {"baseUrl": "$tools/v1", "models": [{"id": "k2"}]},
   "plain": {"baseUrl": "$plain/v1", "models": [{"id": "p"}]},
   "patch": {"baseUrl": "$patch/v1", "models": [{"id": "k"}]}}},
 "agents": {"defaults": {"model": {"primary": "down/d", "fallbacks": ["kimi/k2"]},
   "models": {"plain/p": {"alias": "plain"}, "patch/k": {"alias": "gpt-5.5"}}}}}
JSON
CODEX_KEY=$codex_key CLAWGATE_STATE_DIR=$work/state \
  start "$work/gateway.log" "$bin/clawgate" serve --port 0 --log-format text --config "$work/config.json"
gateway=$url gateway_pid=${pids[-1]}

mkdir -p "$work/home" "$work/codex-home" "$work/project"
cat >"$work/codex-home/config.toml" <<TOML
model_provider = "clawgate"

[model_providers.clawgate]
name = "clawgate"
base_url = "$gateway/v1"
env_key = "CLAWGATE_TOKEN"
wire_api = "responses"
TOML

# Runs `codex exec --json` with model $2 on prompt $3; its events go to
# $work/$1.events. The sandbox is bypassed: CI containers may lack what it
# needs, and the only command run is the mock's `echo`.
codex_exec() {
  local name=$1 model=$2 prompt=$3
  (cd "$work/project" && env -i PATH="$PATH" HOME="$work/home" CODEX_HOME="$work/codex-home" \
    CLAWGATE_TOKEN="$codex_key" timeout 120 "$codex" exec --json --skip-git-repo-check \
    --dangerously-bypass-approvals-and-sandbox -m "$model" "$prompt" \
    </dev/null >"$work/$name.events" 2>"$work/$name.err") || true
}
codex_exec plain plain "Say hello"
codex_exec tool default "Run the marker command"
codex_exec unknown gpt-nope "Say hello"
codex_exec patch gpt-5.5 "Add the file"

stop_gateway "$gateway_pid"
"$bin/clawgate" usage --ledger "$work/state/ledger.db" --since today --by client --json >"$work/usage.json"

python3 - "$work" "$codex_key" <<'PY'
import json, sys
work, token = sys.argv[1], sys.argv[2]
log = open(f"{work}/gateway.log").read()
def events(name):
    return [json.loads(line) for line in open(f"{work}/{name}.events") if line.startswith("{")]
def recorded(name):
    return [json.loads(line)["body"] for line in open(f"{work}/{name}.jsonl")]
def check(ok, what, name=None):
    if not ok:
        detail = open(f"{work}/{name}.events").read() + open(f"{work}/{name}.err").read() if name else ""
        print(f"codex.sh: {what}\n--- codex\n{detail}\n--- gateway log\n{log}", file=sys.stderr)
        sys.exit(1)
def items(evs, kind):
    return [e["item"] for e in evs if e["type"] == "item.completed" and e["item"]["type"] == kind]

# 1. A plain answer, its reasoning, and the usage Codex reads from
#    response.completed.
plain = events("plain")
check([m["text"] for m in items(plain, "agent_message")] == ["Hello from the plain mock."],
      "no plain answer", "plain")
check([r["text"] for r in items(plain, "reasoning")] == ["Codex asked for a greeting."],
      "the reasoning was not shown", "plain")
done = [e for e in plain if e["type"] == "turn.completed"]
check(len(done) == 1 and done[0]["usage"]["input_tokens"] > 0 and done[0]["usage"]["output_tokens"] > 0,
      f"no usage in turn.completed: {done}", "plain")
first = recorded("plain")[0]
check(first["stream"] is True and first["messages"][0]["role"] == "system",
      "Codex's developer instructions did not become the system message", "plain")
names = [t["function"]["name"] for t in first["tools"]]
check("exec_command" in names, f"exec_command not offered: {names}", "plain")
check(not any(t.get("type") != "function" for t in first["tools"]), "a hosted tool reached the provider", "plain")

# 2. The default chain falls over, and the tool round trip.
tool = events("tool")
runs = items(tool, "command_execution")
check(len(runs) == 1 and "clawgate-42" in runs[0]["aggregated_output"] and runs[0]["exit_code"] == 0,
      f"Codex did not run the command: {runs}", "tool")
check([m["text"] for m in items(tool, "agent_message")] == ["Done: the command printed its number."],
      "no final answer after the tool", "tool")
check(any(e["type"] == "turn.completed" for e in tool), "the tool turn did not complete", "tool")
check(len(recorded("down")) >= 2, "the primary was not tried first", "tool")
sent = recorded("tools")
check(len(sent) == 2, f"the fallback got {len(sent)} requests, not 2", "tool")
call, result = sent[1]["messages"][-2], sent[1]["messages"][-1]
check(call["role"] == "assistant" and call["tool_calls"][0]["id"] == "functions.exec_command:0",
      f"the call's id did not come back: {call}", "tool")
check(result["role"] == "tool" and result["tool_call_id"] == "functions.exec_command:0"
      and "clawgate-42" in result["content"], f"the tool result is not the command's output: {result}", "tool")
lines = [l for l in log.splitlines() if "POST /v1/responses 200" in l and 'answered_by="kimi/k2"' in l]
check(len(lines) == 2 and all("down/d:" in l for l in lines), f"the access lines do not show the fallback: {lines}")

# 3. An unknown model ends the run with clawgate's message.
unknown = events("unknown")
failed = [e for e in unknown if e["type"] == "turn.failed"]
check(len(failed) == 1 and "unknown model `gpt-nope`" in failed[0]["error"]["message"],
      f"the run did not end with clawgate's message: {failed}", "unknown")
check(log.count("POST /v1/responses 404") == 1, "Codex retried the unknown model")
check(token not in log, "Codex's client key leaked into the log")
# Every request is in the ledger under Codex's client, none under the token.
usage = json.load(open(f"{work}/usage.json"))
clients = {line["key"]: line["requests"] for line in usage["lines"]}
check(list(clients) == ["codex"] and clients["codex"] >= 4, f"not Codex's client in the ledger: {usage}")

# 4. A custom tool: apply_patch's free-form input as one string argument.
patch = events("patch")
changes = items(patch, "file_change")
check(len(changes) == 1 and changes[0]["status"] == "completed", f"no file change: {changes}", "patch")
check(open(f"{work}/project/hello.txt").read() == "hello from clawgate\n", "the patch was not applied", "patch")
sent = recorded("patch")
offered = [t["function"] for t in sent[0]["tools"] if t["function"]["name"] == "apply_patch"]
check(len(offered) == 1 and list(offered[0]["parameters"]["properties"]) == ["input"]
      and "grammar" in offered[0]["description"], f"apply_patch not offered as a function of one string: {offered}", "patch")
check(len(sent) == 2 and sent[1]["messages"][-1]["role"] == "tool"
      and "hello.txt" in sent[1]["messages"][-1]["content"], "the patch's result did not reach the provider", "patch")
check([m["text"] for m in items(patch, "agent_message")] == ["Patched."], "no answer after the patch", "patch")

# 5. One session per conversation (docs/sessions.md): each run's turns
#    share one, under Codex's client, and the three runs have three.
import re
def sessions(model):
    lines = [l for l in log.splitlines() if "clawgate::access" in l and "POST /v1/responses" in l
             and f'model="{model}"' in l]
    return [m.group(1) for l in lines for m in [re.search(r' session="([^"]*)"', l)] if m], len(lines)
runs = {model: sessions(model) for model in ["plain", "default", "gpt-5.5"]}
for model, (found, count) in runs.items():
    check(count >= 1 and len(found) == count and len(set(found)) == 1,
          f"the {model} run's {count} requests are not one session: {found}")
    check(found[0].startswith("codex/"), f"the {model} run's session is not Codex's client's: {found[0]}")
check(len({found[0] for found, _ in runs.values()}) == 3, f"three conversations are not three sessions: {runs}")
PY
echo "codex $version: plain answer, fallback with a tool round trip, unknown model, apply_patch, under its own client key, passed in $(( $(date +%s) - started ))s"
