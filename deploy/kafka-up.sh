#!/usr/bin/env bash
# kafka-up.sh — start a real Apache Kafka 4.4 cluster (KRaft, no ZooKeeper) on loopback in DIR,
# for the tests and the benchmark ([J]). Each node is a combined controller and broker; with
# N nodes all N vote. The jars come from Maven Central once (deploy/kafka/pom.xml pins them)
# into the cache folder; Java 17 from Debian (openjdk-17-jre-headless) runs them.
#
# Owns DIR: DIR/node-I/{server.properties,data,server.log,pid} per node, DIR/cluster.id,
# DIR/kafka.env (the settings printed on stdout). Stop with kafka-down.sh DIR; one node with
# kafka-down.sh DIR --node I (kill -9 with --kill), and start it again with
# kafka-up.sh DIR --restart I.
set -euo pipefail

PROG=kafka-up.sh

usage() {
    cat <<EOF
usage: $PROG DIR [--brokers N] [--topic NAME:PARTITIONS[:REPLICAS]]... [--heap MB]
       $PROG DIR --restart I

Start N (default 1, at most 9) Kafka nodes on free loopback ports with their files in DIR,
wait until every one answers, create the topics (replicas default to min(N, 3)), and print
CW_KAFKA_BOOTSTRAP=... (also written to DIR/kafka.env). --restart I starts node I of a
cluster this script made in DIR again (after kafka-down.sh DIR --node I).

Environment: CW_KAFKA_CACHE  the jar cache (default ~/.cache/casewatch/kafka)
             JAVA            the java binary (default: java on PATH)
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
N=1
HEAP=384
RESTART=
TOPICS=()
while [ $# -gt 0 ]; do
    case "$1" in
    --brokers) N=${2:?--brokers needs a count}; shift 2 ;;
    --topic) TOPICS+=("${2:?--topic needs NAME:PARTITIONS}"); shift 2 ;;
    --heap) HEAP=${2:?--heap needs megabytes}; shift 2 ;;
    --restart) RESTART=${2:?--restart needs a node number}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "$PROG: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
[[ $N =~ ^[1-9]$ ]] || die "--brokers: expected 1 to 9, got '$N'"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
JAVA=${JAVA:-java}
command -v "$JAVA" >/dev/null || die "java not found: apt-get install -y openjdk-17-jre-headless"
CACHE=${CW_KAFKA_CACHE:-${HOME:-/root}/.cache/casewatch/kafka}
mkdir -p "$CACHE" "$DIR"
DIR=$(cd "$DIR" && pwd -P)

# ---- the jars: resolved once per pom.xml --------------------------------------------------
pomsum=$(sha256sum "$here/kafka/pom.xml" | cut -c1-16)
CPFILE=$CACHE/classpath-$pomsum.txt
if [ ! -s "$CPFILE" ]; then
    command -v mvn >/dev/null || die "mvn not found: apt-get install -y maven"
    echo "$PROG: fetching Apache Kafka's jars with Maven into $CACHE (once)" >&2
    (cd "$here/kafka" && mvn -q -B -Dmaven.repo.local="$CACHE/m2" dependency:build-classpath \
        -Dmdep.outputFile="$CPFILE.tmp") >/dev/null || die "Maven could not resolve deploy/kafka/pom.xml"
    mv "$CPFILE.tmp" "$CPFILE"
fi
CP=$(cat "$CPFILE")
kjava() { "$JAVA" -Xmx256m -cp "$CP" -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" "$@"; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_node() { # I
    local nd=$DIR/node-$1
    (
        cd "$nd"
        # the process group is the node's own: kafka-down.sh signals it whole
        exec setsid "$JAVA" -Xms"${HEAP}m" -Xmx"${HEAP}m" -XX:+UseSerialGC -cp "$CP" \
            -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" \
            kafka.Kafka "$nd/server.properties" >"$nd/server.log" 2>&1
    ) &
    echo $! >"$nd/pid"
}

wait_node() { # I port
    local i
    for i in $(seq 1 600); do
        if kcat -L -b "127.0.0.1:$2" -m 2 2>/dev/null | grep -q "broker $1 at"; then
            return 0
        fi
        kill -0 "$(cat "$DIR/node-$1/pid")" 2>/dev/null ||
            { tail -n 30 "$DIR/node-$1/server.log" >&2; die "node $1 exited"; }
        sleep 0.1
    done
    tail -n 30 "$DIR/node-$1/server.log" >&2
    die "node $1 did not answer within 60 s"
}

if [ -n "$RESTART" ]; then
    [ -f "$DIR/node-$RESTART/server.properties" ] || die "no node $RESTART in $DIR"
    start_node "$RESTART"
    wait_node "$RESTART" "$(cat "$DIR/node-$RESTART/port")"
    cat "$DIR/kafka.env"
    exit 0
fi
[ ! -e "$DIR/cluster.id" ] || die "$DIR already holds a cluster (kafka-down.sh $DIR --purge first)"

# ---- configure and format every node ------------------------------------------------------
voters=
bootstrap=
for i in $(seq 1 "$N"); do
    mkdir -p "$DIR/node-$i/data"
    p=$(free_port)
    c=$(free_port)
    echo "$p" >"$DIR/node-$i/port"
    echo "$c" >"$DIR/node-$i/cport"
    voters+="${voters:+,}$i@127.0.0.1:$c"
    bootstrap+="${bootstrap:+,}127.0.0.1:$p"
done
RF=$((N < 3 ? N : 3))
MIN_ISR=$((RF > 1 ? RF - 1 : 1))
kjava kafka.tools.StorageTool random-uuid >"$DIR/cluster.id" 2>/dev/null || die "StorageTool failed"
for i in $(seq 1 "$N"); do
    nd=$DIR/node-$i
    cat >"$nd/server.properties" <<EOF
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(cat "$nd/port"),CONTROLLER://127.0.0.1:$(cat "$nd/cport")
advertised.listeners=PLAINTEXT://127.0.0.1:$(cat "$nd/port")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$nd/data
num.partitions=1
default.replication.factor=$RF
min.insync.replicas=$MIN_ISR
offsets.topic.replication.factor=$RF
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=$RF
transaction.state.log.min.isr=$MIN_ISR
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.segment.bytes=16777216
EOF
    kjava kafka.tools.StorageTool format -t "$(cat "$DIR/cluster.id")" \
        -c "$nd/server.properties" >"$nd/format.log" 2>&1 ||
        { cat "$nd/format.log" >&2; die "formatting node $i failed"; }
done
for i in $(seq 1 "$N"); do start_node "$i"; done
for i in $(seq 1 "$N"); do wait_node "$i" "$(cat "$DIR/node-$i/port")"; done

# ---- topics -------------------------------------------------------------------------------
for t in "${TOPICS[@]}"; do
    IFS=: read -r name parts reps <<<"$t"
    [ -n "$name" ] && [[ ${parts:-} =~ ^[0-9]+$ ]] || die "--topic: expected NAME:PARTITIONS[:REPLICAS], got '$t'"
    kjava org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --create \
        --topic "$name" --partitions "$parts" --replication-factor "${reps:-$RF}" \
        >>"$DIR/topics.log" 2>&1 || { cat "$DIR/topics.log" >&2; die "creating $name failed"; }
done

{
    echo "CW_KAFKA_BOOTSTRAP=$bootstrap"
    echo "CW_KAFKA_DIR=$DIR"
    echo "CW_KAFKA_NODES=$N"
    echo "CW_KAFKA_CLASSPATH_FILE=$CPFILE"
} >"$DIR/kafka.env"
cat "$DIR/kafka.env"
