#!/usr/bin/env bash
# cluster.sh up|down|status: a local distributed stack on loopback, for the
# live-cluster tests and for people trying the replicated schema:
#   - ZooKeeper 3.8 (Debian's zookeeper package), one node;
#   - four ClickHouse 18.16 servers as 2 shards x 2 replicas, each started by
#     clickhouse.sh with its own data dir and ports, plus a config.d/users.d
#     fragment that gives it the cluster, its macros and ZooKeeper;
#   - a three-node Apache Kafka 4.1 KRaft cluster (every node broker and
#     controller: a combined quorum of three), replication factor 3 and
#     min.insync.replicas 2 for every topic.
# Everything lives under $REFERRALOPS_DATA_DIR/cluster (default <repo>/.data).
#
#   up      install what is missing, start what is not running, wait until
#           every server answers, create the default topics. Safe to run twice.
#   down    stop the Kafka nodes, the ClickHouse servers, then ZooKeeper.
#   status  one line per server; exit 0 only when all of them answer.
#
# Ports (all on 127.0.0.1; each overridable by the variable in brackets):
#   ZooKeeper client                 2181                [CLUSTER_ZK_PORT]
#   ClickHouse native s1r1..s2r2     9101, 9102, 9103, 9104   [CLUSTER_CH_TCP_BASE + n]
#   ClickHouse HTTP   s1r1..s2r2     8101, 8102, 8103, 8104   [CLUSTER_CH_HTTP_BASE + n]
#   ClickHouse interserver (replication) 9201..9204       [CLUSTER_CH_INTERSERVER_BASE + n]
#   Kafka brokers 1..3               19092, 19093, 19094 [CLUSTER_KAFKA_BASE + n - 1]
#   Kafka controllers 1..3           19192, 19193, 19194 [CLUSTER_KAFKA_CONTROLLER_BASE + n - 1]
# The ClickHouse cluster is named $CLUSTER_NAME (default referralops): run
#   referralops migrate --cluster referralops --clickhouse-dsn clickhouse://127.0.0.1:9101/referralops
# KAFKA_DLQ_RETENTION_MS (default 604800000, 7 days) is the retention.ms of the dead-letter
# topic it creates: dead letters hold raw messages, PHI included.
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLUSTER_NAME="${CLUSTER_NAME:-referralops}"
ZK_PORT="${CLUSTER_ZK_PORT:-2181}"
CH_TCP_BASE="${CLUSTER_CH_TCP_BASE:-9100}"
CH_HTTP_BASE="${CLUSTER_CH_HTTP_BASE:-8100}"
CH_INTERSERVER_BASE="${CLUSTER_CH_INTERSERVER_BASE:-9200}"
KAFKA_BASE="${CLUSTER_KAFKA_BASE:-19092}"
KAFKA_CONTROLLER_BASE="${CLUSTER_KAFKA_CONTROLLER_BASE:-19192}"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
PARTITIONS="${KAFKA_TOPIC_PARTITIONS:-6}"
START_TIMEOUT="${CLUSTER_START_TIMEOUT:-120}"
TOPICS=(
	"${REFERRALOPS_TOPIC_REFERRALS:-referral-events}"
	"${REFERRALOPS_TOPIC_SCHEDULING:-scheduling-events}"
	"${REFERRALOPS_TOPIC_COMMUNICATIONS:-communication-events}"
	"${REFERRALOPS_TOPIC_DLQ:-referralops-dlq}"
)
DLQ_RETENTION_MS="${KAFKA_DLQ_RETENTION_MS:-604800000}"
[[ $DLQ_RETENTION_MS =~ ^[1-9][0-9]*$ ]] || die "KAFKA_DLQ_RETENTION_MS=$DLQ_RETENTION_MS is not a positive number of milliseconds"

CLUSTER_DIR="$DATA_ROOT/cluster"
KAFKA_LIBS="$DATA_ROOT/kafka/libs" # resolved once by kafka.sh, shared with the single broker
for p in "$ZK_PORT" "$CH_TCP_BASE" "$CH_HTTP_BASE" "$CH_INTERSERVER_BASE" "$KAFKA_BASE" "$KAFKA_CONTROLLER_BASE"; do
	check_port "cluster port" "$p"
done

# The ClickHouse servers: name shard replica.
CH_NODES=("s1r1 01 s1r1" "s1r2 01 s1r2" "s2r1 02 s2r1" "s2r2 02 s2r2")
KAFKA_NODES=(1 2 3)

usage() {
	echo "usage: $0 up|down|status" >&2
	exit 2
}

# --- ZooKeeper ---------------------------------------------------------------

