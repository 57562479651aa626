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
