#!/usr/bin/env bash
# The profile the release build is optimised with (profile-guided
# optimisation): the release build made instrumented, in a target directory
# of its own, its gateway sent what its users send (benches/train.rs), and
# its counts merged into one file, named by its content, whose path is
# printed last. Build with it, as the Nix package does on Linux:
#
#   RUSTFLAGS="-Cprofile-use=$(benches/pgo.sh)" cargo build --release
#
# The instrumented build is that same command's (the same packages,
# features and ambient RUSTFLAGS, which the final build must keep before
# -Cprofile-use), so that every function's counts find it: the training
# program, built with the dev-dependencies, runs it rather than its own.
# What the profile saves is in docs/performance.md. llvm-profdata must
# come from the LLVM rustc was built with (benches/llvm-profdata.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

profdata=$(bash benches/llvm-profdata.sh)

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
# Named by its content: cargo builds again what a changed -Cprofile-use
# flag builds, and would not notice new counts under an old name.
"$profdata" merge --output "$target/merged.profdata" "${counts[@]}" >&2
profile="$target/clawgate-$(sha256sum "$target/merged.profdata" | cut -c1-16).profdata"
rm -f "$target"/clawgate-*.profdata
mv "$target/merged.profdata" "$profile"
echo "$profile"