ZK_DIR="$CLUSTER_DIR/zookeeper"
ZK_CFG="$ZK_DIR/zoo.cfg"
ZK_PID="$ZK_DIR/zookeeper.pid"

zk_answers() {
	# "ruok" is whitelisted in zoo.cfg; bash's /dev/tcp needs no netcat.
	local reply
	exec 3<>"/dev/tcp/127.0.0.1/$ZK_PORT" || return 1
	printf 'ruok' >&3
	reply="$(timeout 2 cat <&3)" || true
	exec 3<&-
	[[ $reply == imok ]]
}

zk_up() {
	if pid_alive "$ZK_PID" "$ZK_CFG" && zk_answers; then
		return 0
	fi
	[[ -f /usr/share/java/zookeeper.jar ]] || ensure_packages zookeeper
	command -v java >/dev/null || ensure_packages openjdk-17-jre-headless
	if ! pid_alive "$ZK_PID" "$ZK_CFG"; then
		port_in_use "$ZK_PORT" && die "port $ZK_PORT is used by another process; set CLUSTER_ZK_PORT"
		mkdir -p "$ZK_DIR/data" "$ZK_DIR/log"
		cat >"$ZK_CFG" <<EOF
# Rendered by deploy/local/cluster.sh: a one-node ZooKeeper for the local ClickHouse cluster.
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$ZK_DIR/data
clientPortAddress=127.0.0.1
clientPort=$ZK_PORT
maxClientCnxns=200
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,mntr
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
EOF
		log "starting ZooKeeper on 127.0.0.1:$ZK_PORT"
		start_daemon "$ZK_PID" "$ZK_DIR/log/zookeeper.out" java -Xmx256m -XX:+UseSerialGC \
			-Dzookeeper.log.dir="$ZK_DIR/log" -Djava.awt.headless=true \
			-cp "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar" \
			org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZK_CFG"
	fi
	local rc=0
	wait_until "$START_TIMEOUT" "$ZK_PID" "$ZK_CFG" zk_answers || rc=$?
	if ((rc != 0)); then
		show_log "ZooKeeper output" "$ZK_DIR/log/zookeeper.out" 0 30
		die "ZooKeeper did not answer on 127.0.0.1:$ZK_PORT"
	fi
}

# --- ClickHouse --------------------------------------------------------------

# ch_env NAME INDEX sets the environment clickhouse.sh reads for one server.
ch_env() {
	local name=$1 i=$2
	CH_ENV=(
		"REFERRALOPS_DATA_DIR=$CLUSTER_DIR/$name"
		"CLICKHOUSE_TCP_PORT=$((CH_TCP_BASE + i))"
		"CLICKHOUSE_HTTP_PORT=$((CH_HTTP_BASE + i))"
		"SCRIPT_NAME=clickhouse.sh[$name]"
	)
}

# ch_fragment NAME SHARD REPLICA INDEX writes the server's config.d and users.d
# fragments, which ClickHouse merges into the config.xml and users.xml that
# clickhouse.sh renders: the single-node files stay the one definition.
ch_fragment() {
	local name=$1 shard=$2 replica=$3 i=$4 etc="$CLUSTER_DIR/$1/clickhouse/etc" s r j n sh
	mkdir -p "$etc/config.d" "$etc/users.d"
	{
		echo "<?xml version=\"1.0\"?>"
		echo "<!-- Rendered by deploy/local/cluster.sh: server $name of cluster $CLUSTER_NAME. -->"
		echo "<yandex>"
		echo "    <interserver_http_host>127.0.0.1</interserver_http_host>"
		echo "    <interserver_http_port>$((CH_INTERSERVER_BASE + i))</interserver_http_port>"
		echo "    <remote_servers><$CLUSTER_NAME>"
		for s in 01 02; do
			echo "        <shard><internal_replication>true</internal_replication>"
			j=0
			for n in "${CH_NODES[@]}"; do
				j=$((j + 1))
				read -r _ sh _ <<<"$n"
				[[ $sh == "$s" ]] || continue
				echo "            <replica><host>127.0.0.1</host><port>$((CH_TCP_BASE + j))</port></replica>"
			done
			echo "        </shard>"
		done
		echo "    </$CLUSTER_NAME></remote_servers>"
		echo "    <macros><cluster>$CLUSTER_NAME</cluster><shard>$shard</shard><replica>$replica</replica></macros>"
		echo "    <zookeeper><node><host>127.0.0.1</host><port>$ZK_PORT</port></node><session_timeout_ms>10000</session_timeout_ms></zookeeper>"
		echo "    <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>"
		echo "</yandex>"
	} >"$etc/config.d/cluster.xml"
	# The KPI SQL joins facts with kpi_index inside queries on Distributed
	# tables: every profile reads with distributed_product_mode 'local'
	# (docs/scaling.md explains why that is correct for this sharding).
	{
		echo "<?xml version=\"1.0\"?>"
		echo "<!-- Rendered by deploy/local/cluster.sh. -->"
		echo "<yandex><profiles>"
		# The ingester recomputes the CMS50 patient order right after its
		# INSERT and must read what it wrote: an INSERT through a Distributed
		# table writes the local shard locally and another shard to a replica
		# chosen by load_balancing, and in_order makes the recompute's reads
		# choose the same ones (the first healthy replica; docs/scaling.md).
		local balance="<load_balancing>in_order</load_balancing>"
		echo "    <default><distributed_product_mode>local</distributed_product_mode>$balance</default>"
		echo "    <writer>$balance</writer>"
		for r in exporter grafana analyst; do
			echo "    <$r><distributed_product_mode>local</distributed_product_mode></$r>"
		done
		echo "</profiles></yandex>"
	} >"$etc/users.d/cluster.xml"
}

