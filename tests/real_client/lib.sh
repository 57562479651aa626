# Shell helpers the real-client scripts share; sourced, not run.

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
