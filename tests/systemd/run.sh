#!/usr/bin/env bash
# End-to-end test under a real systemd: a Debian bookworm container
# (debootstrap + systemd-nspawn) boots systemd as PID 1, and clawgate runs as
# alice's user service (linger), from the unit rendered out of the same
# nix/service.nix the Nix modules use, with its secret in an EnvironmentFile
# (mode 0600), in front of two clawgate-mock upstreams whose primary fails.
#
# Needs root, debootstrap, systemd-nspawn and nix-instantiate. Usage:
#   sudo tests/systemd/run.sh [BIN_DIR]   (default target/debug)
# The base tree is cached in $CLAWGATE_E2E_CACHE (default
# /var/cache/clawgate-e2e) and copied for each run.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
bin_dir=$(realpath "${1:-target/debug}")
cache=${CLAWGATE_E2E_CACHE:-/var/cache/clawgate-e2e}
secret="sk-e2e-secret-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"

for tool in debootstrap systemd-nspawn nix-instantiate; do
  command -v "$tool" >/dev/null || { echo "systemd e2e: $tool is missing" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "systemd e2e: must run as root" >&2; exit 1; }
for binary in clawgate clawgate-mock; do
  [ -x "$bin_dir/$binary" ] || { echo "systemd e2e: $bin_dir/$binary is not built" >&2; exit 1; }
done

base="$cache/bookworm"
if [ ! -x "$base/usr/bin/curl" ]; then
  echo "systemd e2e: building the base tree in $base (about a minute)"
  rm -rf "$base" && mkdir -p "$cache"
  debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,dbus-user-session,procps,curl \
    bookworm "$base" http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log"; exit 1; }
fi