ch_up() {
	local i=0 n name shard replica
	for n in "${CH_NODES[@]}"; do
		i=$((i + 1))
		read -r name shard replica <<<"$n"
		ch_fragment "$name" "$shard" "$replica" "$i"
		ch_env "$name" "$i"
		env "${CH_ENV[@]}" "$LIB_DIR/clickhouse.sh" up >/dev/null
	done
}

ch_each() {
	local action=$1 i=0 n name rc=0
	for n in "${CH_NODES[@]}"; do
		i=$((i + 1))
		read -r name _ _ <<<"$n"
		ch_env "$name" "$i"
		env "${CH_ENV[@]}" "$LIB_DIR/clickhouse.sh" "$action" || rc=1
	done
	return "$rc"
}

# --- Kafka -------------------------------------------------------------------

kafka_dir() { echo "$CLUSTER_DIR/kafka-$1"; }
kafka_port() { echo $((KAFKA_BASE + $1 - 1)); }
kafka_props() { echo "$(kafka_dir "$1")/server.properties"; }
kafka_bootstrap() {
	local n out=()
	for n in "${KAFKA_NODES[@]}"; do out+=("127.0.0.1:$(kafka_port "$n")"); done
	(
		IFS=,
		echo "${out[*]}"
	)
}

kafka_run_tool() { kafka_tool "$KAFKA_LIBS" "$@"; }

kafka_render() {
	local id=$1 dir voters="" n
	dir="$(kafka_dir "$id")"
	for n in "${KAFKA_NODES[@]}"; do
		voters+="${voters:+,}$n@127.0.0.1:$((KAFKA_CONTROLLER_BASE + n - 1))"
	done
	mkdir -p "$dir/data" "$dir/logs"
	cat >"$(kafka_props "$id")" <<EOF
# Rendered by deploy/local/cluster.sh: node $id of a three-node Kafka KRaft cluster
# (combined mode: each node is a broker and a controller), loopback only.
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$(kafka_port "$id"),CONTROLLER://127.0.0.1:$((KAFKA_CONTROLLER_BASE + id - 1))
advertised.listeners=PLAINTEXT://127.0.0.1:$(kafka_port "$id")
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
metadata.log.dir=$dir/data
auto.create.topics.enable=false
num.partitions=$PARTITIONS
# Durable by default: a record acked with acks=all is on two brokers at least.
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
unclean.leader.election.enable=false
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.hours=168
EOF
	cat >"$dir/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $dir/logs/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.org.name = org.apache.kafka
logger.org.level = INFO
EOF
}

kafka_format() {
	local id=$1 dir cid
	dir="$(kafka_dir "$id")"
	[[ -f "$dir/data/meta.properties" ]] && return 0
	if [[ ! -s "$CLUSTER_DIR/kafka.cluster.id" ]]; then
		kafka_run_tool kafka.tools.StorageTool random-uuid >"$CLUSTER_DIR/kafka.cluster.id.tmp"
		mv "$CLUSTER_DIR/kafka.cluster.id.tmp" "$CLUSTER_DIR/kafka.cluster.id"
	fi
	cid="$(<"$CLUSTER_DIR/kafka.cluster.id")"
	kafka_run_tool kafka.tools.StorageTool format --ignore-formatted -t "$cid" -c "$(kafka_props "$id")" >&2 ||
		die "formatting Kafka node $id failed"
}

kafka_node_answers() { port_in_use "$(kafka_port "$1")" && kcat -b "127.0.0.1:$(kafka_port "$1")" -L -m 3 >/dev/null 2>&1; }

