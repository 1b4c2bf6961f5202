#!/usr/bin/env bash
# pg-down.sh — stop the private PostgreSQL cluster that pg-up.sh started in DIR.
#
# Stops with "pg_ctl -m fast -w" (or the --mode given; "immediate" simulates a crash for fault
# tests: no shutdown checkpoint, recovery on the next pg-up.sh), waits until the postmaster is
# gone, and with --purge removes DIR. Stopping a cluster that is not running is not an error.
# --purge refuses to remove a directory that does not look like one pg-up.sh made.
set -euo pipefail

PROG=pg-down.sh

usage() {
    cat <<EOF
usage: $PROG DIR [--mode smart|fast|immediate] [--purge]

Stop the PostgreSQL cluster in DIR (started by pg-up.sh).
  --mode MODE   pg_ctl shutdown mode (default: fast)
  --purge       remove DIR afterwards
  -h, --help    this text
EOF
}

die() {
    echo "$PROG: error: $*" >&2
    exit 1
}

DIR=
MODE=fast
PURGE=
while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help) usage; exit 0 ;;
    --purge) PURGE=1; shift ;;
    --mode)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        case "$2" in
        smart | fast | immediate) MODE=$2 ;;
        *) echo "$PROG: --mode must be smart, fast or immediate" >&2; exit 2 ;;
        esac
        shift 2
        ;;
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
DATA=$DIR/data

BINDIR=${CW_PG_BINDIR:-}
if [ -z "$BINDIR" ] && [ -f "$DIR/pg.env" ]; then
    BINDIR=$(sed -n "s/^CW_PG_BINDIR=//p" "$DIR/pg.env" | head -n 1)
fi
if [ -z "$BINDIR" ]; then
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
        if [ -x "$d/pg_ctl" ]; then BINDIR=$d; break; fi
    done
fi
if [ -z "$BINDIR" ] && command -v pg_ctl >/dev/null 2>&1; then
    BINDIR=$(dirname "$(command -v pg_ctl)")
fi

if [ "$(id -u)" -eq 0 ]; then
    as_pg() { (cd "$DIR" && runuser -u postgres -- "$@"); }
else
    as_pg() { (cd "$DIR" && "$@"); }
fi

# A process that is gone or a zombie (its parent has not reaped it yet) counts as stopped.
alive() {
    local st
    [ -r "/proc/$1/stat" ] || return 1
    st=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

rc=0
if [ -f "$DATA/PG_VERSION" ]; then
    if [ -z "$BINDIR" ] || [ ! -x "$BINDIR/pg_ctl" ]; then
        die "pg_ctl not found (set CW_PG_BINDIR)"
    fi
    pid=
    [ -f "$DATA/postmaster.pid" ] && pid=$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null || true)
    if as_pg "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        echo "$PROG: stopping $DATA (-m $MODE)" >&2
        if ! as_pg "$BINDIR/pg_ctl" -D "$DATA" -m "$MODE" -w -t 60 stop >&2; then
            echo "$PROG: -m $MODE stop failed, trying -m immediate" >&2
            as_pg "$BINDIR/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop >&2 || true
        fi
    else
        echo "$PROG: no server running in $DATA" >&2
    fi
    if [ -n "$pid" ]; then
        for _ in $(seq 1 100); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            echo "$PROG: error: postmaster $pid is still running, see $DIR/pg.log" >&2
            rc=1
        fi
    fi
else
    echo "$PROG: no cluster in $DATA" >&2
fi

if [ -n "$PURGE" ]; then
    [ "$rc" -eq 0 ] || die "not purging $DIR while its server runs"
    # Only what pg-up.sh creates may be in DIR.
    for f in "$DIR"/* "$DIR"/.[!.]*; do
        [ -e "$f" ] || continue
        case "${f##*/}" in
        data | sock | pg.log | initdb.log | pg.env | pg.env.tmp) ;;
        *) die "not purging $DIR: it holds '${f##*/}', which pg-up.sh did not create" ;;
        esac
    done
    rm -rf -- "$DIR"
    echo "$PROG: removed $DIR" >&2
fi
exit "$rc"
