#!/usr/bin/env bash
# bench.sh — the casewatch benchmark (issue [D]): in one run on one machine, side by side,
#   (a) kcat -C raw read rate of the input topics (the broker ceiling)
#   (b) casewatch-naive: one PostgreSQL transaction per event (the baseline)
#   (c) casewatchd end-to-end durable throughput on the same stream
#   (d) event -> alert latency p50/p99 at a steady 10k events/s (casewatch-latency), against a
#       casewatchd on the wall clock with its own empty topics and a fresh database: one event
#       in 10 raises alerts (two notifications) and is timed, the others open cases quietly
#   (e) RSS per open case with 1M open cases, and the reload time of those cases
#   (f) the ratios c/a and c/b
# and prints a table with the targets (PASS/MISS), also saved to BUILD_DIR/bench-results.txt.
#
# Owns a temp dir (mktemp /tmp/cw-bench-XXXXXX) holding a private PostgreSQL and broker
# (stack-up.sh), daemon configs and logs; everything it starts is stopped on exit, also on
# Ctrl-C (BENCH_KEEP=1 keeps the directory, stopped). Runs as root or as a normal user.
#
# Knobs (environment): BENCH_SCALE (generator volume, default 1 = ~550k messages),
# BENCH_DAYS (120), BENCH_PARTS (32 per input topic), BENCH_NAIVE_SECONDS (20),
# BENCH_LAT_RATE (10000), BENCH_LAT_SECONDS (20), BENCH_LAT_EVERY (10: one event in N raises
# alerts), BENCH_LAT_PARTS (4: partitions of (d)'s topics), BENCH_LAT_LINGER (5: the sender's
# linger.ms), BENCH_LAT_RATE2 (1000: a second, informative latency run in which every event raises
# alerts, 10 s; 0 skips it), BENCH_BATCH (batch_max_events, default the daemon's),
# BENCH_SEED_CASES (1000000),
# BENCH_C_CLOCK (casewatchd's clock in (c): event, the replay mode, by default; wall replays
# four months of history against today and turns every past obligation into an alert),
# BENCH_PROFILE=1 (perf record -g of casewatchd during (c) and pg_stat_statements; the
# profile slows (c), so its figure is then not comparable), BENCH_KEEP=1.
set -euo pipefail

PROG=bench.sh
usage() {
    sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    echo "usage: $PROG BUILD_DIR"
}
case "${1:-}" in
'') usage >&2; exit 2 ;;
-h | --help) usage; exit 0 ;;
esac
BUILD=$(cd "$1" && pwd -P)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
for b in casewatchd casewatch-broker casewatch-gen casewatch-naive casewatch-latency \
    casewatch-seed-cases; do
    [ -x "$BUILD/$b" ] || { echo "$PROG: $BUILD/$b not built" >&2; exit 1; }
done
for t in kcat psql awk; do
    command -v "$t" >/dev/null || { echo "$PROG: $t not found (install it)" >&2; exit 1; }
done
export CW_BIN_DIR=$BUILD

SCALE=${BENCH_SCALE:-1}
DAYS=${BENCH_DAYS:-120}
PARTS=${BENCH_PARTS:-32}
NAIVE_SECONDS=${BENCH_NAIVE_SECONDS:-20}
LAT_RATE=${BENCH_LAT_RATE:-10000}
LAT_EVERY=${BENCH_LAT_EVERY:-10}
LAT_PARTS=${BENCH_LAT_PARTS:-4}
LAT_LINGER=${BENCH_LAT_LINGER:-5}
LAT_SECONDS=${BENCH_LAT_SECONDS:-20}
LAT_RATE2=${BENCH_LAT_RATE2:-1000}
SEED_CASES=${BENCH_SEED_CASES:-1000000}
PROFILE=${BENCH_PROFILE:-0}
T_CASE=casewatch.case-events
T_HEAR=casewatch.hearing-events
T_DCASE=bench.d.case-events # empty topics for (d): only the latency events flow there
T_DHEAR=bench.d.hearing-events
T_ECASE=bench.e.case-events # empty topics for (e): the daemon loads cases, consumes nothing
T_EHEAR=bench.e.hearing-events
C_CLOCK=${BENCH_C_CLOCK:-event}
RESULTS=$BUILD/bench-results.txt

TMP=$(mktemp -d /tmp/cw-bench-XXXXXX)
chmod 711 "$TMP"
STACK=$TMP/stack
DAEMON_PIDS=()
OTHER_PIDS=()

