#!/usr/bin/env bash
# broker-up.sh — start casewatch-broker (the embedded Kafka-protocol mock cluster) in DIR.
#
# Owns DIR: DIR/broker.pid, DIR/broker.log (its stdout and stderr), DIR/bootstrap (written by
# the broker once it listens), DIR/control (+ .ack, the fault-injection channel: write commands,
# send SIGUSR1; see daemon/casewatch_broker.c), DIR/broker.env (the settings printed on stdout).
# Extra arguments go to casewatch-broker (--brokers N, --topic NAME:PARTITIONS ...).
# The broker binary is $CW_BIN_DIR/casewatch-broker, else build/ next to deploy/, else PATH.
# Stop it with broker-down.sh DIR.
set -euo pipefail

PROG=broker-up.sh

usage() {
    cat <<EOF
usage: $PROG DIR [casewatch-broker options...]

Start casewatch-broker in the background with its files in DIR, wait (10 s at most) until it
listens, then print CW_KAFKA_BOOTSTRAP=... (also written to DIR/broker.env).
Options after DIR are passed on, e.g. --brokers 3 --topic casewatch.case-events:16
(--bootstrap-file is set by this script; --control-file defaults to DIR/control).

Environment: CW_BIN_DIR  directory holding casewatch-broker
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

CONTROL=
want_control=1
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
    --bootstrap-file | --bootstrap-file=*) die "--bootstrap-file is set by $PROG (DIR/bootstrap)" ;;
    --control-file) want_control=; CONTROL=${args[$((i + 1))]:-} ;;
    --control-file=*) want_control=; CONTROL=${args[$i]#--control-file=} ;;
    esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
BIN=
if [ -n "${CW_BIN_DIR:-}" ]; then
    BIN=$CW_BIN_DIR/casewatch-broker
    [ -x "$BIN" ] || die "CW_BIN_DIR is set but $BIN is not an executable"
elif [ -x "$here/../build/casewatch-broker" ]; then
    BIN=$(cd "$here/../build" && pwd -P)/casewatch-broker
elif command -v casewatch-broker >/dev/null 2>&1; then
    BIN=$(command -v casewatch-broker)
else
    die "casewatch-broker not found: build it (cmake --build build) or set CW_BIN_DIR"
fi

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
PIDFILE=$DIR/broker.pid
LOG=$DIR/broker.log
BOOT=$DIR/bootstrap
if [ -n "$want_control" ]; then
    CONTROL=$DIR/control
    args+=(--control-file "$CONTROL")
fi

alive() {
    local st
    [ -r "/proc/$1/stat" ] || return 1
    st=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

if [ -f "$PIDFILE" ]; then
    old=$(cat "$PIDFILE" 2>/dev/null || true)
    if [ -n "$old" ] && alive "$old" && tr '\0' ' ' <"/proc/$old/cmdline" 2>/dev/null | grep -q casewatch-broker; then
        die "a broker is already running in $DIR (pid $old); stop it with broker-down.sh $DIR"
    fi
    rm -f "$PIDFILE"
fi
rm -f "$BOOT" "$BOOT.tmp"

# setsid: its own session, so a Ctrl-C aimed at the shell that ran us does not reach it.
echo "$PROG: starting $BIN ${args[*]:-} (log: $LOG)" >&2
setsid "$BIN" --bootstrap-file "$BOOT" ${args[@]+"${args[@]}"} </dev/null >>"$LOG" 2>&1 &
pid=$!
echo "$pid" >"$PIDFILE"

for _ in $(seq 1 100); do
    [ -s "$BOOT" ] && break
    if ! alive "$pid"; then
        wait "$pid" && rc=0 || rc=$?
        rm -f "$PIDFILE"
        echo "---- last lines of $LOG ----" >&2
        tail -n 20 "$LOG" >&2 || true
        die "casewatch-broker exited (status $rc) before listening, see $LOG"
    fi
    sleep 0.1
done
if [ ! -s "$BOOT" ]; then
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$PIDFILE"
    tail -n 20 "$LOG" >&2 || true
    die "casewatch-broker did not publish $BOOT within 10 s (killed it), see $LOG"
fi

BOOTSTRAP=$(head -n 1 "$BOOT")
env=$(
    cat <<EOF
CW_KAFKA_BOOTSTRAP=$BOOTSTRAP
CW_BROKER_DIR=$DIR
CW_BROKER_PID=$pid
CW_BROKER_LOG=$LOG
CW_BROKER_CONTROL=$CONTROL
EOF
)
printf '%s\n' "$env" >"$DIR/broker.env.tmp"
mv -f "$DIR/broker.env.tmp" "$DIR/broker.env"
printf '%s\n' "$env"
