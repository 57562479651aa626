#!/usr/bin/env bash
# What one request of a scenario costs, counted rather than timed, in this
# build and in an earlier one (docs/performance.md, "Counted, not timed"):
# each clawgate of `cargo bench --bench nginx` runs under callgrind with a
# cache model whose last level is the size of the core's second level,
# the scenario is run with 400 and with 2,000 requests, and the
# difference of the two runs' counts over 1,600 is one request's.
#
#   benches/count.sh EARLIER_CLAWGATE "SCENARIO NAME OR A PART OF IT" [OUT_DIR]
#
# Needs valgrind and nginx-light; builds the benchmark (and this build's
# clawgate with it). The second level is 512 KB, 8 ways, unless
# CLAWGATE_COUNT_L2 says otherwise (`SIZE,WAYS,LINE`).
set -euo pipefail

earlier=${1:?the earlier build\'s clawgate binary}
scenario=${2:?a scenario\'s name, or a part of it}
out=${3:-$(mktemp -d)}
l2=${CLAWGATE_COUNT_L2:-524288,8,64}
earlier=$(realpath "$earlier")

bench=$(cargo bench --bench nginx --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*nginx[^"]*\)".*/\1/p' | tail -1)
[ -x "$bench" ] || { echo "count.sh: the nginx benchmark did not build" >&2; exit 1; }

for requests in 400 2000; do
    mkdir -p "$out/$requests"
    rm -f "$out/$requests"/cg.*
    CLAWGATE_BENCH_UNDER="valgrind --tool=callgrind --cache-sim=yes --LL=$l2 --callgrind-out-file=$out/$requests/cg.%p" \
        CLAWGATE_BENCH_AGAINST="$earlier" CLAWGATE_BENCH_ONLY="$scenario" \
        "$bench" "$requests" 8 1 1 >"$out/$requests/log" 2>&1 || true
    # The earlier build's row is there only when a scenario ran whole.
    if ! grep -q ', the earlier build |' "$out/$requests/log"; then
        echo "count.sh: no scenario named with \"$scenario\" ran; the benchmark said:" >&2
        tail -5 "$out/$requests/log" >&2
        exit 1
    fi
done

# One line a build: its counts in the 2,000-request run less those in the
# 400-request one, over 1,600.
awk -v earlier="$earlier" '
    FNR == 1 { build = "" }
    /^cmd:/ { build = (index($0, earlier) ? "earlier" : "this") }
    /^events:/ { for (i = 2; i <= NF; i++) name[i - 1] = $i }
    /^summary:/ {
        sign = (FILENAME ~ /\/2000\//) ? 1 : -1
        for (i = 2; i <= NF; i++) count[build, name[i - 1]] += sign * $i
    }
    END {
        printf "%-8s %12s %10s %10s %10s %10s\n", "build", "instructions", "L1 misses", "L2 misses", "of code", "of data"
        for (b = 1; b <= 2; b++) {
            build = (b == 1) ? "this" : "earlier"
            l1 = count[build, "I1mr"] + count[build, "D1mr"] + count[build, "D1mw"]
            code = count[build, "ILmr"]; data = count[build, "DLmr"] + count[build, "DLmw"]
            printf "%-8s %12.0f %10.0f %10.0f %10.0f %10.0f\n", build, count[build, "Ir"] / 1600, l1 / 1600, (code + data) / 1600, code / 1600, data / 1600
        }
    }
' "$out"/400/cg.* "$out"/2000/cg.*
echo "(callgrind's files: $out)"
