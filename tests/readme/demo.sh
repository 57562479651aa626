#!/usr/bin/env bash
# Runs README.md's keyless demo exactly as written (the block between
# `<!-- demo:start -->` and `<!-- demo:end -->`) from the root of the
# repository, and checks what it printed: the fallback answered through
# `agent`, curl and the OpenAI Python SDK. Anything the demo left running
# is stopped on exit.
#
#   bash tests/readme/demo.sh
#
# The SDK comes from $CLAWGATE_CI_VENV (default /tmp/clawgate-ci-venv, the
# one .ci/run creates) when it exists, else from the python3 on PATH.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${CLAWGATE_CI_VENV:-/tmp/clawgate-ci-venv}
[ -x "$venv/bin/python3" ] && export PATH="$venv/bin:$PATH"

demo=$(awk '/<!-- demo:start -->/ {inside=1; next} /<!-- demo:end -->/ {inside=0} inside' README.md \
  | sed -e '/^```/d')
[ -n "$demo" ] || { echo "no demo block in README.md" >&2; exit 1; }

output=$(mktemp)
# The demo's ledger is its own: a user's state directory (here a fresh
# one, with CLAWGATE_STATE_DIR unset as in a user's shell) stays empty.
user_state=$(mktemp -d)
# The block runs as one script in a process group of its own, so whatever
# it leaves behind can be found and stopped; `set -e` makes a failing step
# fail the test.
env -u CLAWGATE_STATE_DIR XDG_STATE_HOME="$user_state" \
  setsid bash -euo pipefail -c "$demo" >"$output" 2>&1 &
demo=$!
trap 'kill -- -"$demo" 2>/dev/null || true; rm -rf "$output" "$user_state"' EXIT
status=0
wait "$demo" || status=$?
if [ "$status" -ne 0 ]; then
  cat "$output"
  echo "FAILED: the README demo exited with status $status" >&2
  exit 1
fi

check() {
  grep -qF -- "$1" "$output" || {
    cat "$output"
    echo "FAILED: the demo's output lacks: $1" >&2
    exit 1
  }
}
check '"provider": "openrouter"'                 # agent --json: the fallback answered
check '"outcome": "provider_error"'              # after the primary's 503
check '"object":"chat.completion"'               # curl through clawgate serve
check 'openrouter/auto says:'                    # the OpenAI SDK
if [ -n "$(ls -A "$user_state")" ]; then
  echo "FAILED: the demo wrote into the user's state directory: $(ls -R "$user_state")" >&2
  exit 1
fi
# `kill` in the demo stopped everything it started: its group is empty.
for _ in $(seq 50); do
  kill -0 -- -"$demo" 2>/dev/null || break
  sleep 0.1
done
if kill -0 -- -"$demo" 2>/dev/null; then
  echo "FAILED: the demo left a process running" >&2
  exit 1
fi
echo "README demo: ok"
