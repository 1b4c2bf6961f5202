#!/usr/bin/env bash
# stack-down.sh — tear down what stack-up.sh started in DIR: the broker (DIR/kafka), then
# PostgreSQL (DIR/pg). Both are attempted even if one fails; the exit status says whether both
# stopped. With --purge removes DIR/kafka, DIR/pg, DIR/casewatch.ini, DIR/stack.env, and DIR
# itself if nothing else is left in it (your daemon logs, if you put them there, are kept).
# A casewatchd whose pid is in DIR/casewatchd.pid (the quick start with CW_KEEP=1 writes it) is
# stopped first (TERM, then KILL after 15 s): it should not see its database vanish under it.
set -euo pipefail

PROG=stack-down.sh

usage() {
    cat <<EOF
usage: $PROG DIR [--purge]

Stop the broker and PostgreSQL started by stack-up.sh DIR.
  --purge     remove what stack-up.sh created in DIR (and DIR if then empty)
  -h, --help  this text
EOF
}

DIR=
PURGE=()
while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help) usage; exit 0 ;;
    --purge) PURGE=(--purge); shift ;;
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
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

rc=0
if [ -f "$DIR/casewatchd.pid" ]; then
    pid=$(cat "$DIR/casewatchd.pid")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
        grep -q casewatchd "/proc/$pid/cmdline" 2>/dev/null; then
        echo "$PROG: stopping casewatchd (pid $pid)" >&2
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 150); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "$PROG: casewatchd (pid $pid) still running after 15 s: KILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$DIR/casewatchd.pid"
fi
if [ -f "$DIR/kafka/kafka.env" ] || [ -f "$DIR/kafka/cluster.id" ]; then
    "$here/kafka-down.sh" "$DIR/kafka" ${PURGE[@]+"${PURGE[@]}"} || rc=1
else
    "$here/broker-down.sh" "$DIR/kafka" ${PURGE[@]+"${PURGE[@]}"} || rc=1
fi
"$here/pg-down.sh" "$DIR/pg" ${PURGE[@]+"${PURGE[@]}"} || rc=1

if [ ${#PURGE[@]} -gt 0 ] && [ "$rc" -eq 0 ]; then
    rm -f "$DIR/casewatch.ini" "$DIR/casewatch.ini.tmp" "$DIR/stack.env" "$DIR/stack.env.tmp"
    if rmdir "$DIR" 2>/dev/null; then
        echo "$PROG: removed $DIR" >&2
    else
        echo "$PROG: kept $DIR: it holds files stack-up.sh did not create" >&2
    fi
fi
[ "$rc" -eq 0 ] || echo "$PROG: error: something did not stop cleanly (see above)" >&2
exit "$rc"
