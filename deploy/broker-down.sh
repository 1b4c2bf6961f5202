#!/usr/bin/env bash
# broker-down.sh — stop the casewatch-broker that broker-up.sh started in DIR.
#
# Sends SIGTERM to the pid in DIR/broker.pid (only if that process really is casewatch-broker),
# waits up to 10 s, then SIGKILLs it and fails. With --purge removes DIR afterwards, refusing if
# DIR holds files broker-up.sh did not create. A broker that is not running is not an error.
set -euo pipefail

PROG=broker-down.sh

usage() {
    cat <<EOF
usage: $PROG DIR [--purge]

Stop the casewatch-broker started by broker-up.sh DIR.
  --purge     remove DIR afterwards
  -h, --help  this text
EOF
}

die() {
    echo "$PROG: error: $*" >&2
    exit 1
}

DIR=
PURGE=
while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help) usage; exit 0 ;;
    --purge) PURGE=1; shift ;;
    -*) echo "$PROG: unknown option '$1'" >&2; usage >&2; exit 2 ;;
    *)
        [ -z "$DIR" ] || { echo "$PROG: only one DIR" >&2; exit 2; }
        DIR=$1
        shift
        ;;
    esac
done
[ -n "$DIR" ] || { usage >&2; exit 2; }
if [ ! -d "$DIR" ]; then
    echo "$PROG: $DIR does not exist: nothing to stop" >&2
    exit 0
fi
DIR=$(cd "$DIR" && pwd -P)
PIDFILE=$DIR/broker.pid

alive() {
    local st
    [ -r "/proc/$1/stat" ] || return 1
    st=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

rc=0
pid=
[ -f "$PIDFILE" ] && pid=$(cat "$PIDFILE" 2>/dev/null || true)
if [ -z "$pid" ] || ! alive "$pid"; then
    echo "$PROG: no broker running in $DIR" >&2
elif ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q casewatch-broker; then
    echo "$PROG: pid $pid from $PIDFILE is not casewatch-broker any more: not touching it" >&2
else
    echo "$PROG: stopping casewatch-broker (pid $pid)" >&2
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        echo "$PROG: error: casewatch-broker (pid $pid) ignored SIGTERM for 10 s: killed, see $DIR/broker.log" >&2
        rc=1
    fi
fi
rm -f "$PIDFILE" "$DIR/bootstrap"

if [ -n "$PURGE" ]; then
    for f in "$DIR"/* "$DIR"/.[!.]*; do
        [ -e "$f" ] || continue
        case "${f##*/}" in
        broker.log | broker.env | broker.env.tmp | bootstrap | bootstrap.tmp | control | control.ack | control.ack.tmp) ;;
        *) die "not purging $DIR: it holds '${f##*/}', which broker-up.sh did not create" ;;
        esac
    done
    rm -rf -- "$DIR"
    echo "$PROG: removed $DIR" >&2
fi
exit "$rc"
