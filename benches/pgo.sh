#!/usr/bin/env bash
# The profile the release build is optimised with (profile-guided
# optimisation): this workspace built instrumented, in a target directory
# of its own, its gateway sent what its users send (benches/train.rs), and
# the gateway's counts merged into one file, whose path is printed last.
# Build with it, as the Nix package does:
#
#   RUSTFLAGS="-Cprofile-use=$(benches/pgo.sh)" cargo build --release
#
# What it saves is in docs/performance.md. llvm-profdata must come from
# the LLVM rustc was built with: $LLVM_PROFDATA, else the first of
# llvm-profdata-N, /usr/lib/llvm-N/bin/llvm-profdata, rustup's llvm-tools
# and llvm-profdata that reports LLVM N, rustc's LLVM major version.
set -euo pipefail
cd "$(dirname "$0")/.."

major=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
host=$(rustc -vV | sed -n 's/^host: //p')
profdata=${LLVM_PROFDATA:-}
if [ -z "$profdata" ]; then
  for candidate in "llvm-profdata-$major" "/usr/lib/llvm-$major/bin/llvm-profdata" \
    "$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata" llvm-profdata; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" --version 2>/dev/null | grep -q "LLVM version $major\."; then
      profdata=$(command -v "$candidate")
      break
    fi
  done
fi
if [ -z "$profdata" ]; then
  echo "benches/pgo.sh: no llvm-profdata of LLVM $major, the LLVM of rustc: install llvm-$major" \
    "(Debian), or run 'rustup component add llvm-tools', or set LLVM_PROFDATA" >&2
  exit 1
fi

target=$(realpath -m "${CARGO_TARGET_DIR:-target}")/pgo
rm -rf "$target/raw"
mkdir -p "$target/raw"
# Build scripts and the training program write their counts beside the
# gateway's, which are the only ones merged.
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$target/raw/others" \
  CARGO_TARGET_DIR="$target" CLAWGATE_TRAIN_PROFILE="$target/raw/clawgate-%p.profraw" \
  cargo bench --locked --bench train >&2
counts=("$target"/raw/clawgate-*.profraw)
if [ ! -e "${counts[0]}" ]; then
  echo "benches/pgo.sh: the training run's gateway wrote no counts into $target/raw" >&2
  exit 1
fi
"$profdata" merge --output "$target/clawgate.profdata" "${counts[@]}" >&2
echo "$target/clawgate.profdata"
