#!/usr/bin/env bash
# deploy/quickstart.sh — the README's first command. Installs what casewatch needs, builds it,
# starts a private PostgreSQL and the embedded Kafka-protocol broker in a temp dir, runs
# casewatchd on them, and streams about a simulated year of realistic case lifecycles from
# casewatch-gen (with duplicates, reordering, late events and garbage mixed in). Alerts are
# shown as they fire, one line each, with a progress line; then the board summary
# (casewatch-report), the alerts still firing, and where to look next. Stops everything it
# started, also on Ctrl-C. CW_KEEP=1 keeps all of it running afterwards (PostgreSQL, the broker
# and casewatchd serving its dashboard; deploy/stack-down.sh DIR --purge stops them).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd -P)

SCALE=${CW_SCALE:-0.04} # a twenty-fifth of national volume: ~9 new cases per working day
DAYS=${CW_DAYS:-365}

if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    echo "== installing packages"
    apt-get update -qq
    apt-get install -y -qq build-essential cmake pkg-config libevent-dev librdkafka-dev \
        libprotobuf-c-dev protobuf-c-compiler libpq-dev libcunit1-dev libinih-dev libjson-c-dev libsystemd-dev \
        kcat postgresql protobuf-compiler >/dev/null
fi

echo "== building"
cmake -S . -B build-quickstart -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-quickstart -j"$(nproc)" >/dev/null
BIN=$ROOT/build-quickstart
export CW_BIN_DIR=$BIN