# kafka_all_answer: every node answers and the metadata lists three brokers.
kafka_all_answer() {
	local n
	for n in "${KAFKA_NODES[@]}"; do kafka_node_answers "$n" || return 1; done
	[[ "$(kcat -b "$(kafka_bootstrap)" -L -m 3 2>/dev/null | sed -n 's/^ *\([0-9]*\) brokers:.*/\1/p')" == 3 ]]
}

kafka_up() {
	ensure_packages kcat
	command -v java >/dev/null || ensure_packages openjdk-17-jre-headless
	[[ -f "$KAFKA_LIBS/.resolved" ]] || "$LIB_DIR/kafka.sh" libs
	mkdir -p "$CLUSTER_DIR"
	local id dir
	# Start all three before waiting: a quorum of three has no leader with one.
	for id in "${KAFKA_NODES[@]}"; do
		dir="$(kafka_dir "$id")"
		pid_alive "$dir/kafka.pid" "$(kafka_props "$id")" && continue
		port_in_use "$(kafka_port "$id")" && die "port $(kafka_port "$id") is used by another process; set CLUSTER_KAFKA_BASE"
		kafka_render "$id"
		kafka_format "$id"
		log "starting Kafka node $id on 127.0.0.1:$(kafka_port "$id")"
		start_daemon "$dir/kafka.pid" "$dir/logs/kafka.out" java -Xms128m -Xmx384m -XX:+UseG1GC \
			-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
			-Dlog4j2.configurationFile="$dir/log4j2.properties" -Dlog4j2.shutdownHookEnabled=false \
			-cp "$KAFKA_LIBS/*" kafka.Kafka "$(kafka_props "$id")"
	done
	local rc=0
	wait_until "$START_TIMEOUT" "$(kafka_dir 1)/kafka.pid" "$(kafka_props 1)" kafka_all_answer || rc=$?
	if ((rc != 0)); then
		for id in "${KAFKA_NODES[@]}"; do show_log "Kafka node $id" "$(kafka_dir "$id")/logs/server.log" 0 15; done
		die "the Kafka cluster did not answer with three brokers on $(kafka_bootstrap) within ${START_TIMEOUT}s"
	fi
	local topic have
	have="$(kcat -b "$(kafka_bootstrap)" -L -m 10 | sed -n 's/^  topic "\(.*\)" with .*/\1/p')"
	for topic in "${TOPICS[@]}"; do
		grep -qxF -- "$topic" <<<"$have" && continue
		local config=(--config min.insync.replicas=2)
		# Dead letters are raw messages (PHI): the DLQ topic expires them.
		[[ $topic == "${TOPICS[3]}" ]] && config+=(--config "retention.ms=$DLQ_RETENTION_MS")
		kafka_run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(kafka_bootstrap)" \
			--create --if-not-exists --topic "$topic" --partitions "$PARTITIONS" \
			--replication-factor 3 "${config[@]}" >/dev/null ||
			die "could not create topic $topic"
		log "created topic $topic ($PARTITIONS partitions, replication factor 3)"
	done
}

kafka_down() {
	local id
	for id in "${KAFKA_NODES[@]}"; do
		stop_daemon "kafka node $id" "$(kafka_dir "$id")/kafka.pid" "$(kafka_props "$id")" 30
	done
}

# --- commands ----------------------------------------------------------------

cmd_up() {
	zk_up
	ch_up
	kafka_up
	echo "cluster: up. ZooKeeper 127.0.0.1:$ZK_PORT; ClickHouse cluster '$CLUSTER_NAME' (2 shards x 2 replicas) native 127.0.0.1:$((CH_TCP_BASE + 1))-$((CH_TCP_BASE + 4)); Kafka $(kafka_bootstrap); data $CLUSTER_DIR"
}

cmd_down() {
	local rc=0
	kafka_down || rc=1
	ch_each down || rc=1
	stop_daemon zookeeper "$ZK_PID" "$ZK_CFG" 30 || rc=1
	return "$rc"
}

cmd_status() {
	local rc=0 id
	if zk_answers; then echo "zookeeper: up at 127.0.0.1:$ZK_PORT"; else
		echo "zookeeper: down"
		rc=1
	fi
	ch_each status || rc=1
	for id in "${KAFKA_NODES[@]}"; do
		if kafka_node_answers "$id"; then echo "kafka node $id: up at 127.0.0.1:$(kafka_port "$id")"; else
			echo "kafka node $id: down"
			rc=1
		fi
	done
	return "$rc"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
*) usage ;;
esac
