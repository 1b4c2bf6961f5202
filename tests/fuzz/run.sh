#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] — build the libFuzzer harnesses (clang, ASan/UBSan, in build-fuzz/)
# and run each for SECONDS (default 60) on a temporary copy of its seed corpus
# (tests/fuzz/corpus/<harness>/, never grown by a run). Prints per harness: executions,
# executions/s, coverage, crashes. Exits non-zero on any crash, leak, UBSan report or timeout;
# the reproducer is kept in build-fuzz/fuzz-artifacts/<harness>/ (run the harness on it).
#
# Installs nothing: it needs clang and libclang-rt-14-dev (libFuzzer and the sanitizer
# runtimes) and says so if they are missing. To regenerate the seeds after a contract change:
#   cmake --build build-fuzz --target gen_corpus && build-fuzz/tests/fuzz/gen_corpus tests/fuzz/corpus
# CW_FUZZ_ORDER=1 makes fuzz_casebook also check order independence (see fuzz_casebook.c);
# CW_FUZZ_HARNESSES="fuzz_casebook" runs a subset.
set -euo pipefail
cd "$(dirname "$0")/../.."

SECS=${1:-60}
case "$SECS" in '' | *[!0-9]*) echo "usage: tests/fuzz/run.sh [SECONDS]" >&2; exit 2 ;; esac
HARNESSES=${CW_FUZZ_HARNESSES:-fuzz_event fuzz_casebook} # or a subset, e.g. CW_FUZZ_HARNESSES=fuzz_casebook
BUILD=build-fuzz

fail() { echo "tests/fuzz/run.sh: FAIL: $*" >&2; exit 2; }

command -v clang >/dev/null 2>&1 || fail "clang not found (Debian: apt-get install clang libclang-rt-14-dev)"
TMP=$(mktemp -d /tmp/cw-fuzz-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\n
int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
    >"$TMP/probe.c"
clang -fsanitize=fuzzer,address,undefined "$TMP/probe.c" -o "$TMP/probe" >"$TMP/probe.log" 2>&1 ||
    { cat "$TMP/probe.log" >&2; fail "clang cannot link libFuzzer with ASan/UBSan (Debian: apt-get install libclang-rt-14-dev)"; }

echo "== fuzz build ($BUILD: clang, libFuzzer, ASan/UBSan)"
cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCW_FUZZ=ON -DCW_SANITIZE=ON -DCW_WERROR=OFF >/dev/null
# shellcheck disable=SC2086
cmake --build "$BUILD" -j"$(nproc)" --target $HARNESSES >/dev/null

status=0
for h in $HARNESSES; do
    seeds=tests/fuzz/corpus/$h
    [ -d "$seeds" ] || fail "no seed corpus $seeds"
    work=$TMP/$h
    mkdir -p "$work/corpus" "$work/artifacts"
    cp "$seeds"/* "$work/corpus/"
    echo "== $h: ${SECS}s on a copy of $seeds ($(ls "$seeds" | wc -l) seeds)"
    rc=0
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$BUILD/tests/fuzz/$h" -max_total_time="$SECS" -print_final_stats=1 -timeout=25 \
        -rss_limit_mb=2048 -artifact_prefix="$work/artifacts/" "$work/corpus" \
        >"$work/log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$work/log" | tail -1 | cut -d' ' -f2)
    corp=$(grep -o 'corp: [0-9]*' "$work/log" | tail -1 | cut -d' ' -f2)
    crashes=$(find "$work/artifacts" -type f | wc -l)
    reports=$(grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant failed' \
        "$work/log" || true)
    printf '%s: execs %s, execs/s %s, coverage %s edges (%s features, corpus %s), crashes %s\n' \
        "$h" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes"
    if [ "$rc" != 0 ] || [ "$crashes" != 0 ] || [ "$reports" != 0 ]; then
        status=1
        keep=$BUILD/fuzz-artifacts/$h
        mkdir -p "$keep"
        cp "$work"/artifacts/* "$keep/" 2>/dev/null || true
        cp "$work/log" "$keep/fuzz.log"
        echo "$h: FAILED (exit $rc); log and reproducers in $keep:" >&2
        grep -E -m1 -A30 'ERROR:|runtime error:|invariant failed' "$work/log" >&2 || tail -40 "$work/log" >&2
    fi
done
[ "$status" = 0 ] && echo "== fuzzing: no crash, leak or UBSan report"
exit "$status"
