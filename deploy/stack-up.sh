#!/usr/bin/env bash
# stack-up.sh — bring up everything casewatchd needs, locally, in DIR: a private PostgreSQL
# (pg-up.sh DIR/pg) and the embedded Kafka broker (broker-up.sh DIR/kafka), and write
# DIR/casewatch.ini pointing the daemon at both.
#
# Owns DIR/pg, DIR/kafka, DIR/casewatch.ini and DIR/stack.env (all settings, also printed on
# stdout as shell assignments). If the broker cannot start, PostgreSQL is stopped again.
# Tear down with stack-down.sh DIR [--purge]. Then: casewatchd -c DIR/casewatch.ini
set -euo pipefail

PROG=stack-up.sh

usage() {
    cat <<EOF
usage: $PROG DIR [--kafka embedded|real] [broker options...]

Start PostgreSQL (DIR/pg) and Kafka (DIR/kafka), write DIR/casewatch.ini and print the
settings (CW_PG_*, CW_KAFKA_BOOTSTRAP, CW_CONFIG) as shell assignments.
--kafka embedded (the default): casewatch-broker, librdkafka's mock cluster, no JVM needed;
--kafka real: Apache Kafka 4.4 (KRaft) nodes from deploy/kafka-up.sh (Java 17 and Maven).
Options after that go to the broker (--brokers N, --topic NAME:PARTITIONS ...).

Environment: CW_BIN_DIR (casewatch-broker), CW_PG_BINDIR (PostgreSQL binaries)
EOF
}

die() {
    echo "$PROG: error: $*" >&2
    exit 1
}

case "${1:-}" in
'') usage >&2; exit 2 ;;
-h | --help) usage; exit 0 ;;
-*) echo "$PROG: the first argument must be DIR" >&2; usage >&2; exit 2 ;;
esac
DIR=$1
shift
KAFKA=embedded
if [ "${1:-}" = --kafka ]; then
    KAFKA=${2:-}
    shift 2 || true
fi
case "$KAFKA" in embedded | real) ;; *) die "--kafka: expected embedded or real, got '$KAFKA'" ;; esac

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
# As root, the server runs as postgres and must be able to reach DIR/pg. DIR is ours to
# chmod; its parents are not.
if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$DIR"; then
    runuser -u postgres -- test -x "$(dirname "$DIR")" ||
        die "user postgres cannot reach $(dirname "$DIR"): make it and its parents searchable (chmod o+x) or use a directory under /tmp"
    echo "$PROG: making $DIR searchable (o+x) so that user postgres can reach $DIR/pg" >&2
    chmod o+x "$DIR"
fi

pg_env=$("$here/pg-up.sh" "$DIR/pg") || die "PostgreSQL did not start (see above)"
eval "$pg_env"

if [ "$KAFKA" = real ]; then
    args=("$@")
    # the embedded broker's default topics, when none are named
    if ! printf '%s\n' "$@" | grep -q -- '^--topic'; then
        args+=(--topic casewatch.case-events:8 --topic casewatch.hearing-events:8
            --topic casewatch.dead-letters:4 --topic casewatch.alerts:4 --topic casewatch.metrics:1)
    fi
    if ! kafka_env=$("$here/kafka-up.sh" "$DIR/kafka" "${args[@]}"); then
        "$here/kafka-down.sh" "$DIR/kafka" >&2 || true
        "$here/pg-down.sh" "$DIR/pg" >&2 || true
        die "Kafka did not start (see above); PostgreSQL stopped again"
    fi
elif ! kafka_env=$("$here/broker-up.sh" "$DIR/kafka" "$@"); then
    "$here/pg-down.sh" "$DIR/pg" >&2 || true
    die "casewatch-broker did not start (see above); PostgreSQL stopped again"
fi
eval "$kafka_env"

# the admin API: 8089 unless taken (another stack), then a free port
port_in_use() { (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ADMIN_PORT=${CW_ADMIN_PORT:-8089}
while port_in_use "$ADMIN_PORT"; do ADMIN_PORT=$((20000 + (RANDOM * 32768 + RANDOM) % 40001)); done

CONFIG=$DIR/casewatch.ini
cat >"$CONFIG.tmp" <<EOF
[daemon]
log_level = info
batch_max_events = 10000
batch_max_wait_ms = 10
max_message_bytes = 1048576

[postgres]
conninfo = $CW_PG_CONNINFO

[topics]
events = casewatch.case-events,casewatch.hearing-events
dead_letter = casewatch.dead-letters
alerts = casewatch.alerts
metrics = casewatch.metrics

[kafka]
bootstrap.servers = $CW_KAFKA_BOOTSTRAP
group.id = casewatch
session.timeout.ms = 6000
heartbeat.interval.ms = 500

[admin]
listen = 127.0.0.1:$ADMIN_PORT
EOF
mv -f "$CONFIG.tmp" "$CONFIG"

{
    printf '%s\n' "$pg_env"
    printf '%s\n' "$kafka_env"
    echo "CW_CONFIG=$CONFIG"
    echo "CW_ADMIN_URL=http://127.0.0.1:$ADMIN_PORT/"
} >"$DIR/stack.env.tmp"
mv -f "$DIR/stack.env.tmp" "$DIR/stack.env"
cat "$DIR/stack.env"
echo "$PROG: up; run: casewatchd -c $CONFIG   (stop: stack-down.sh $DIR)" >&2
