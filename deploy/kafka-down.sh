#!/usr/bin/env bash
# kafka-down.sh — stop the Kafka nodes kafka-up.sh started in DIR ([J]).
#
# Each node gets SIGTERM (a controlled shutdown: leadership moves first) and 30 s, then SIGKILL.
# --node I stops node I only (--kill: SIGKILL at once, as a crash); --purge removes DIR after
# stopping every node. A node that is not running is not an error.
set -euo pipefail

PROG=kafka-down.sh

usage() {
    cat <<EOF
usage: $PROG DIR [--node I [--kill]] [--purge]

Stop the Kafka cluster (or one node) started by kafka-up.sh DIR.
EOF
}

die() {
    echo "$PROG: error: $*" >&2
    exit 1
}

DIR=
NODE=
KILL=
PURGE=
while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help) usage; exit 0 ;;
    --node) NODE=${2:?--node needs a number}; shift 2 ;;
    --kill) KILL=1; shift ;;
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
[ -d "$DIR" ] || exit 0

stop_node() { # dir-of-node
    local pidf=$1/pid pid i
    [ -f "$pidf" ] || return 0
    pid=$(cat "$pidf")
    # only a java process of ours (its command line names this node's properties)
    if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$1/server.properties"; then
        rm -f "$pidf"
        return 0
    fi
    if [ -n "$KILL" ]; then
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    else
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 300); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    rm -f "$pidf"
}

if [ -n "$NODE" ]; then
    [ -d "$DIR/node-$NODE" ] || die "no node $NODE in $DIR"
    stop_node "$DIR/node-$NODE"
    exit 0
fi
for nd in "$DIR"/node-*; do
    [ -d "$nd" ] && stop_node "$nd"
done
if [ -n "$PURGE" ]; then
    for f in "$DIR"/*; do
        case "$(basename "$f")" in
        node-* | cluster.id | kafka.env | topics.log) ;;
        *) die "not removing $DIR: it holds $(basename "$f"), which kafka-up.sh did not create" ;;
        esac
    done
    rm -rf "$DIR"
fi
