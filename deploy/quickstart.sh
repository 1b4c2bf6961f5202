#!/usr/bin/env bash
# deploy/quickstart.sh — the README's first command: install what casewatch needs, build it,
# start a private PostgreSQL and the embedded Kafka broker in a temp dir, run casewatchd on
# them, publish realistic generated events (with duplicates and bad input mixed in), show
# progress, then print what landed in PostgreSQL and where to look next. Stops everything it
# started, also on Ctrl-C. Keep the stack running for a look around with CW_KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)

EVENTS=${CW_EVENTS:-50000}
CASES=${CW_CASES:-4000}

if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    echo "== installing packages"
    apt-get update -qq
    apt-get install -y -qq build-essential cmake pkg-config libevent-dev librdkafka-dev \
        libprotobuf-c-dev protobuf-c-compiler libpq-dev libcunit1-dev libinih-dev libjson-c-dev kcat \
        postgresql protobuf-compiler >/dev/null
fi

echo "== building"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
export CW_BIN_DIR=$ROOT/build

STACK=$(mktemp -d /tmp/casewatch-quickstart-XXXXXX)
DAEMON_PID=
cleanup() {
    trap - EXIT INT TERM
    if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    if [ "${CW_KEEP:-0}" = 1 ]; then
        echo "stack kept in $STACK (stop it with deploy/stack-down.sh $STACK --purge)"
    else
        deploy/stack-down.sh "$STACK" --purge >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT
trap 'echo; echo "interrupted: stopping everything"; exit 130' INT TERM

echo "== starting a private PostgreSQL and the embedded broker in $STACK"
eval "$(deploy/stack-up.sh "$STACK")"
PSQL=(psql -X -q "$CW_PG_CONNINFO")

echo "== starting casewatchd (log: $STACK/casewatchd.log)"
build/casewatchd -c "$CW_CONFIG" >"$STACK/casewatchd.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do
    n=$("${PSQL[@]}" -tAc "SELECT count(*) FROM consumer_offsets" 2>/dev/null || echo 0)
    [ "${n:-0}" -gt 0 ] && break
    sleep 0.2
done

echo "== publishing $EVENTS events over $CASES cases (1 in 100 re-sent, 1 in 2000 garbage)"
build/casewatch-produce -b "$CW_KAFKA_BOOTSTRAP" -t casewatch.case-events \
    --events "$EVENTS" --cases "$CASES" --seed 42 --prefix demo --dup-every 100 \
    --bad-every 2000 --manifest "$STACK/published.tsv" >"$STACK/producer.out" &
PRODUCER=$!
while :; do
    applied=$("${PSQL[@]}" -tAc "SELECT count(*) FROM event_log" 2>/dev/null || echo 0)
    printf '\r   applied %6d / %d events' "$applied" "$EVENTS"
    if ! kill -0 "$PRODUCER" 2>/dev/null && [ "$applied" -ge "$EVENTS" ]; then
        break
    fi
    kill -0 "$DAEMON_PID" || { echo; echo "casewatchd exited"; cat "$STACK/casewatchd.log"; exit 1; }
    sleep 0.5
done
wait "$PRODUCER"
echo
cat "$STACK/producer.out"

echo
echo "== what landed in PostgreSQL"
"${PSQL[@]}" -P footer=off <<'SQL'
\echo 'events applied (each event_id once), by kind:'
SELECT kind, count(*) AS events FROM event_log GROUP BY kind ORDER BY 2 DESC;
\echo 'cases:'
SELECT count(*) AS cases, sum(event_count) AS events_counted,
       min(first_event_at)::date AS first_event, max(last_event_at)::date AS last_event
  FROM cases;
\echo 'dead letters (bad input, set aside with its reason):'
SELECT reason, detail, count(*) AS n, count(published_at) AS on_topic
  FROM dead_letters GROUP BY 1, 2 ORDER BY 3 DESC;
SQL
dup=$(grep -c . "$STACK/published.tsv")
echo "published distinct events: $dup; in event_log: $("${PSQL[@]}" -tAc "SELECT count(*) FROM event_log")"
echo
echo "== where to look next"
echo "   tables:  psql \"$CW_PG_CONNINFO\"  (event_log, cases, dead_letters, consumer_offsets)"
echo "   topics:  kcat -b $CW_KAFKA_BOOTSTRAP -L   |   kcat -b $CW_KAFKA_BOOTSTRAP -C -t casewatch.dead-letters -e -f '%h\\n'"
echo "   config:  $CW_CONFIG   log: $STACK/casewatchd.log"
echo "   (CW_KEEP=1 deploy/quickstart.sh keeps the stack running after this summary)"
