#!/usr/bin/env bash
# pg-up.sh — bring up a private PostgreSQL cluster in DIR for casewatch development and tests.
#
# Owns DIR: DIR/data (the cluster), DIR/sock (its Unix socket), DIR/pg.log (server log),
# DIR/initdb.log, DIR/pg.env (the settings printed on stdout). The server listens on the Unix
# socket in DIR/sock and on 127.0.0.1 at a free port picked at random in 20000-60000 (retried
# if another process takes it first). Authentication is "trust": development and tests only.
#
# As root the server runs as user "postgres" (PostgreSQL refuses to run as root) and DIR is
# chowned to it; as any other user it runs as that user.
#
# Run again on a DIR whose server is stopped (pg_ctl -m immediate, a crash) and it restarts the
# same cluster on the same port; run it on a DIR whose server is up and it only prints the
# settings. Stop with pg-down.sh DIR [--purge].
#
# stdout carries only shell assignments (eval-able, also in DIR/pg.env); progress and errors
# go to stderr; any failure exits nonzero naming the log to read.
set -euo pipefail

PROG=pg-up.sh

usage() {
    cat <<EOF
usage: $PROG DIR [--port PORT] [--set NAME=VALUE]...

Start a private PostgreSQL cluster in DIR (created if missing; initdb on first use).
Prints CW_PG_PORT, CW_PG_SOCKDIR, CW_PG_CONNINFO, ... as shell assignments and writes
them to DIR/pg.env.

  --port PORT        listen on this TCP port (default: a free random port in 20000-60000,
                     or the port DIR's cluster used before)
  --set NAME=VALUE   extra postgresql.conf setting (repeatable), e.g. --set fsync=off
  -h, --help         this text

Environment: CW_PG_BINDIR  PostgreSQL bin directory (default: newest /usr/lib/postgresql/*/bin)
EOF
}

die() {
    echo "$PROG: error: $*" >&2
    exit 1
}

DIR=
PORT_WANTED=
SETTINGS=()
while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --port)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        PORT_WANTED=$2
        shift 2
        ;;
    --set)
        [ $# -ge 2 ] || { usage >&2; exit 2; }
        case "$2" in
        [a-z]*=*) SETTINGS+=("$2") ;;
        *) echo "$PROG: --set expects NAME=VALUE, got '$2'" >&2; exit 2 ;;
        esac
        shift 2
        ;;
    -*)
        echo "$PROG: unknown option '$1'" >&2
        usage >&2
        exit 2
        ;;
    *)
        if [ -n "$DIR" ]; then
            echo "$PROG: only one DIR, got '$DIR' and '$1'" >&2
            exit 2
        fi
        DIR=$1
        shift
        ;;
    esac
done
if [ -z "$DIR" ]; then
    usage >&2
    exit 2
fi
if [ -n "$PORT_WANTED" ]; then
    case "$PORT_WANTED" in
    '' | *[!0-9]*) echo "$PROG: --port '$PORT_WANTED' is not a number" >&2; exit 2 ;;
    esac
    if [ "$PORT_WANTED" -lt 1024 ] || [ "$PORT_WANTED" -gt 65535 ]; then
        echo "$PROG: --port must be 1024..65535" >&2
        exit 2
    fi
fi

# --- where PostgreSQL lives ---------------------------------------------------------------
BINDIR=${CW_PG_BINDIR:-}
if [ -z "$BINDIR" ]; then
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            BINDIR=$d
            break
        fi
    done
fi
if [ -z "$BINDIR" ] && command -v initdb >/dev/null 2>&1; then
    BINDIR=$(dirname "$(command -v initdb)")
fi
if [ -z "$BINDIR" ] || [ ! -x "$BINDIR/initdb" ] || [ ! -x "$BINDIR/pg_ctl" ]; then
    die "PostgreSQL server binaries not found (install 'postgresql' or set CW_PG_BINDIR)"
fi

# --- DIR, and who runs the server -----------------------------------------------------------
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
case "$DIR" in
*[[:space:]\'\"\\]*) die "DIR '$DIR' must not contain blanks, quotes or backslashes (it goes into a conninfo)" ;;
esac
# A Unix socket path is limited to 107 bytes: DIR/sock/.s.PGSQL.NNNNN
if [ $((${#DIR} + 23)) -gt 107 ]; then
    die "DIR '$DIR' is too long for a Unix socket path (max about 84 characters)"
fi

if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user to run the server"
    chown postgres:postgres "$DIR"
    chmod 700 "$DIR"
    if ! runuser -u postgres -- test -w "$DIR" -a -x "$DIR"; then
        die "user postgres cannot reach $DIR: make every parent directory searchable (chmod o+x), e.g. use a directory under /tmp"
    fi
    as_pg() { (cd "$DIR" && runuser -u postgres -- "$@"); }
else
    as_pg() { (cd "$DIR" && "$@"); }
fi

DATA=$DIR/data
SOCK=$DIR/sock
LOG=$DIR/pg.log
CONF=$DATA/casewatch.conf

as_pg mkdir -p -m 700 "$SOCK"

# --- initdb on first use --------------------------------------------------------------------
if [ ! -f "$DATA/PG_VERSION" ]; then
    echo "$PROG: initdb $DATA" >&2
    if ! as_pg "$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$DIR/initdb.log" 2>&1; then
        tail -n 20 "$DIR/initdb.log" >&2 || true
        die "initdb failed, see $DIR/initdb.log"
    fi
    # Our settings live in one file we rewrite on every start (the port may change on retry).
    echo "include_if_exists = 'casewatch.conf'" >>"$DATA/postgresql.conf"
fi

running() { as_pg "$BINDIR/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

# The port this cluster used before, if any (restart on the same port).
previous_port() {
    [ -f "$CONF" ] && sed -n "s/^port = \([0-9]*\)$/\1/p" "$CONF" | head -n 1
}

emit() {
    local port=$1
    local conninfo="host=$SOCK port=$port user=postgres dbname=postgres"
    local env
    env=$(
        cat <<EOF
CW_PG_DIR=$DIR
CW_PG_DATA=$DATA
CW_PG_BINDIR=$BINDIR
CW_PG_LOG=$LOG
CW_PG_PORT=$port
CW_PG_SOCKDIR=$SOCK
CW_PG_CONNINFO='$conninfo'
CW_PG_TCP_CONNINFO='host=127.0.0.1 port=$port user=postgres dbname=postgres'
EOF
    )
    printf '%s\n' "$env" >"$DIR/pg.env.tmp"
    mv -f "$DIR/pg.env.tmp" "$DIR/pg.env"
    printf '%s\n' "$env"
}

if running; then
    port=$(previous_port || true)
    [ -n "$port" ] || die "a server is running in $DATA but $CONF has no port; stop it with pg-down.sh $DIR"
    echo "$PROG: already running in $DATA on port $port" >&2
    emit "$port"
    exit 0
fi

port_in_use() { (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

random_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40001))
        if ! port_in_use "$p"; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

write_conf() {
    {
        echo "# written by $PROG on every start; edit with --set, not by hand"
        echo "port = $1"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$SOCK'"
        local s
        for s in ${SETTINGS[@]+"${SETTINGS[@]}"}; do
            echo "${s%%=*} = '${s#*=}'"
        done
    } >"$CONF.tmp"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$CONF.tmp"; fi
    mv -f "$CONF.tmp" "$CONF"
}

# --- start, retrying on another port if ours was taken ---------------------------------------
fixed=
if [ -n "$PORT_WANTED" ]; then
    fixed=$PORT_WANTED
elif prev=$(previous_port) && [ -n "$prev" ]; then
    fixed=$prev
fi
attempts=5
[ -n "$fixed" ] && attempts=1

started=
for attempt in $(seq 1 "$attempts"); do
    if [ -n "$fixed" ]; then
        port=$fixed
        port_in_use "$port" && die "port $port on 127.0.0.1 is in use by another process (cluster in $DATA must restart on it)"
    else
        port=$(random_port) || die "no free TCP port found in 20000-60000"
    fi
    write_conf "$port"
    logsize=$(stat -c %s "$LOG" 2>/dev/null || echo 0)
    echo "$PROG: starting $DATA on port $port (attempt $attempt)" >&2
    if as_pg "$BINDIR/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >&2; then
        started=1
        break
    fi
    # A postmaster that lost the race for the port has exited; one that is merely slow has not.
    if running; then
        as_pg "$BINDIR/pg_ctl" -D "$DATA" -m immediate -w stop >&2 || true
        break
    fi
    tail -c +$((logsize + 1)) "$LOG" 2>/dev/null |
        grep -q "could not bind\|could not create any TCP/IP sockets\|Address already in use" || break
done
if [ -z "$started" ]; then
    echo "---- last lines of $LOG ----" >&2
    tail -n 25 "$LOG" >&2 2>/dev/null || true
    die "PostgreSQL did not start in $DATA, see $LOG"
fi

# pg_ctl -w saw the postmaster ready; check both ways in, as a client will use them.
if [ -x "$BINDIR/pg_isready" ]; then
    for host in "$SOCK" 127.0.0.1; do
        if ! "$BINDIR/pg_isready" -q -t 10 -h "$host" -p "$port" -U postgres -d postgres; then
            as_pg "$BINDIR/pg_ctl" -D "$DATA" -m immediate -w stop >&2 || true
            die "server started but does not answer on $host port $port (stopped it again), see $LOG"
        fi
    done
fi

emit "$port"
