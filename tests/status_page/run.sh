#!/usr/bin/env bash
# The status page in a real headless Chromium (Debian's `chromium`), driven
# over the DevTools protocol by cdp.mjs: a `clawgate serve` with a token, a
# ledger holding 29 earlier days (written into its rollups while it was
# stopped, so the restart rebuilds its totals from them) and live traffic
# through a chain whose primary fails at first (fallbacks, a cooldown), and a
# Kimi Coding account whose quota windows the page reads from the mock. The
# page's figures are checked against the ledger database, `clawgate usage`
# and the mock's windows; the screenshot is saved (default: the work directory; docs/ when
# STATUS_PAGE_SCREENSHOT says so).
#
#   bash tests/status_page/run.sh target/debug
set -euo pipefail
. "$(dirname "$0")/../real_client/lib.sh"
bin=$(cd "${1:-target/debug}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
chromium=${CHROMIUM:-$(command -v chromium || true)}
[ -x "$chromium" ] || { echo "status_page: chromium not found (apt-get install chromium)" >&2; exit 1; }
# Node 22 has WebSocket; Node 20 behind a flag. $NODE picks another node.
node=${NODE:-node}
command -v "$node" >/dev/null || { echo "status_page: node (20 or later) not found" >&2; exit 1; }
node_flags=()
"$node" -e 'if (typeof WebSocket !== "function") process.exit(1)' 2>/dev/null || node_flags=(--experimental-websocket)

work_dir
screenshot=${STATUS_PAGE_SCREENSHOT:-$work/status-page.png}

token=status-page-token-7f3a
start "$work/flaky.log" "$bin/clawgate-mock" --fail-status 503 --fail-times 3 \
  --fail-type engine_overloaded_error --reply "Answered by the primary."
flaky=$url
start "$work/backup.log" "$bin/clawgate-mock" --reply "Answered by the fallback, which costs more."
backup=$url
start "$work/kimi.log" "$bin/clawgate-mock" --weekly-quota 71/100 --five-hour-quota 17/20 \
  --quota-reset-seconds 221400
kimi=$url
cat >"$work/config.json" <<JSON
{"gateway": {"auth": {"token": "$token"}, "budgets": {"daily": 2, "monthly": 40, "providers": {"openrouter": {"daily": 0.5}}}},
 "models": {"mode": "replace", "providers": {
   "moonshot": {"baseUrl": "$flaky/v1", "models": [{"id": "kimi-k2.6", "cost": {"input": 950, "output": 4000, "cacheRead": 160}}]},
   "openrouter": {"baseUrl": "$backup/v1", "models": [{"id": "moonshotai/kimi-k2.6", "cost": {"input": 1900, "output": 8000}}]},
   "kimi": {"dialect": "kimi-coding", "baseUrl": "$kimi/v1", "apiKey": "sk-kimi-status-page", "quota": true,
            "models": [{"id": "k3", "reasoning": true}]}}},
 "agents": {"defaults": {"model": {"primary": "moonshot/kimi-k2.6", "fallbacks": ["openrouter/moonshotai/kimi-k2.6"]}}}}
JSON
export CLAWGATE_STATE_DIR=$work/state
ledger=$work/state/ledger.db

# First start: the ledger is created, with a request no target answers
# (an unknown model: its row has no model); stopped again to add history.
# The restart must not count that request as answered today.
start "$work/gateway0.log" "$bin/clawgate" serve --port 0 --log-format text --config "$work/config.json"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $token" -H 'content-type: application/json' \
  "$url/v1/chat/completions" -d '{"model":"nope/none","messages":[{"role":"user","content":"x"}]}')
[ "$code" = 404 ] || { echo "status_page: an unknown model answered $code" >&2; exit 1; }
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true
[ -f "$ledger" ] || { echo "status_page: no ledger at $ledger" >&2; cat "$work/gateway0.log" >&2; exit 1; }
python3 - "$ledger" <<'PY'
import sqlite3, sys, time, math
db = sqlite3.connect(sys.argv[1])
today = int(time.time() // 86400)
for back in range(1, 30):
    day = today - back
    # A working week's shape: quieter weekends, a busy spell mid-month.
    weekday = (day + 3) % 7
    base = 0.35 if weekday >= 5 else 1.1
    cost = round(base * (1 + 0.5 * math.sin(back / 4.0)) + 0.02 * (back % 7), 4)
    for model, provider, share, fallbacks in (("moonshot/kimi-k2.6", "moonshot", 0.8, 0),
                                              ("openrouter/moonshotai/kimi-k2.6", "openrouter", 0.2, 3)):
        requests = int(220 * share * (cost + 0.2))
        db.execute("""INSERT INTO daily (day, front_end, model, provider, agent, client, requests,
            failures, fallbacks, primary_failures, fallback_cost_usd, tokens_in, tokens_cached, tokens_out,
            tokens_reasoning, cost_usd, uncosted, total_ms, budget_cost_usd)
            VALUES (?,?,?,?,?,?,?,0,?,?,?,?,?,?,0,?,0,?,?)""",
            (day, "openai-chat", model, provider, "openclaw", "token", requests, fallbacks, fallbacks,
             cost * share if fallbacks else 0.0, requests * 900, requests * 300, requests * 150,
             cost * share, requests * 1400, cost * share))
db.commit()
PY

start "$work/gateway.log" "$bin/clawgate" serve --port 0 --log-format text --config "$work/config.json"
gateway=$url

send() {
  curl -sS --fail-with-body -o /dev/null -H "authorization: Bearer $token" -H "user-agent: openclaw/2026.9.6" \
    -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' -H "x-clawgate-session: ${3:-}" \
    "$gateway$1" -d "$2"
}
# The chat requests are two conversations' turns (an empty session header
# names none).
for i in $(seq 1 12); do
  stream=$([ $((i % 3)) -eq 0 ] && echo true || echo false)
  send /v1/chat/completions "{\"messages\":[{\"role\":\"user\",\"content\":\"request $i: how are the budgets?\"}],\"stream\":$stream}" \
    "conversation-$((i % 2))"
done
for i in 1 2 3; do
  send /v1/messages '{"model":"default","max_tokens":100,"messages":[{"role":"user","content":"hello from an Anthropic client"}]}'
done

# The rows are written off the request path: wait (bounded) until all 15
# are in.
for _ in $(seq 1 100); do
  written=$("$bin/clawgate" usage --json --since today --ledger "$ledger" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["requests"])')
  [ "$written" -ge 15 ] && break
  sleep 0.1
done
[ "$written" -ge 15 ] || { echo "status_page: only $written rows written" >&2; exit 1; }

# Unauthenticated, a browser gets the Basic prompt.
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'accept: text/html' "$gateway/")
[ "$code" = 401 ] || { echo "status_page: without the token the page answered $code" >&2; exit 1; }

# /v1/status reads the Kimi Coding quota and waits for it, so the page has
# it whatever the machine's load (the page itself waits only a second).
curl -sS --fail-with-body -o "$work/status.json" -H "authorization: Bearer $token" "$gateway/v1/status"

basic=$(printf 'me:%s' "$token" | base64 -w0)
"$node" "${node_flags[@]}" "$here/cdp.mjs" "$chromium" "$gateway/" "Basic $basic" "$screenshot" >"$work/page.json"
"$bin/clawgate" usage --json --since 30d --per day --ledger "$ledger" >"$work/usage.json"
"$bin/clawgate" usage --json --by session --since today --ledger "$ledger" >"$work/sessions.json"

python3 - "$work/page.json" "$ledger" "$work/usage.json" "$screenshot" "$work/sessions.json" <<'PY'
import json, sqlite3, sys, time, os
page = json.load(open(sys.argv[1]))
db = sqlite3.connect(sys.argv[2])
usage = json.load(open(sys.argv[3]))
screenshot = sys.argv[4]
sessions = json.load(open(sys.argv[5]))["sessions"]
today = int(time.time() // 86400)
def check(ok, what):
    if not ok:
        print(f"status_page: {what}\n--- page\n{json.dumps(page, indent=1)}", file=sys.stderr)
        sys.exit(1)
close = lambda a, b: abs(a - b) < 1e-9
check(page["status"] == 200, "the page did not load")
check(page["title"] == "clawgate status", "wrong page")
check(page["scripts"] == 0, "the page uses script")
check(page["refresh"] == "10", "the page does not refresh itself")
check("default-src 'none'" in (page["csp"] or ""), "no Content-Security-Policy")
spent, answered = db.execute(
    "SELECT COALESCE(SUM(cost_usd), 0), COALESCE(SUM(requests), 0) FROM daily WHERE day = ? AND model != ''",
    (today,)).fetchone()
check(close(float(page["spendToday"]), spent), f"spend today {page['spendToday']} != ledger {spent}")
check(int(page["requestsToday"]) == answered == 15, f"requests today {page['requestsToday']} != ledger {answered}")
unanswered = db.execute("SELECT SUM(requests) FROM daily WHERE day = ? AND model = ''", (today,)).fetchone()[0]
check(unanswered == 1, f"the unanswered request before the restart is not in the ledger ({unanswered})")
check(int(page["requestsLastHour"]) == 15, "the last hour's requests are not 15")
check(int(page["fallbacksLastHour"]) >= 1, "no fallback counted in the last hour")
check(page["p50"] and page["p99"] and int(page["p50"]) <= int(page["p99"]), "latency quantiles missing")
chain = [c["target"] for c in page["chain"]]
check(chain == ["moonshot/kimi-k2.6", "openrouter/moonshotai/kimi-k2.6"], f"chain {chain}")
# The chart: 30 bars, each the day's spend in the ledger and in `clawgate usage`.
bars = page["bars"]
check(len(bars) == 30, f"{len(bars)} bars")
per_day = {r[0]: r[1] for r in db.execute(
    "SELECT day, SUM(cost_usd) FROM daily WHERE model != '' AND day > ? GROUP BY day", (today - 30,))}
from datetime import date, timedelta
for bar in bars:
    day = (date.fromisoformat(bar["day"]) - date(1970, 1, 1)).days
    check(close(bar["usd"], per_day.get(day, 0.0)), f"bar {bar} != ledger {per_day.get(day)}")
usage_days = {line["period"]: line["costUsd"] for line in usage["lines"]}
for bar in bars:
    check(close(bar["usd"], usage_days.get(bar["day"], 0.0)), f"bar {bar} != clawgate usage")
tallest = max(bars, key=lambda b: b["usd"])
check(tallest["height"] > 100, "the largest day does not fill the chart")
# Budgets: today's and this month's spend as the ledger has them.
month_start = date.today().replace(day=1)
month_first = (month_start - date(1970, 1, 1)).days
month = db.execute("SELECT SUM(cost_usd) FROM daily WHERE model != '' AND day >= ?", (month_first,)).fetchone()[0]
check(close(page["budgets"][0], spent), "the daily budget's spend")
check(close(page["budgets"][1], month), "the monthly budget's spend")
# Quotas: the Kimi Coding account's windows as the mock serves them.
quotas = {q["window"]: q for q in page["quotas"] if q["provider"] == "kimi"}
check(set(quotas) == {"weekly", "5h"}, f"quota rows {page['quotas']}")
check(quotas["weekly"]["used"] == "71" and quotas["weekly"]["limit"] == "100", "the weekly window's use")
check(quotas["weekly"]["resets"] == "2d 13h", "the weekly window's reset")
check(quotas["5h"]["used"] == "17" and quotas["5h"]["limit"] == "20", "the 5-hour window's use")
check(all(q["state"] == "ok" for q in quotas.values()), "a window under its limit is not ok")
# Sessions: the two conversations, as `clawgate usage --by session` has them.
shown = sorted((s["session"], s["turns"], s["usd"]) for s in page["sessions"])
listed = sorted((s["session"], s["turns"], s["costUsd"]) for s in sessions)
# The requests sent without a session header have sessions derived from
# their start ("~..."); the two conversations are named.
shown = [s for s in shown if not s[0].startswith("~")]
listed = [s for s in listed if not s[0].startswith("~")]
check([s[:2] for s in shown] == [("conversation-0", 6), ("conversation-1", 6)], f"sessions {shown}")
check(len(shown) == len(listed) and all(a[:2] == b[:2] and close(a[2], b[2]) for a, b in zip(shown, listed)),
      f"sessions {shown} != clawgate usage {listed}")
check(os.path.getsize(screenshot) > 20_000, "the screenshot is empty")
print(f"status page: {answered} requests today, ${spent:.4f} today, 30 bars and 3 budgets agree with the ledger, "
      f"2 quota windows with the mock's; screenshot {screenshot}")
PY
