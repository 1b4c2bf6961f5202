#!/usr/bin/env bash
# tests/run-all.sh — install what the tests need, build casewatch twice (release with
# -Werror; ASan/UBSan) and run every ctest suite: unit, integration (private PostgreSQL +
# embedded broker; test_it_offset_gap against a real Apache Kafka 4.4 node from Maven Central,
# deploy/kafka-up.sh), crash, fault and security suites; valgrind on the unit suites; then the
# libFuzzer harnesses for a bounded time. This is the README's test command and what .ci/run
# calls. Runs as root on a fresh Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS="build-essential cmake pkg-config libevent-dev librdkafka-dev libprotobuf-c-dev
      protobuf-c-compiler libpq-dev libcunit1-dev libinih-dev libjson-c-dev libsystemd-dev kcat postgresql
      protobuf-compiler python3-protobuf valgrind systemd chromium chromium-driver
      clang libclang-rt-14-dev openjdk-17-jre-headless maven prometheus"
if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $PKGS >/dev/null
fi
JOBS=$(nproc)

echo "== release build (-Wall -Wextra -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCW_WERROR=ON >/dev/null
cmake --build build -j"$JOBS"

echo "== unit and integration suites"
ctest --test-dir build --output-on-failure

echo "== unit suites under valgrind"
for t in build/test_*; do
    case "$(basename "$t")" in test_it_*) continue ;; esac
    [ -x "$t" ] || continue
    valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
        --error-exitcode=99 "$t" >/dev/null
    echo "valgrind clean: $(basename "$t")"
done

echo "== ASan/UBSan build: unit suites and the ingest, admin, store, retention and offset-gap integration suites"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCW_SANITIZE=ON -DCW_WERROR=ON >/dev/null
cmake --build build-asan -j"$JOBS"
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -L unit
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -R 'test_it_(ingest|admin|store|retention|offset_gap)'

echo "== libFuzzer harnesses under ASan/UBSan (60 s each)"
tests/fuzz/run.sh 60

echo "== all tests passed"
