#!/usr/bin/env bash
# The Nix checks that run without nixpkgs (Debian's nix-bin is enough):
# syntax of every .nix file, the pure test of the shared service definition,
# the flake.lock pins, and, when checkouts are available, the module
# evaluation suite (nix/tests/modules-eval.nix) and `nix flake check
# --no-build` with stand-in inputs.
#
# Checkouts: $CLAWGATE_NIXPKGS_LIB, $CLAWGATE_HOME_MANAGER, $CLAWGATE_CRANE
# and $CLAWGATE_NIX_OPENCLAW (directories), else git mirrors under ../.mirror
# or /work/.mirror as the search tool's fetch leaves them, else the
# `git archive` snapshots in $CLAWGATE_NIX_VENDOR (default ../shared/vendor,
# next to the clone, as CI has it: OWNER+REPO.tar.gz, test inputs only,
# unpacked into a scratch directory and never into the repository). Without
# nixpkgs.lib the evaluation steps say SKIP and why.
set -euo pipefail
cd "$(dirname "$0")/../.."
export NIX_CONFIG="experimental-features = nix-command"
passed=0
failed=0
pass() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
# In CI (CI=true) nothing may be skipped: the snapshots are there.
skip() { if [ "${CI:-}" = true ]; then fail "$1 (skipped in CI)"; else echo "SKIP $1"; fi; }

for file in $(git ls-files '*.nix'); do
  if nix-instantiate --parse "$file" >/dev/null; then pass "parse $file"; else fail "parse $file"; fi
done

if count=$(nix-instantiate --eval --strict nix/tests/service.nix); then
  pass "nix/tests/service.nix ($count checks)"
else
  fail "nix/tests/service.nix"
fi

if python3 - <<'PY'
import json
lock = json.load(open("flake.lock"))
assert lock["version"] == 7 and lock["root"] == "root", "flake.lock version"
pins = {
    "nixpkgs": ("NixOS", "nixpkgs", "391b592eb44808b3bd0cb80bb71b63a5a118b8bb"),
    "crane": ("ipetkov", "crane", "2c71e194474d13de031d729b729c968ddbe3507f"),
    "home-manager": ("nix-community", "home-manager", "ec1a8fdf74ed3f276148ee106299a2ba0e65d51f"),
}
root = lock["nodes"]["root"]["inputs"]
for name, (owner, repo, rev) in pins.items():
    node = lock["nodes"][root[name]]["locked"]
    assert (node["type"], node["owner"], node["repo"], node["rev"]) == ("github", owner, repo, rev), name
    assert node["narHash"].startswith("sha256-") and isinstance(node["lastModified"], int), name
assert lock["nodes"]["home-manager"]["inputs"]["nixpkgs"] == ["nixpkgs"], "home-manager follows nixpkgs"
assert lock["nodes"]["nixpkgs"]["original"]["ref"] == "nixpkgs-unstable"
PY
then pass "flake.lock pins nixpkgs, crane and home-manager"; else fail "flake.lock"; fi

# A directory holding the tree of a checkout: given, or unpacked from a git
# mirror (as the search tool's fetch leaves them: ../.mirror next to the
# repository, or /work/.mirror), or from a vendored snapshot.
vendor=${CLAWGATE_NIX_VENDOR:-../shared/vendor}
tree() {
  local given=$1 name=$2 out=$3 mirror
  if [ -n "$given" ] && [ -d "$given" ]; then echo "$given"; return; fi
  for mirror in "../.mirror/$name/repo" "/work/.mirror/$name/repo"; do
    if [ -d "$mirror" ]; then
      rm -rf "$out" && mkdir -p "$out"
      git --git-dir="$mirror" archive HEAD | tar -x -C "$out" && echo "$out"
      return
    fi
  done
  if [ -f "$vendor/$name.tar.gz" ]; then
    rm -rf "$out" && mkdir -p "$out"
    tar -xzf "$vendor/$name.tar.gz" -C "$out" && echo "$out"
  fi
}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
lib_tree=$(tree "${CLAWGATE_NIXPKGS_LIB:-}" nix-community+nixpkgs.lib "$scratch/nixpkgs.lib")
hm_tree=$(tree "${CLAWGATE_HOME_MANAGER:-}" nix-community+home-manager "$scratch/home-manager")
crane_tree=$(tree "${CLAWGATE_CRANE:-}" ipetkov+crane "$scratch/crane")
openclaw_tree=$(tree "${CLAWGATE_NIX_OPENCLAW:-}" openclaw+nix-openclaw "$scratch/nix-openclaw")