log() { printf '%s bench: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for pid in ${OTHER_PIDS[@]+"${OTHER_PIDS[@]}"}; do kill -INT "$pid" 2>/dev/null || true; done
    for pid in ${DAEMON_PIDS[@]+"${DAEMON_PIDS[@]}"}; do stop_daemon "$pid"; done
    if [ -d "$STACK" ]; then
        if [ "${BENCH_KEEP:-0}" = 1 ]; then
            "$here/stack-down.sh" "$STACK" >/dev/null 2>&1 || true
        else
            "$here/stack-down.sh" "$STACK" --purge >/dev/null 2>&1 || true
        fi
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

now() { date +%s.%N; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
fdiv() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.6g", a / b; else print "nan" }'; }
alive() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

stop_daemon() { # pid: TERM, wait up to 15 s, then KILL
    local pid=$1 i
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 150); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
}

# ---- the stack ----------------------------------------------------------------------------
log "starting PostgreSQL and the broker in $STACK"
"$here/stack-up.sh" "$STACK" \
    --topic "$T_CASE:$PARTS" --topic "$T_HEAR:$PARTS" --topic casewatch.dead-letters:4 \
    --topic casewatch.alerts:4 --topic casewatch.metrics:1 \
    --topic "$T_DCASE:$LAT_PARTS" --topic "$T_DHEAR:$LAT_PARTS" \
    --topic "$T_ECASE:$PARTS" --topic "$T_EHEAR:$PARTS" >"$TMP/stack.out"
# shellcheck disable=SC1091
. "$STACK/stack.env"
B=$CW_KAFKA_BOOTSTRAP
PGBASE="host=$CW_PG_SOCKDIR port=$CW_PG_PORT user=postgres"
sql() { psql "$PGBASE dbname=${2:-postgres}" -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
conninfo() { echo "$PGBASE dbname=$1"; }

if [ "$PROFILE" = 1 ]; then
    log "profiling: loading pg_stat_statements (restart)"
    sql "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
    "$here/pg-down.sh" "$STACK/pg" >/dev/null 2>&1
    "$here/pg-up.sh" "$STACK/pg" >/dev/null
fi

write_cfg() { # file db group topics [clock] [consumer fetch.wait.max.ms]
    cat >"$1" <<EOF
[daemon]
log_level = info
${BENCH_BATCH:+batch_max_events = $BENCH_BATCH}
clock = ${5:-wall}

[postgres]
conninfo = $(conninfo "$2")

[topics]
events = $4
dead_letter = casewatch.dead-letters
alerts = casewatch.alerts
metrics = casewatch.metrics

[kafka]
bootstrap.servers = $B
group.id = $3
session.timeout.ms = 6000
heartbeat.interval.ms = 500

[admin]
listen = 127.0.0.1:0
EOF
    if [ -n "${6:-}" ]; then printf '\n[kafka.consumer]\nfetch.wait.max.ms = %s\n' "$6" >>"$1"; fi
}

DAEMON_PID=
start_daemon() { # cfg log
    "$BUILD/casewatchd" -c "$1" >"$2" 2>&1 &
    DAEMON_PID=$!
    DAEMON_PIDS+=("$DAEMON_PID")
}

wait_log() { # file pattern timeout_s pid
    local i
    for i in $(seq 1 $(($3 * 10))); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        alive "$4" || { echo "$PROG: casewatchd exited; its log:" >&2; tail -n 30 "$1" >&2; return 1; }
        sleep 0.1
    done
    echo "$PROG: timeout waiting for '$2' in $1" >&2
    tail -n 30 "$1" >&2
    return 1
}

log_ts() { # the time (epoch s) of the first log line matching pattern
    local line
    line=$(grep -m1 "$2" "$1" | awk '{ print $1 }')
    [ -n "$line" ] || return 1
    date -d "${line%Z}Z" +%s.%N
}

# ---- one stream ---------------------------------------------------------------------------
log "generating the stream: casewatch-gen --asap --scale $SCALE --days $DAYS --warmup-days 0"
t=$(now)
"$BUILD/casewatch-gen" --asap --scale "$SCALE" --days "$DAYS" --warmup-days 0 --kafka "$B" \
    --topic "$T_CASE" --hearing-topic "$T_HEAR" 2>"$TMP/gen.log" >/dev/null ||
    { cat "$TMP/gen.log" >&2; exit 1; }
log "$(tail -n 1 "$TMP/gen.log") ($(fsub "$(now)" "$t") s)"

# ---- (a) kcat -C -e, both topics at once ------------------------------------------------
log "(a) kcat -C -e over $T_CASE and $T_HEAR"
t0=$(now)
kcat -C -b "$B" -t "$T_CASE" -o beginning -e -q -f '%p %o\n' >"$TMP/a-case.txt" &
k1=$!
kcat -C -b "$B" -t "$T_HEAR" -o beginning -e -q -f '%p %o\n' >"$TMP/a-hear.txt" &
k2=$!
OTHER_PIDS+=("$k1" "$k2")
wait "$k1"
wait "$k2"
t1=$(now)
A_SECS=$(fsub "$t1" "$t0")
N_CASE=$(wc -l <"$TMP/a-case.txt")
N_HEAR=$(wc -l <"$TMP/a-hear.txt")
TOTAL=$((N_CASE + N_HEAR))
# high watermarks (last offset + 1 per partition): must equal the count, or the broker trimmed
HW=$(cat "$TMP/a-case.txt" <(sed 's/^/h/' "$TMP/a-hear.txt") |
    awk '{ if (!($1 in m) || $2 > m[$1]) m[$1] = $2 } END { s = 0; for (p in m) s += m[p] + 1; print s }')
MAXPART=$(cat "$TMP/a-case.txt" | awk '{ n[$1]++ } END { m = 0; for (p in n) if (n[p] > m) m = n[p]; print m }')
A_RATE=$(fdiv "$TOTAL" "$A_SECS")
log "(a) $TOTAL messages ($N_CASE + $N_HEAR) in $A_SECS s = $A_RATE msg/s; high watermarks sum $HW"
if [ "$HW" != "$TOTAL" ]; then
    echo "$PROG: the broker dropped data (read $TOTAL, high watermarks $HW): lower BENCH_SCALE" >&2
    exit 1
fi

# ---- (b) the naive consumer -----------------------------------------------------------
log "(b) casewatch-naive for $NAIVE_SECONDS s, fresh database and group"
sql "CREATE DATABASE bench_b" >/dev/null
for f in "$here"/sql/[0-9]*.sql; do
    psql "$(conninfo bench_b)" -X -q -v ON_ERROR_STOP=1 -1 -f "$f" >/dev/null
done
"$BUILD/casewatch-naive" -b "$B" -t "$T_CASE,$T_HEAR" --db "$(conninfo bench_b)" \
    --group "bench-b-$$" --seconds "$NAIVE_SECONDS" >"$TMP/naive.out" 2>"$TMP/naive.err" ||
    { cat "$TMP/naive.err" "$TMP/naive.out" >&2; exit 1; }
B_LINE=$(grep '^naive:' "$TMP/naive.out")
B_RATE=$(sed -n 's/.* = \([0-9.]*\) msg\/s.*/\1/p' <<<"$B_LINE")
B_ROWS=$(sql "SELECT count(*) FROM event_log" bench_b)
log "(b) $B_LINE; event_log rows $B_ROWS"

# ---- (c) casewatchd on the same stream ----------------------------------------------------
log "(c) casewatchd from the beginning, fresh database and group, until the stored offsets reach $TOTAL"
sql "CREATE DATABASE bench_c" >/dev/null
write_cfg "$TMP/c.ini" bench_c "bench-c-$$" "$T_CASE,$T_HEAR" "$C_CLOCK"
t_start=$(now)
start_daemon "$TMP/c.ini" "$TMP/c.log"
C_PID=$DAEMON_PID
committed() { sql "SELECT coalesce(sum(greatest(next_offset, 0)), 0) FROM consumer_offsets" bench_c 2>/dev/null || echo 0; }
t_first=
s_first=0
s=0
deadline=$(awk -v t="$t_start" 'BEGIN { printf "%.3f", t + 420 }')
PERF_PID=
WAIT_PID=
while :; do
    alive "$C_PID" || { echo "$PROG: casewatchd exited during (c)" >&2; tail -n 30 "$TMP/c.log" >&2; exit 1; }
    s=$(committed)
    tn=$(now)
    if [ -z "$t_first" ] && [ "$s" -gt 0 ]; then
        t_first=$tn
        s_first=$s
        C_CPU0=$(cpu_ticks "$C_PID")
        PG_PIDS=$(sql "SELECT pid FROM pg_stat_activity WHERE datname = 'bench_c'
                         AND backend_type = 'client backend' AND pid <> pg_backend_pid()" bench_c)
        PG_CPU0=0
        for q in $PG_PIDS; do PG_CPU0=$((PG_CPU0 + $(cpu_ticks "$q"))); done
        if [ "$PROFILE" = 1 ]; then
            sql "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" bench_c >/dev/null
            sql "SELECT pg_stat_statements_reset()" bench_c >/dev/null
            perf record -F 499 -g -p "$(echo "$C_PID" $PG_PIDS | tr ' ' ,)" -o "$TMP/perf.data" \
                >/dev/null 2>"$TMP/perf.err" &
            PERF_PID=$!
            OTHER_PIDS+=("$PERF_PID")
            # what casewatchd's backends wait on, sampled every 20 ms: lock waits between the
            # two batches in flight, WAL flushes, or the daemon (ClientRead)
            { echo "SELECT coalesce(wait_event_type, 'CPU') || ':' || coalesce(wait_event, state)
                      FROM pg_stat_activity WHERE datname = 'bench_c'
                       AND backend_type = 'client backend' AND pid <> pg_backend_pid() \\watch 0.02"
            } | psql "$(conninfo bench_c)" -X -q -At >"$TMP/waits.txt" 2>/dev/null &
            WAIT_PID=$!
            OTHER_PIDS+=("$WAIT_PID")
        fi
    fi
    [ "$s" -ge "$TOTAL" ] && break
    if awk -v a="$tn" -v b="$deadline" 'BEGIN { exit !(a > b) }'; then
        log "(c) deadline passed at $s of $TOTAL"
        break
    fi
    sleep 0.2
done
t_end=$(now)
t_offsets=$t_end
# Alert work the clock deferred past the last offset still counts ("alerts committed"): the run
# ends when the alert tables have not changed for 2 s (t_end = the last change seen).
alert_rows() { sql "SELECT (SELECT count(*) FROM alert_history) + (SELECT count(*) FROM alerts)" bench_c 2>/dev/null || echo 0; }
last=$(alert_rows)
for _ in $(seq 1 600); do
    sleep 0.2
    cur=$(alert_rows)
    tn=$(now)
    if [ "$cur" != "$last" ]; then
        last=$cur
        t_end=$tn
    elif awk -v a="$tn" -v b="$t_end" 'BEGIN { exit !(a - b >= 2) }'; then
        break
    fi
done
C_ALERT_TAIL=$(fsub "$t_end" "$t_offsets")
[ -n "$PERF_PID" ] && { kill -INT "$PERF_PID" 2>/dev/null || true; wait "$PERF_PID" 2>/dev/null || true; }
[ -n "$WAIT_PID" ] && { kill "$WAIT_PID" 2>/dev/null || true; wait "$WAIT_PID" 2>/dev/null || true; }
C_DONE=$s
C_SECS=$(fsub "$t_end" "$t_first")
# CPU seconds over the timed span: the daemon (all its threads) and its PostgreSQL backends
C_CPU=$(awk -v a="$(cpu_ticks "$C_PID")" -v b="${C_CPU0:-0}" -v hz="$HZ" 'BEGIN { printf "%.1f", (a - b) / hz }')
PG_CPU1=0
for q in ${PG_PIDS:-}; do PG_CPU1=$((PG_CPU1 + $(cpu_ticks "$q"))); done
PG_CPU=$(awk -v a="$PG_CPU1" -v b="${PG_CPU0:-0}" -v hz="$HZ" 'BEGIN { printf "%.1f", (a - b) / hz }')
C_RATE=$(fdiv "$((C_DONE - s_first))" "$C_SECS")
C_TOTAL_SECS=$(fsub "$t_end" "$t_start")
C_JOIN=$(fsub "$t_first" "$t_start")
C_EVENTS=$(sql "SELECT count(*) FROM event_log" bench_c)
C_CASES=$(sql "SELECT count(*) FROM cases" bench_c)
C_ALERTS=$(sql "SELECT count(*) FROM alert_history" bench_c)
C_RSS=$(rss_kb "$C_PID")
C_COMPLETE=yes
[ "$C_DONE" -ge "$TOTAL" ] || C_COMPLETE=no
log "(c) $((C_DONE - s_first)) messages in $C_SECS s after the first commit = $C_RATE msg/s" \
    "(start to end $C_TOTAL_SECS s incl. $C_JOIN s join+first batch); event_log $C_EVENTS," \
    "cases $C_CASES, alert transitions $C_ALERTS, RSS $((C_RSS / 1024)) MiB;" \
    "CPU casewatchd $C_CPU s, PostgreSQL backends $PG_CPU s"
if [ "$PROFILE" = 1 ]; then
    perf report -i "$TMP/perf.data" --stdio --no-children --percent-limit 1.5 --comm casewatchd \
        2>/dev/null | grep -v '^$' | head -n 120 >"$BUILD/bench-perf-c.txt" || true
    perf report -i "$TMP/perf.data" --stdio --no-children --comm postgres --sort dso -g none \
        2>/dev/null | grep -v "^#" | grep -v "^$" | head -n 8 >"$BUILD/bench-perf-pg.txt" || true
    perf report -i "$TMP/perf.data" --stdio --no-children --comm postgres -g none \
        --percent-limit 0.5 2>/dev/null | grep -v "^$" | head -n 80 >>"$BUILD/bench-perf-pg.txt" || true
    perf report -i "$TMP/perf.data" --stdio --no-children --comm casewatchd --sort dso 2>/dev/null |
        grep -v '^#' | grep -v '^$' | head -n 15 >>"$BUILD/bench-perf-c.txt" || true
    sql "SELECT round(total_exec_time::numeric, 0) AS ms, calls, round(mean_exec_time::numeric, 2)
                AS mean_ms, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 110)
           FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15" bench_c \
        >"$BUILD/bench-pgss-c.txt" || true
    # silences and acknowledgements are read back every 2 s also while batches commit
    sql "SELECT 'read-backs during (c): ' || coalesce(sum(calls), 0) || ' of silences'
           FROM pg_stat_statements WHERE query LIKE '%FROM silences WHERE ends_at%'" bench_c \
        >>"$BUILD/bench-pgss-c.txt" || true
    echo "backend samples by wait (20 ms; idle = waiting for casewatchd):" >>"$BUILD/bench-pgss-c.txt"
    grep -v '^$' "$TMP/waits.txt" | sort | uniq -c | sort -rn | head -n 12 \
        >>"$BUILD/bench-pgss-c.txt" || true
    sql "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd,
                pg_size_pretty(pg_total_relation_size(relid)) FROM pg_stat_user_tables
          WHERE n_tup_ins + n_tup_upd > 0 ORDER BY n_tup_ins + n_tup_upd DESC LIMIT 10" bench_c \
        >>"$BUILD/bench-pgss-c.txt" || true
    sql "SELECT 'cases.state bytes: avg ' || round(avg(length(state))) || ', p90 ' ||
                percentile_cont(0.9) WITHIN GROUP (ORDER BY length(state)) || ', max ' ||
                max(length(state)) FROM cases" bench_c >>"$BUILD/bench-pgss-c.txt" || true
    log "(c) profile: $BUILD/bench-perf-c.txt, $BUILD/bench-perf-pg.txt, $BUILD/bench-pgss-c.txt"
fi

C_ERRORS=$(grep -c ' error ' "$TMP/c.log" || true)
stop_daemon "$C_PID"

# (b) and (c) are measured: drop their databases, so neither their autovacuum nor their dirty
# pages (a checkpoint) run under (d)'s latency measurement
sql "DROP DATABASE bench_b WITH (FORCE)" >/dev/null
sql "DROP DATABASE bench_c WITH (FORCE)" >/dev/null
sql "CHECKPOINT" >/dev/null

# ---- (d) latency at a steady rate: a casewatchd on the wall clock, its own topics and database
log "(d) casewatchd (wall clock, fresh database, topics $T_DCASE,$T_DHEAR); casewatch-latency at $LAT_RATE/s (one event in $LAT_EVERY raising alerts), then $LAT_RATE2/s (every event)"
sql "CREATE DATABASE bench_d" >/dev/null
# The mock broker answers a Fetch that finds no data only after fetch.wait.max.ms (500 ms by
# default; a real broker answers as soon as data arrives), which would put up to 500 ms of
# idle wait into every event's path: the daemon's consumer gets 10 ms here.
write_cfg "$TMP/d.ini" bench_d "bench-d-$$" "$T_DCASE,$T_DHEAR" wall 10
start_daemon "$TMP/d.ini" "$TMP/d.log"
D_PID=$DAEMON_PID
wait_log "$TMP/d.log" "partition(s) loaded" 60 "$D_PID"
"$BUILD/casewatch-latency" -b "$B" --topic "$T_DCASE" --rate "$LAT_RATE" --seconds "$LAT_SECONDS" \
    --alert-every "$LAT_EVERY" --linger-ms "$LAT_LINGER" --warmup 3 --drain 10 \
    >"$TMP/lat.out" 2>"$TMP/lat.err" ||
    { cat "$TMP/lat.err" "$TMP/lat.out" >&2; exit 1; }
D_RES=$(grep '^RESULT' "$TMP/lat.out")
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $D_RES"; }
D_P50=$(kv p50_ms)
D_P90=$(kv p90_ms)
D_P99=$(kv p99_ms)
D_MAX=$(kv max_ms)
D_RSS=$(rss_kb "$D_PID")
log "(d) $(grep '^latency: p50' "$TMP/lat.out")"
sleep 2
D2_LINE="not run"
if [ "$LAT_RATE2" != 0 ]; then # then, informative: every event raising alerts
    "$BUILD/casewatch-latency" -b "$B" --topic "$T_DCASE" --rate "$LAT_RATE2" --seconds 10 \
        --linger-ms "$LAT_LINGER" --warmup 3 --drain 10 --prefix lat2 \
        >"$TMP/lat2.out" 2>"$TMP/lat2.err" ||
        { cat "$TMP/lat2.err" "$TMP/lat2.out" >&2; exit 1; }
    D2_LINE=$(grep '^latency: p50' "$TMP/lat2.out" | sed 's/^latency: //')
    log "(d) at $LAT_RATE2/s, every event raising alerts: $D2_LINE"
fi
D_ERRORS=$(grep -c ' error ' "$TMP/d.log" || true)
stop_daemon "$D_PID"

# ---- (e) 1M open cases: RSS per case and reload time ---------------------------------------
log "(e) baseline RSS: casewatchd on an empty database (fresh), topics $T_ECASE,$T_EHEAR"
sql "CREATE DATABASE bench_e" >/dev/null
write_cfg "$TMP/e1.ini" bench_e "bench-e1-$$" "$T_ECASE,$T_EHEAR"
start_daemon "$TMP/e1.ini" "$TMP/e1.log"
E1_PID=$DAEMON_PID
wait_log "$TMP/e1.log" "partition(s) loaded" 60 "$E1_PID"
sleep 1
E_RSS0=$(rss_kb "$E1_PID")
heap_inuse() { # pid log: glibc's "in use bytes" (all arenas, incl. mmap) via malloc_stats()
    command -v gdb >/dev/null 2>&1 || return 0
    gdb -p "$1" -batch -ex 'call (void) malloc_stats()' >/dev/null 2>&1 || return 0
    sleep 0.3
    awk '/^Total \(incl. mmap\):/ { t = 1 } t && /in use bytes/ { v = $NF; t = 0 } END { print v }' "$2"
}
E_HEAP0=$(heap_inuse "$E1_PID" "$TMP/e1.log")
stop_daemon "$E1_PID"
log "(e) baseline RSS $E_RSS0 kB; seeding $SEED_CASES open cases"
"$BUILD/casewatch-seed-cases" --db "$(conninfo bench_e)" --cases "$SEED_CASES" \
    --partitions "$PARTS" --topics "$T_ECASE,$T_EHEAR" >"$TMP/seed.out" 2>&1 ||
    { cat "$TMP/seed.out" >&2; exit 1; }
log "(e) $(cat "$TMP/seed.out")"
sql "VACUUM ANALYZE cases" bench_e >/dev/null
sql "CHECKPOINT" >/dev/null
E_TABLE=$(sql "SELECT pg_size_pretty(pg_total_relation_size('cases'))" bench_e)
write_cfg "$TMP/e2.ini" bench_e "bench-e2-$$" "$T_ECASE,$T_EHEAR"
t_e0=$(now)
start_daemon "$TMP/e2.ini" "$TMP/e2.log"
E2_PID=$DAEMON_PID
wait_log "$TMP/e2.log" "partition(s) loaded" 120 "$E2_PID"
t_e1=$(now)
ts_assigned=$(log_ts "$TMP/e2.log" "partition(s) assigned")
ts_loaded=$(log_ts "$TMP/e2.log" "partition(s) loaded")
E_RELOAD=$(fsub "$ts_loaded" "$ts_assigned")
E_START=$(fsub "$t_e1" "$t_e0")
E_LOADED=$(grep -m1 "partition(s) loaded" "$TMP/e2.log" | sed -n 's/.*loaded with \([0-9]*\) case.*/\1/p')
# after the log line the daemon rebuilds every case's deadlines (one thread, before it consumes
# anything): ready = the last moment its CPU time still moved, once it has stood still for 1 s
t_ready=$(now)
last=$(cpu_ticks "$E2_PID")
for _ in $(seq 1 600); do
    sleep 0.1
    cur=$(cpu_ticks "$E2_PID")
    tn=$(now)
    if [ "$cur" != "$last" ]; then
        last=$cur
        t_ready=$tn
    elif awk -v a="$tn" -v b="$t_ready" 'BEGIN { exit !(a - b >= 1) }'; then
        break
    fi
done
E_READY=$(fsub "$t_ready" "$ts_assigned")
# let the deadline rebuild after the load finish: wait until RSS stops moving
prev=0
for _ in $(seq 1 40); do
    cur=$(rss_kb "$E2_PID")
    [ "$cur" = "$prev" ] && break
    prev=$cur
    sleep 0.5
done
E_RSS1=$(rss_kb "$E2_PID")
E_HWM=$(hwm_kb "$E2_PID")
E_PER=$(awk -v a="$E_RSS1" -v b="$E_RSS0" -v n="${E_LOADED:-0}" 'BEGIN { if (n > 0) printf "%.0f", (a - b) * 1024 / n; else print "nan" }')
E_TRIM=
if command -v gdb >/dev/null 2>&1; then
    # informational: how much of it is freed heap glibc has not returned (the load's PGresult)
    gdb -p "$E2_PID" -batch -ex 'call (int) malloc_trim(0)' >/dev/null 2>&1 || true
    sleep 0.5
    E_RSS_TRIM=$(rss_kb "$E2_PID")
    E_HEAP1=$(heap_inuse "$E2_PID" "$TMP/e2.log")
    E_TRIM=$(awk -v a="$E_RSS_TRIM" -v b="$E_RSS0" -v n="${E_LOADED:-0}" 'BEGIN { if (n > 0) printf "%.0f", (a - b) * 1024 / n; else print "nan" }')
fi
E_ALERTS=$(grep -m1 "partition(s) loaded" "$TMP/e2.log" | sed -n 's/.* \([0-9]*\) active alert.*/\1/p')
E_ERRORS=$(grep -c ' error ' "$TMP/e2.log" || true)
stop_daemon "$E2_PID"
log "(e) $E_LOADED cases loaded in $E_RELOAD s, ready in $E_READY s (from assigned; $E_START s exec -> loaded); RSS $E_RSS0 -> $E_RSS1 kB = $E_PER B/case"

# ---- (f) and the table ----------------------------------------------------------------------
CA=$(awk -v c="$C_RATE" -v a="$A_RATE" 'BEGIN { printf "%.2f", c / a }')
CB=$(awk -v c="$C_RATE" -v b="$B_RATE" 'BEGIN { printf "%.1f", c / b }')
verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
    if (v == "nan" || v == "inf" || v == "") { print "MISS"; exit }
    ok = (op == ">=") ? (v + 0 >= t + 0) : (v + 0 <= t + 0); print ok ? "PASS" : "MISS" }'; }
num() { awk -v v="$1" 'BEGIN { if (v ~ /^[0-9.]+$/) { s = sprintf("%.0f", v); o = ""; n = length(s);
    for (i = 1; i <= n; i++) { o = o substr(s, i, 1); if ((n - i) % 3 == 0 && i < n) o = o "," } print o } else print v }'; }

