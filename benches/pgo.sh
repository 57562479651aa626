#!/usr/bin/env bash
# The profile the release build is optimised with (profile-guided
# optimisation): the release build made instrumented, in a target directory
# of its own, its gateway sent what its users send (benches/train.rs), and
# its counts merged into one file, whose path is printed last. Build with
# it, as the Nix package does on Linux:
#
#   RUSTFLAGS="-Cprofile-use=$(benches/pgo.sh)" cargo build --release
#
# The instrumented build is that same command's (the same packages and
# features), so that every function's counts find it: the training
# program, built with the dev-dependencies, runs it rather than its own.
# What the profile saves is in docs/performance.md. llvm-profdata must
# come from the LLVM rustc was built with: $LLVM_PROFDATA, else the first of
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
# Build scripts write their counts beside the gateway's, which are the
# only ones merged.
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$target/raw/others" \
  CARGO_TARGET_DIR="$target/instrumented" cargo build --release --locked >&2
# The training program needs no optimising across crates.
CARGO_TARGET_DIR="$target/trainer" CARGO_PROFILE_BENCH_LTO=false \
  CARGO_PROFILE_BENCH_CODEGEN_UNITS=16 \
  CLAWGATE_TRAIN_GATEWAY="$target/instrumented/release/clawgate" \
  CLAWGATE_TRAIN_PROFILE="$target/raw/clawgate-%p.profraw" \
  cargo bench --locked --bench train >&2
counts=("$target"/raw/clawgate-*.profraw)
if [ ! -e "${counts[0]}" ]; then
  echo "benches/pgo.sh: the training run's gateway wrote no counts into $target/raw" >&2
  exit 1
fi
"$profdata" merge --output "$target/clawgate.profdata" "${counts[@]}" >&2
echo "$target/clawgate.profdata"