if [ -z "$lib_tree" ]; then
  skip "module evaluation suite (nix/tests/modules-eval.nix): no nixpkgs.lib checkout"
  echo "     (set CLAWGATE_NIXPKGS_LIB or CLAWGATE_NIX_VENDOR; $vendor has no nix-community+nixpkgs.lib.tar.gz)"
  skip "nix flake check --no-build: needs the same checkout"
  echo "nix: $passed passed, $failed failed (module evaluation skipped)"
  [ "$failed" -eq 0 ]
  exit
fi

args=(--arg nixpkgsLib "$lib_tree")
what="nixpkgs.lib"
for pair in "homeManager:$hm_tree:home-manager's systemd.nix, launchd and lib:CLAWGATE_HOME_MANAGER" \
            "crane:$crane_tree:crane's filesets:CLAWGATE_CRANE" \
            "nixOpenclaw:$openclaw_tree:nix-openclaw's home-manager module:CLAWGATE_NIX_OPENCLAW"; do
  IFS=: read -r arg dir desc var <<<"$pair"
  if [ -n "$dir" ]; then
    args+=(--arg "$arg" "$dir")
    what="$what, $desc"
  else
    echo "note: no $arg checkout (set $var); a stand-in is used for $desc"
  fi
done
if out=$(nix-instantiate --read-write-mode --eval --strict --json nix/tests/modules-eval.nix "${args[@]}"); then
  python3 -c 'import json,sys; [print("     -", n) for n in json.load(sys.stdin)]' <<<"$out"
  pass "module evaluation suite with $what ($(python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' <<<"$out") checks)"
else
  fail "module evaluation suite with $what"
fi

