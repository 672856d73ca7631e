#!/usr/bin/env bash
# Runs the libFuzzer targets `make fuzz` built, each for a bounded time, and says how far each got.
#
#   Tests/Fuzz/run.sh SECONDS TARGET...      (from `make fuzz`; FUZZ_BUILD=.build-fuzz, FUZZ_ARGS=extra flags)
#
# Each target fuzzes a working corpus under $FUZZ_BUILD/corpus/<target>/, topped up from the seed
# corpus Tests/Fuzz/Corpus/<target>/ on every run: what libFuzzer finds stays out of the repository
# (and accumulates across local runs; CI starts from the seeds). A crash, a timeout (one input over
# 10 s) or an out-of-memory stops that target, keeps the input under $FUZZ_BUILD/artifacts/<target>/,
# and makes the whole run fail once every target has had its turn.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

BUILD=${FUZZ_BUILD:-.build-fuzz}
EXTRA=${FUZZ_ARGS:-}
seconds=$1
shift

failed=0
summary=()
replays=()
for target in "$@"; do
    corpus="$BUILD/corpus/$target"
    artifacts="$BUILD/artifacts/$target"
    log="$BUILD/logs/$target.log"
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    cp Tests/Fuzz/Corpus/"$target"/* "$corpus"/
    dict=()
    [ -f "Tests/Fuzz/Dictionaries/$target.dict" ] && dict=("-dict=Tests/Fuzz/Dictionaries/$target.dict")

    echo "=== $target: fuzzing for ${seconds} s (corpus $corpus, log $log)"
    status=0
    # The Swift runtime's backtracer would symbolicate for a minute before libFuzzer sees the crash;
    # ASan and libFuzzer print the stack. The lines of each new input and libFuzzer's recommended
    # dictionary are left in the log.
    # shellcheck disable=SC2086
    SWIFT_BACKTRACE=enable=no "$BUILD/debug/$target" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" "${dict[@]}" $EXTRA "$corpus" >"$log" 2>&1 || status=$?
    awk '/^###### Recommended dictionary/ { skip = 1 } !skip && !/^#[0-9]+[[:space:]]+(NEW|REDUCE) / && !/^[[:space:]]+NEW_FUNC/ { print }
         /^###### End of recommended dictionary/ { skip = 0 }' "$log"

    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    coverage=$( (grep -oE 'cov: [0-9]+' "$log" || true) | tail -1 | cut -d' ' -f2)
    if [ "$status" -eq 0 ]; then
        result="ok"
    else
        failed=1
        artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
        result="FAILED (exit $status): ${artifact:-no input written, see $log}"
        if [ -n "$artifact" ]; then replays+=("SWIFT_BACKTRACE=enable=no $BUILD/debug/$target ${artifact#./}"); fi
    fi
    summary+=("$(printf '  %-22s %12s executions  cov %-6s %s' "$target" "${executions:-?}" "${coverage:-?}" "$result")")
done

echo
echo "=== fuzz summary (${seconds} s per target)"
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
    echo
    echo "Replay with the fuzz build (stack trace), or the normal build's replayer (swift run <target> FILE):"
    printf '    %s\n' "${replays[@]}"
    echo "Once fixed, keep the input as a regression test: cp FILE Tests/Fuzz/Corpus/<target>/crash-<what>"
    exit 1
fi