STACK=$(mktemp -d /tmp/casewatch-quickstart-XXXXXX)
DAEMON_PID=
GEN_PID=
TAIL_PID=
SERVING=0 # 1: the summary is out and CW_KEEP=1: casewatchd goes on serving
cleanup() {
    trap - EXIT INT TERM
    for pid in $GEN_PID $TAIL_PID; do kill "$pid" 2>/dev/null || true; done
    pkill -f "tail -n \\+1 -f $STACK/casewatchd.log" 2>/dev/null || true
    if [ "$SERVING" = 1 ]; then
        return 0
    fi
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
# replaying a year in a minute: time is the events' own (the event clock), so "a child not
# seen within 10 working days" fires when the stream's time passes it, event or no event
cat >>"$CW_CONFIG" <<'INI'

[daemon]
clock = event
allowed_lateness_ms = 3600000
metrics_interval_ms = 2000
INI
PSQL=(psql -X -q "$CW_PG_CONNINFO")

echo "== starting casewatchd (log: $STACK/casewatchd.log)"
"$BIN/casewatchd" -c "$CW_CONFIG" >"$STACK/casewatchd.log" 2>&1 &
DAEMON_PID=$!
echo "$DAEMON_PID" >"$STACK/casewatchd.pid" # deploy/stack-down.sh stops it first
for _ in $(seq 150); do
    n=$("${PSQL[@]}" -tAc "SELECT count(*) FROM consumer_offsets" 2>/dev/null || echo 0)
    [ "${n:-0}" -gt 0 ] && break
    sleep 0.2
done

echo "== generating ${DAYS} simulated days (after a warm-up history) at scale ${SCALE}"
echo "   alerts as they fire, in simulated time: a line per month, then every alert of the"
echo "   last two weeks in full"
DETAIL=$(date -u -d "-14 days" +%F)
tail -n +1 -f "$STACK/casewatchd.log" 2>/dev/null | grep --line-buffered -E " alert a[0-9a-f]+ " |
    sed -u -E 's/^.* alert (a[0-9a-f]+) //' |
    awk -v detail="$DETAIL" '
        { m = substr($1, 1, 7)
          if (m != cur) {
              if (cur != "" && cur < substr(detail, 1, 7))
                  printf "   %s  %5d alerts fired (%d critical), %d resolved, %d reminders\n", cur, f, c, r, rm
              cur = m; f = c = r = rm = 0
          }
          if ($0 ~ / FIRING /) { f++; if ($3 == "critical") c++ }
          else if ($0 ~ / REMINDER /) rm++
          else r++
          if ($1 >= detail && $0 !~ / REMINDER /) print "   " $0
          fflush() }' &
TAIL_PID=$!
# the warm-up history goes at once; the simulated year is paced at about a year a minute,
# so every partition moves through time together and alerts appear as its time passes
"$BIN/casewatch-gen" --seed 42 --days "$DAYS" --warmup-days 730 --scale "$SCALE" \
    --speed "${CW_SPEED:-600000}" \
    --kafka "$CW_KAFKA_BOOTSTRAP" --dup-rate 0.005 --reorder-rate 0.005 --late-rate 0.002 \
    --bad-rate 0.0005 --truth "$STACK/truth.json" >"$STACK/gen.out" 2>&1 &
GEN_PID=$!
n=0
while kill -0 "$GEN_PID" 2>/dev/null; do
    sleep 1
    n=$((n + 1))
    if [ $((n % 15)) = 0 ]; then
        done_=$("${PSQL[@]}" -tAc "SELECT count(*) FROM event_log" 2>/dev/null || echo 0)
        echo "   … $done_ events applied so far"
    fi
done
wait "$GEN_PID"
GEN_PID=
total=$(( $(kcat -C -b "$CW_KAFKA_BOOTSTRAP" -t casewatch.case-events -e -q -f 'x\n' | wc -l) +
          $(kcat -C -b "$CW_KAFKA_BOOTSTRAP" -t casewatch.hearing-events -e -q -f 'x\n' | wc -l) ))
while :; do
    done_=$("${PSQL[@]}" -tAc "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE next_offset > 0")
    [ "$done_" -ge "$total" ] && break
    kill -0 "$DAEMON_PID" || { echo "casewatchd exited"; tail "$STACK/casewatchd.log"; exit 1; }
    sleep 0.5
done
echo "   all $total messages consumed and stored"
sleep 3 # one more metric snapshot: the area and worker rules run with it
kill "$TAIL_PID" 2>/dev/null || true
pkill -f "tail -n \\+1 -f $STACK/casewatchd.log" 2>/dev/null || true
TAIL_PID=

echo
echo "== the board summary"
"$BIN/casewatch-report" -c "$CW_CONFIG"

echo
echo "== alerts"
"${PSQL[@]}" -P footer=off -c "SELECT family, rule, severity, count(*) FILTER (WHERE state = 'firing') AS firing,
       count(*) FILTER (WHERE state = 'resolved') AS resolved
  FROM alerts GROUP BY 1, 2, 3 ORDER BY 1, 2"
echo "events: $(grep -o 'produced [^;]*\|[0-9]* events[^;]*' "$STACK/gen.out" | head -1)"
"${PSQL[@]}" -tAc "SELECT 'applied ' || count(*) || ' events; ' || (SELECT count(*) FROM dead_letters) || ' dead letters; ' || (SELECT count(*) FROM anomalies) || ' anomalies' FROM event_log"

echo
if [ "${CW_KEEP:-0}" != 1 ]; then
    echo "== done: casewatchd, PostgreSQL and the broker are stopped and removed now."
    echo "   CW_KEEP=1 deploy/quickstart.sh keeps all three running after this summary, with the"
    echo "   dashboard served at ${CW_ADMIN_URL} (and tells how to stop them)."
    exit 0
fi
SERVING=1
echo "== still running (CW_KEEP=1): casewatchd (pid $DAEMON_PID), PostgreSQL and the broker"
echo "   admin:   ${CW_ADMIN_URL}   (dashboard; /metrics, /alerts, /report, /readyz: README \"Admin API\")"
echo "   alerts:  $BIN/casewatch-alerts -c $CW_CONFIG list    (ack, assign, comment, silence: --help)"
echo "   topics:  kcat -b $CW_KAFKA_BOOTSTRAP -C -t casewatch.alerts -e -f '%k %h\\n'   (also casewatch.metrics, casewatch.dead-letters)"
echo "   tables:  psql \"$CW_PG_CONNINFO\"   (cases, agg_*, alerts, alert_history, dead_letters, …)"
echo "   config:  $CW_CONFIG   log: $STACK/casewatchd.log"
echo "   stop all of it: deploy/stack-down.sh $STACK --purge   (casewatchd first, then the broker and PostgreSQL)"