# `nix flake check --no-build` on this flake, every input overridden to a
# stand-in flake wrapped around nix/tests/stubs (and the real nixpkgs.lib,
# home-manager and crane trees): every output a user's `nix flake check`
# and `nix develop` force is evaluated, on every system, down to the
# derivations, which nothing here can build.
if [ -n "$hm_tree" ]; then
  stub() { # DIR: a flake source holding the stand-ins at their repo paths
    mkdir -p "$1/nix/tests"
    cp -r nix/tests/stubs "$1/nix/tests/" && cp nix/unit-file.nix "$1/nix/"
  }
  n="$scratch/stub-nixpkgs" c="$scratch/stub-crane" h="$scratch/stub-home-manager"
  stub "$n" && cp -r "$lib_tree/lib" "$n/"
  cat >"$n/flake.nix" <<'NIX'
{
  outputs = { self }:
    (import ./nix/tests/stubs/inputs.nix { lib = import ./lib; nixpkgsTree = ./.; }).nixpkgs;
}
NIX
  stub "$c"
  if [ -n "$crane_tree" ]; then mkdir -p "$c/lib" && cp -r "$crane_tree/lib/fileset" "$c/lib/"; fi
  cat >"$c/flake.nix" <<NIX
{
  outputs = { self }: {
    mkLib = pkgs: import ./nix/tests/stubs/crane.nix { inherit pkgs; crane = $([ -n "$crane_tree" ] && echo ./. || echo null); };
  };
}
NIX
  mkdir -p "$h" && cp -r "$hm_tree/modules" "$h/" && stub "$h"
  cat >"$h/flake.nix" <<'NIX'
{
  inputs.nixpkgs.url = "path:/nonexistent"; # follows clawgate's nixpkgs
  outputs = { self, nixpkgs }:
    (import ./nix/tests/stubs/inputs.nix {
      lib = import "${nixpkgs}/lib";
      nixpkgsTree = nixpkgs;
      homeManager = ./.;
    }).home-manager;
}
NIX
  flake_args=(--no-write-lock-file --override-input nixpkgs "path:$n" --override-input crane "path:$c"
    --override-input home-manager "path:$h" ${CLAWGATE_NIX_FLAGS:-})
  # First `nix eval` of every derivation path (it writes the files the
  # stand-ins create with builtins.toFile; Nix 2.8's `flake check --no-build`
  # evaluates read-only and would find them missing), then the check itself.
  drvs='set: builtins.mapAttrs (_: builtins.mapAttrs (_: d: d.drvPath)) set'
  evaluated=0 evaluation_failed=0
  for output in checks packages devShells formatter apps; do
    case $output in
      formatter) apply='set: builtins.mapAttrs (_: d: d.drvPath) set' ;;
      apps) apply='set: builtins.mapAttrs (_: builtins.mapAttrs (_: a: a.program)) set' ;;
      *) apply=$drvs ;;
    esac
    if out=$(nix --extra-experimental-features 'nix-command flakes' eval --json "${flake_args[@]}" \
        ".#$output" --apply "$apply" 2>"$scratch/eval.log"); then
      evaluated=$((evaluated + $(python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(len(v) if isinstance(v, dict) else 1 for v in d.values()))' <<<"$out")))
    else
      grep -v 'cache.nixos.org' "$scratch/eval.log" | tail -20
      fail "nix eval .#$output with stand-in inputs"
      evaluation_failed=1
    fi
  done
  [ "$evaluation_failed" -eq 1 ] || pass "nix eval of checks, packages, devShells, formatter and apps on every system with stand-in inputs ($evaluated derivations or programs)"
  if log=$(nix --extra-experimental-features 'nix-command flakes' flake check --no-build "${flake_args[@]}" . 2>&1); then
    pass "nix flake check --no-build with stand-in inputs"
  else
    echo "$log" | grep -v 'cache.nixos.org' | tail -20
    fail "nix flake check --no-build with stand-in inputs"
  fi
else
  skip "nix flake check --no-build: needs a home-manager checkout (set CLAWGATE_HOME_MANAGER)"
fi

# `clawgate openclaw provider` prints what nix/openclaw.nix computes, for the
# same settings (the binary from `cargo build`; CI builds it before this).
binary=${CLAWGATE_BIN:-target/debug/clawgate}
if [ -z "$lib_tree" ] || [ ! -x "$binary" ]; then
  skip "openclaw provider: Nix and binary agree (needs nixpkgs.lib and $binary)"
else
  agree=1
  for settings in \
    '{}' \
    '{"gateway": {"port": 18701, "auth": {"token": "${CLAWGATE_TOKEN}"}}, "agents": {"defaults": {"model": {"primary": "kimi-coding/k2p5", "fallbacks": ["openrouter/moonshotai/kimi-k2.6", "kimi/kimi-code"]}}}}' \
    '{"agents": {"defaults": {"model": "k", "models": {"kimi/k3": {"alias": "k"}}}}}' \
    '{"gateway": {"bind": "0.0.0.0", "auth": {"token": "${T}"}}, "models": {"providers": {"moonshot": {"models": [{"id": "kimi-k2.6", "contextWindow": 1000}]}}}}' \
    '{"models": {"mode": "replace", "providers": {"local": {"baseUrl": "http://127.0.0.1:9/v1", "models": [{"id": "m", "name": "Mine"}]}}}, "agents": {"defaults": {"model": "local/m"}}}' \
    '{"gateway": {"bind": "::1", "auth": {"token": "literal-token-abc"}}}' \
    '{"gateway": {"bind": "127.0.0.2", "auth": {"token": "abc-${SUFFIX}"}}}' \
    '{"models": {"providers": {"kimi-code": {"baseUrl": "http://127.0.0.1:9/v1", "models": [{"id": "kimi-for-coding", "maxTokens": 8192}]}, "mine": {"baseUrl": "https://api.moonshot.cn/v1", "models": [{"id": "kimi-k2.5"}]}}}, "agents": {"defaults": {"model": {"primary": "kimi-code/kimi-for-coding", "fallbacks": ["mine/kimi-k2.5"]}}}}'; do
    printf '%s' "$settings" >"$scratch/settings.json"
    from_nix=$(nix-instantiate --eval --strict --json -E "(import ./nix/openclaw.nix {
      lib = import $lib_tree/lib;
      catalog = builtins.fromJSON (builtins.readFile ./src/catalog/catalog.json);
      settings = builtins.fromJSON (builtins.readFile $scratch/settings.json);
    }).snippet") || { agree=0; echo "nix failed for $settings"; continue; }
    from_binary=$("$binary" openclaw provider --config "$scratch/settings.json" 2>/dev/null) \
      || { agree=0; echo "clawgate failed for $settings"; continue; }
    if ! python3 -c 'import json,sys; a,b=json.loads(sys.argv[1]),json.loads(sys.argv[2]); sys.exit(0 if a==b else 1)' "$from_nix" "$from_binary"; then
      agree=0
      echo "differ for $settings:"; echo " nix:     $from_nix"; echo " clawgate: $from_binary"
    fi
  done
  if [ "$agree" -eq 1 ]; then pass "openclaw provider: nix/openclaw.nix and clawgate agree on 8 configs"; else fail "openclaw provider: nix/openclaw.nix and clawgate agree"; fi
fi

echo "nix: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
