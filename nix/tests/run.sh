#!/usr/bin/env bash
# The Nix checks that run without nixpkgs (Debian's nix-bin is enough):
# syntax of every .nix file, the pure test of the shared service definition,
# the flake.lock pins, and the modules evaluated with nixpkgs.lib (and
# home-manager's systemd.nix) when checkouts of those are available.
#
# Checkouts: $CLAWGATE_NIXPKGS_LIB and $CLAWGATE_HOME_MANAGER (directories),
# or git mirrors under ../.mirror as the search tool's fetch leaves them.
set -euo pipefail
cd "$(dirname "$0")/../.."
export NIX_CONFIG="experimental-features = nix-command"
passed=0
failed=0
pass() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

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

# A directory holding the tree of a checkout: given, or unpacked from a mirror.
tree() {
  local given=$1 mirror=$2 out=$3
  if [ -n "$given" ] && [ -d "$given" ]; then echo "$given"; return; fi
  if [ -d "$mirror" ]; then
    rm -rf "$out" && mkdir -p "$out"
    git --git-dir="$mirror" archive HEAD | tar -x -C "$out" && echo "$out"
  fi
}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
lib_tree=$(tree "${CLAWGATE_NIXPKGS_LIB:-}" ../.mirror/nix-community+nixpkgs.lib/repo "$scratch/nixpkgs.lib")
hm_tree=$(tree "${CLAWGATE_HOME_MANAGER:-}" ../.mirror/nix-community+home-manager/repo "$scratch/home-manager")

if [ -z "$lib_tree" ]; then
  echo "SKIP module evaluation: no nixpkgs.lib checkout (set CLAWGATE_NIXPKGS_LIB); a fresh machine has none"
else
  args=(--arg nixpkgsLib "$lib_tree")
  what="nixpkgs.lib"
  if [ -n "$hm_tree" ]; then
    args+=(--arg homeManager "$hm_tree")
    what="nixpkgs.lib and home-manager's systemd.nix"
  else
    echo "note: no home-manager checkout (set CLAWGATE_HOME_MANAGER); the user unit is checked against a stand-in"
  fi
  if out=$(nix-instantiate --read-write-mode --eval --strict --json nix/tests/modules-eval.nix "${args[@]}"); then
    pass "modules evaluated with $what ($(python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' <<<"$out") checks)"
  else
    fail "modules evaluated with $what"
  fi
fi

# The flake's system-independent outputs, with every input overridden to a
# local tree (packages and checks need nixpkgs' package set: not here).
crane_tree=$(tree "${CLAWGATE_CRANE:-}" ../.mirror/ipetkov+crane/repo "$scratch/crane")
if [ -n "$lib_tree" ] && [ -n "$hm_tree" ] && [ -n "$crane_tree" ]; then
  if names=$(nix --extra-experimental-features 'nix-command flakes' eval --json --no-write-lock-file \
      --override-input nixpkgs "path:$lib_tree" --override-input crane "path:$crane_tree" \
      --override-input home-manager "path:$hm_tree" \
      .#homeManagerModules --apply 'ms: builtins.attrNames ms' 2>/dev/null) \
    && [ "$names" = '["clawgate","default"]' ]; then
    pass "flake outputs evaluate with local inputs (homeManagerModules: $names)"
  else
    fail "flake outputs evaluate with local inputs"
  fi
else
  echo "SKIP flake output evaluation: needs nixpkgs.lib, crane and home-manager checkouts"
fi

echo "nix: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