work=$(mktemp -d /var/tmp/clawgate-e2e.XXXXXX)
[ -n "${CLAWGATE_E2E_KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
root="$work/root"
cp -a "$base" "$root"
rm -f "$root/etc/machine-id"
systemd-machine-id-setup --root="$root" >/dev/null
chroot "$root" useradd --create-home --uid 1000 --shell /bin/bash alice
install -m 755 "$bin_dir/clawgate" "$bin_dir/clawgate-mock" "$root/usr/local/bin/"

home="$root/home/alice"
units="$home/.config/systemd/user"
mkdir -p "$units" "$home/.config/clawgate"

# The unit under test, from the shared definition.
nix-instantiate --eval --strict --json --expr '
  import ./nix/unit-file.nix (import ./nix/service.nix {
    command = [ "/usr/local/bin/clawgate" "serve" "--config" "%h/.config/clawgate/config.json" "--log-level" "info" ];
    environmentFiles = [ "%h/.config/clawgate/secrets.env" ];
    kill = "/bin/kill";
  })' | python3 -c 'import json, sys; sys.stdout.write(json.load(sys.stdin))' >"$units/clawgate.service"

for mock in "primary 9001 --fail-status 503 --fail-type server_error" \
            "backup 9002 --require-key $secret --reply answer-from-the-fallback"; do
  set -- $mock
  name=$1 port=$2
  shift 2
  cat >"$units/mock-$name.service" <<UNIT
[Service]
ExecStart=/usr/local/bin/clawgate-mock --listen 127.0.0.1:$port $*
UNIT
done

config() {
  cat <<JSON
{
  "models": { "mode": "replace", "providers": {
    "kimi": { "baseUrl": "http://127.0.0.1:9001/v1", "apiKey": "\${MOCK_KEY}", "models": [{ "id": "kimi-for-coding" }] },
    "openrouter": { "baseUrl": "http://127.0.0.1:9002/v1", "apiKey": "\${MOCK_KEY}", "models": [{ "id": "moonshotai/kimi-k2.6" }] }
  } },
  "agents": { "defaults": {
    "model": { "primary": "kimi/kimi-for-coding", "fallbacks": ["openrouter/moonshotai/kimi-k2.6"] },
    "models": { "openrouter/moonshotai/kimi-k2.6": { "alias": "$1" } }
  } }
}
JSON
}
config before-reload >"$home/.config/clawgate/config.json"
config after-reload >"$home/.config/clawgate/config.reloaded.json"
printf 'MOCK_KEY=%s\n' "$secret" >"$home/.config/clawgate/secrets.env"
chmod 600 "$home/.config/clawgate/secrets.env"
chroot "$root" chown -R alice:alice /home/alice

# The driver runs inside, as a oneshot system unit, and writes its findings
# to /e2e for this script to judge.
cat >"$root/usr/local/bin/clawgate-e2e" <<'DRIVER'
#!/bin/bash
set -u
out=/e2e
mkdir -p $out
exec >$out/driver.log 2>&1
set -x
alice() { runuser -u alice -- env XDG_RUNTIME_DIR=/run/user/1000 "$@"; }
result() { echo "$1=$2" >>$out/results; }
ask() {
  curl -sS -m 20 -D $out/headers.$1 -o $out/body.$1 -H 'content-type: application/json' \
    -d "{\"model\":\"$2\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" \
    http://127.0.0.1:18700/v1/chat/completions
  echo $?
}
wait_for() { for _ in $(seq 1 100); do "$@" && return 0; sleep 0.2; done; return 1; }

loginctl enable-linger alice
systemctl start user@1000.service
alice systemctl --user daemon-reload
alice systemctl --user start mock-primary.service mock-backup.service
wait_for curl -s -o /dev/null http://127.0.0.1:9001/v1/models
wait_for curl -s -o /dev/null http://127.0.0.1:9002/v1/models

alice systemctl --user start clawgate.service
result start_exit $?
result active "$(alice systemctl --user is-active clawgate.service)"
result status_text "$(alice systemctl --user show -p StatusText --value clawgate.service)"
result type "$(alice systemctl --user show -p Type --value clawgate.service)"
# With Type=notify, `start` returns only after READY=1, which clawgate sends
# once its listener is bound: the port must answer at once, without a retry.
result healthz_at_active "$(curl -s -o /dev/null -m 5 http://127.0.0.1:18700/healthz; echo $?)"

result first_request "$(ask first default)"
# STATUS= follows the traffic (clawgate looks every 5 s and sends changes).
status_moved() { alice systemctl --user show -p StatusText --value clawgate.service | grep -q 'req/h'; }
wait_for status_moved
result status_after_traffic "$(alice systemctl --user show -p StatusText --value clawgate.service)"
# The request is in alice's usage ledger (~/.local/state/clawgate).
ledger_rows() { runuser -u alice -- env HOME=/home/alice /usr/local/bin/clawgate usage --json --since today 2>/dev/null | grep -q '"requests": 1,'; }
wait_for ledger_rows && result ledger_request yes || result ledger_request no

cp /home/alice/.config/clawgate/config.reloaded.json /home/alice/.config/clawgate/config.json
pid_before_reload=$(alice systemctl --user show -p MainPID --value clawgate.service)
alice systemctl --user reload clawgate.service
result reload_exit $?
wait_for sh -c 'runuser -u alice -- env XDG_RUNTIME_DIR=/run/user/1000 journalctl --user -u clawgate.service --no-pager | grep -q "config reloaded"'
result reloaded_request "$(ask reloaded after-reload)"
result pid_after_reload_same "$([ "$(alice systemctl --user show -p MainPID --value clawgate.service)" = "$pid_before_reload" ] && echo yes || echo no)"

# A key rotated in the env file, which EnvironmentFile= also gave the
# process at start, is taken on a reload: a wrong one makes the fallback
# refuse it, the right one put back serves again.
reloaded() { [ "$(alice journalctl --user -u clawgate.service --no-pager | grep -c "config reloaded")" -ge "$1" ]; }
secrets=/home/alice/.config/clawgate/secrets.env
cp -p $secrets $secrets.right
printf 'MOCK_KEY=sk-e2e-rotated-to-a-wrong-key\n' >$secrets
alice systemctl --user reload clawgate.service
wait_for reloaded 2
result rotated_request "$(ask rotated after-reload)"
cp -p $secrets.right $secrets
alice systemctl --user reload clawgate.service
wait_for reloaded 3
result rotated_back_request "$(ask rotated-back after-reload)"

kill -9 "$pid_before_reload"
restarted() {
  local pid
  pid=$(alice systemctl --user show -p MainPID --value clawgate.service)
  [ "$pid" != 0 ] && [ "$pid" != "$pid_before_reload" ] && alice systemctl --user is-active -q clawgate.service
}
wait_for restarted && result restarted yes || result restarted no
result restarts "$(alice systemctl --user show -p NRestarts --value clawgate.service)"
wait_for curl -s -o /dev/null http://127.0.0.1:18700/healthz
result after_restart_request "$(ask restarted default)"

alice systemctl --user status clawgate.service --no-pager >$out/status.txt
result final_status_exit $?
# Every field of every entry clawgate or systemd wrote about the unit.
alice journalctl --user -u clawgate.service --no-pager -o verbose >$out/journal.txt
systemctl poweroff
DRIVER
chmod 755 "$root/usr/local/bin/clawgate-e2e"
cat >"$root/etc/systemd/system/clawgate-e2e.service" <<'UNIT'
[Unit]
Description=clawgate end-to-end driver
After=multi-user.target systemd-logind.service

[Service]
Type=oneshot
ExecStart=/usr/local/bin/clawgate-e2e
TimeoutStartSec=240

[Install]
WantedBy=multi-user.target
UNIT
ln -s /etc/systemd/system/clawgate-e2e.service "$root/etc/systemd/system/multi-user.target.wants/clawgate-e2e.service"

echo "systemd e2e: booting the container"
started=$(date +%s)
if ! timeout 280 systemd-nspawn --quiet --register=no --keep-unit --private-network -D "$root" -b \
    >"$work/console.log" 2>&1 </dev/null; then
  echo "systemd e2e: the container did not shut down cleanly" >&2
fi
echo "systemd e2e: container ran $(( $(date +%s) - started ))s"

e2e="$root/e2e"
failures=0
checks=0
get() { sed -n "s/^$1=//p" "$e2e/results" 2>/dev/null | head -1; }
check() {
  checks=$((checks + 1))
  if [ "$2" = ok ]; then echo "ok   $1"; else echo "FAIL $1"; failures=$((failures + 1)); fi
}
verdict() { if eval "$1"; then echo ok; else echo no; fi; }

check "the driver ran" "$(verdict '[ -s "$e2e/results" ]')"
check "systemctl --user start returned success" "$(verdict '[ "$(get start_exit)" = 0 ]')"
check "the unit became active" "$(verdict '[ "$(get active)" = active ]')"
check "StatusText came from clawgate over sd_notify" "$(verdict '[[ "$(get status_text)" == "serving on 127.0.0.1:18700; chain kimi/kimi-for-coding -> openrouter/moonshotai/kimi-k2.6" ]]')"
check "Type=notify: active only once clawgate was serving (READY=1 after bind)" \
  "$(verdict '[ "$(get type)" = notify ] && [ "$(get healthz_at_active)" = 0 ]')"
check "STATUS= changed after traffic: requests, the fallback, spend" \
  "$(verdict '[[ "$(get status_after_traffic)" =~ ^1\ req/h,\ 1\ fallback,\ .*\$0\.00\ today$ ]]')"
check "clawgate usage reads the request from the user's ledger" "$(verdict '[ "$(get ledger_request)" = yes ]')"
check "a chat completion was answered" "$(verdict '[ "$(get first_request)" = 0 ] && grep -q answer-from-the-fallback "$e2e/body.first"')"
check "the fallback answered (headers)" "$(verdict 'grep -qi "^x-clawgate-provider: openrouter" "$e2e/headers.first" && grep -qi "^x-clawgate-attempts: 2" "$e2e/headers.first"')"
check "the journal has the failed attempt" "$(verdict 'grep -q "MESSAGE=attempt failed: kimi/kimi-for-coding (http://127.0.0.1:9001/v1/chat/completions): provider_error: 503 injected failure; next: next" "$e2e/journal.txt" && grep -q "F_ANSWERED_BY=openrouter/moonshotai/kimi-k2.6" "$e2e/journal.txt"')"
check "the journal does not contain the secret" "$(verdict '[ -s "$e2e/journal.txt" ] && ! grep -qF "$secret" "$e2e/journal.txt"')"
check "systemctl --user reload re-read the config" \
  "$(verdict '[ "$(get reload_exit)" = 0 ] && [ "$(get reloaded_request)" = 0 ] && grep -q "^HTTP/1.1 200" "$e2e/headers.reloaded"')"
check "reload kept the same process" "$(verdict '[ "$(get pid_after_reload_same)" = yes ]')"
check "a key rotated in the EnvironmentFile is taken on a reload" \
  "$(verdict '[ "$(get rotated_request)" = 0 ] && ! grep -q "^HTTP/1.1 200" "$e2e/headers.rotated" && [ "$(get rotated_back_request)" = 0 ] && grep -q "^HTTP/1.1 200" "$e2e/headers.rotated-back"')"
check "kill -9 of the main process led to a restart" "$(verdict '[ "$(get restarted)" = yes ] && [ "$(get restarts)" -ge 1 ]')"
check "requests are served after the restart" "$(verdict '[ "$(get after_restart_request)" = 0 ] && grep -q answer-from-the-fallback "$e2e/body.restarted"')"
check "systemctl --user status is active at the end" \
  "$(verdict '[ "$(get final_status_exit)" = 0 ] && grep -q "Active: active (running)" "$e2e/status.txt"')"

passed=$(( checks - failures ))
if [ "$failures" -gt 0 ]; then
  echo "--- results"; cat "$e2e/results" 2>/dev/null || true
  echo "--- driver log"; tail -60 "$e2e/driver.log" 2>/dev/null || true
  echo "--- clawgate journal"; cat "$e2e/journal.txt" 2>/dev/null || true
  echo "--- console"; tail -40 "$work/console.log"
fi
echo "systemd e2e: $passed passed, $failures failed"
[ "$failures" -eq 0 ]
