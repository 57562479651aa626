#!/usr/bin/env bash
# Prints the path of an llvm-profdata of the LLVM rustc was built with
# (its major version N), which benches/pgo.sh merges the counts with:
# $LLVM_PROFDATA, else the first of llvm-profdata-N,
# /usr/lib/llvm-N/bin/llvm-profdata, rustup's llvm-tools and
# llvm-profdata that reports LLVM N. Exits 1, saying how to get one,
# when there is none.
set -euo pipefail

major=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
host=$(rustc -vV | sed -n 's/^host: //p')
profdata=${LLVM_PROFDATA:-}
if [ -n "$profdata" ] && ! command -v "$profdata" >/dev/null 2>&1; then
  echo "benches/llvm-profdata.sh: LLVM_PROFDATA=$profdata is no program" >&2
  exit 1
fi
if [ -z "$profdata" ]; then
  # `grep -q` would stop reading early, and the program's SIGPIPE fail
  # the pipe under pipefail.
  for candidate in "llvm-profdata-$major" "/usr/lib/llvm-$major/bin/llvm-profdata" \
    "$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata" llvm-profdata; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" --version 2>/dev/null | grep "LLVM version $major\." >/dev/null; then
      profdata=$(command -v "$candidate")
      break
    fi
  done
fi
if [ -z "$profdata" ]; then
  echo "benches/llvm-profdata.sh: no llvm-profdata of LLVM $major, the LLVM of rustc: install llvm-$major" \
    "(Debian), or run 'rustup component add llvm-tools', or set LLVM_PROFDATA" >&2
  exit 1
fi
echo "$profdata"