{
    echo "casewatch benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -n), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "stream: $(num "$TOTAL") messages ($(num "$N_CASE") $T_CASE + $(num "$N_HEAR") $T_HEAR, $PARTS partitions each," \
        "max $(num "$MAXPART")/partition), casewatch-gen --scale $SCALE --days $DAYS --warmup-days 0"
    echo
    printf '%-48s %18s %12s  %s\n' "figure" "value" "target" "result"
    printf '%-48s %18s %12s  %s\n' "------------------------------------------------" "------------------" "------------" "------"
    printf '%-48s %18s %12s  %s\n' "(a) kcat -C -e raw read, both topics" "$(num "$A_RATE") msg/s" "" ""
    printf '%-48s %18s %12s  %s\n' "(b) casewatch-naive, 1 transaction per event" "$(num "$B_RATE") msg/s" "" ""
    printf '%-48s %18s %12s  %s\n' "(c) casewatchd durable, from first commit" "$(num "$C_RATE") msg/s" "" ""
    printf '%-48s %18s %12s  %s\n' "(c) ... alert transitions per message (load)" "$(awk -v a="$C_ALERTS" -v n="$C_EVENTS" 'BEGIN { printf "%.2f", (n > 0 ? a / n : 0) }')" "" ""
    printf '%-48s %18s %12s  %s\n' "(d) event -> alert latency p50 @ $(num "$LAT_RATE")/s, 1 in $LAT_EVERY alerting" "$D_P50 ms" "" ""
    printf '%-48s %18s %12s  %s\n' "(d) event -> alert latency p90" "$D_P90 ms" "" ""
    printf '%-48s %18s %12s  %s\n' "(d) event -> alert latency p99" "$D_P99 ms" "<= 100 ms" "$(verdict "$D_P99" "<=" 100)"
    printf '%-48s %18s %12s  %s\n' "(d) event -> alert latency max" "$D_MAX ms" "" ""
    printf '%-48s %18s %12s  %s\n' "(e) RSS per open case ($(num "${E_LOADED:-0}") cases)" "$E_PER B" "<= 512 B" "$(verdict "$E_PER" "<=" 512)"
    printf '%-48s %18s %12s  %s\n' "(e) reload: assigned -> loaded + deadlines rebuilt" "$E_READY s" "<= 10 s" "$(verdict "$E_READY" "<=" 10)"
    printf '%-48s %18s %12s  %s\n' "(e) reload: assigned -> 'partition(s) loaded'" "$E_RELOAD s" "" ""
    printf '%-48s %18s %12s  %s\n' "(f) c/a" "$CA" ">= 1.0" "$(verdict "$CA" ">=" 1.0)"
    printf '%-48s %18s %12s  %s\n' "(f) c/b" "$CB" ">= 50" "$(verdict "$CB" ">=" 50)"
    echo
    echo "details:"
    echo "  (a) $(num "$TOTAL") messages in $A_SECS s; two kcat -C -e processes (one per topic) in parallel, default settings"
    echo "  (b) $B_LINE; timed from its first message (group join excluded); 5 round trips + 1 commit per event"
    echo "  (c) $(num "$((C_DONE - s_first))") messages in $C_SECS s, timed from the first committed batch (offsets sum $(num "$s_first")" \
        "seen at the first poll, every 0.2 s) to stored offsets = end of the topics; exec to end $C_TOTAL_SECS s" \
        "= $(num "$(fdiv "$C_DONE" "$C_TOTAL_SECS")") msg/s incl. $C_JOIN s group join + first batch; complete: $C_COMPLETE;" \
        "alert writes after the last offset: $C_ALERT_TAIL s (included)"
    echo "      result: event_log $(num "$C_EVENTS") rows, cases $(num "$C_CASES"), alert transitions $(num "$C_ALERTS")," \
        "RSS $((C_RSS / 1024)) MiB; error lines in its log: $C_ERRORS; batch_max_events ${BENCH_BATCH:-default}, batch_max_wait_ms default, clock = $C_CLOCK"
    echo "      CPU over the timed $C_SECS s: casewatchd $C_CPU s, its PostgreSQL backends $PG_CPU s"
    echo "  (d) $(grep '^latency: sent' "$TMP/lat.out" | sed 's/^latency: //')"
    echo "      then at $(num "$LAT_RATE2")/s with every event raising alerts (informative, 10 s): $D2_LINE"
    echo "      case_opened events for distinct new cases, bursts every 2 ms; one in $LAT_EVERY is a probe with issued_at 60 weeks ago (open_52_weeks and duty_awaiting_allocation fire on the event: 2 notifications), the rest are issued today (deadlines armed, nothing fires);" \
        "latency = first alert on casewatch.alerts naming the event in causes[0] - send time; casewatchd on the wall clock," \
        "fresh database, defaults (batch_max_wait_ms 10); topics of $LAT_PARTS partitions and the sender's linger.ms $LAT_LINGER (the embedded broker finds an offset by walking a partition's message sets from the oldest: many tiny sets make every fetch slow, so tiny batches into many partitions saturate it near 5k msg/s before casewatchd is busy); RSS at the end $((D_RSS / 1024)) MiB; error lines: $D_ERRORS"
    echo "  (e) RSS $((E_RSS0 / 1024)) MiB (empty, partitions loaded) -> $((E_RSS1 / 1024)) MiB with $(num "${E_LOADED:-0}") cases" \
        "and their deadlines (peak VmHWM $((E_HWM / 1024)) MiB); active alerts after load: ${E_ALERTS:-?}; error lines: $E_ERRORS"
    if [ -n "$E_TRIM" ]; then
        echo "      after malloc_trim(0) in the daemon (gdb): $((E_RSS_TRIM / 1024)) MiB = $E_TRIM B/case (freed heap glibc had kept)"
        if [ -n "${E_HEAP0:-}" ] && [ -n "${E_HEAP1:-}" ]; then
            echo "      glibc malloc_stats in use: $((E_HEAP0 / 1024)) kB -> $((E_HEAP1 / 1024)) kB =" \
                "$(awk -v a="$E_HEAP1" -v b="$E_HEAP0" -v n="$E_LOADED" 'BEGIN { printf "%.0f", (a - b) / n }') B/case allocated (RSS - this = page and allocator slack)"
        fi
    fi
    echo "      reload = log 'partition(s) assigned' -> 'partition(s) loaded' (one REPEATABLE READ snapshot: offsets, cases, alerts)," \
        "then -> CPU idle (every case evaluated, deadlines rebuilt: the daemon consumes nothing before that);" \
        "exec -> loaded $E_START s incl. the group join; cases table $E_TABLE; seeding: $(cat "$TMP/seed.out")"
} >"$RESULTS"
echo
cat "$RESULTS"
