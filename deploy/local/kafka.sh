#!/usr/bin/env bash
# kafka.sh up|down|status: a local Apache Kafka 4.x broker (KRaft combined mode,
# one node, loopback only) run from the jars on Maven Central, with all its files
# under $REFERRALOPS_DATA_DIR/kafka (default <repo>/.data/kafka):
#   libs/     the broker's runtime classpath (resolved once by Maven, then reused)
#   config/   server.properties and log4j2.properties, rendered from deploy/local/kafka/
#   data/     log.dirs and the metadata log: kept across restarts
#   logs/     server.log (broker), kafka.out (JVM stdout/stderr), mvn.log
#   cluster.id, kafka.pid
#
#   up      resolve the jars if needed, format the storage if not yet formatted,
#           start the broker in the background, wait until it answers metadata
#           requests, then create the default topics that are missing.
#           A no-op (apart from the topic check) when already running.
#   down    SIGTERM, wait up to 30s for a clean shutdown, then SIGKILL.
#   status  exit 0 when the broker answers a metadata request, 1 otherwise.
#   libs    only resolve the jars (cluster.sh runs its brokers from them).
#
# Environment:
#   REFERRALOPS_DATA_DIR           data root (default <repo>/.data)
#   KAFKA_VERSION                  Apache Kafka release on Maven Central (default 4.1.1)
#   KAFKA_PORT                     PLAINTEXT listener (default 9092)
#   KAFKA_CONTROLLER_PORT          KRaft controller listener (default 9094; 9093 is Alertmanager's)
#   KAFKA_HEAP_OPTS                JVM heap (default -Xms256m -Xmx512m)
#   KAFKA_START_TIMEOUT            seconds to wait for the broker (default 90)
#   KAFKA_TOPIC_PARTITIONS         partitions of the default topics (default 6)
#   REFERRALOPS_TOPIC_REFERRALS    default referral-events
#   REFERRALOPS_TOPIC_SCHEDULING   default scheduling-events
#   REFERRALOPS_TOPIC_COMMUNICATIONS  default communication-events
#   REFERRALOPS_TOPIC_DLQ          default referralops-dlq
#   KAFKA_DLQ_RETENTION_MS         retention.ms of the dead-letter topic when this script creates
#                                  it (default 604800000, 7 days): dead letters hold raw
#                                  messages, PHI included. An existing topic keeps its setting.
#   REFERRALOPS_TOPIC_HL7V2        default hl7v2-messages (the standard inputs: ingest --site-config, demo)
#   REFERRALOPS_TOPIC_FHIR         default fhir-resources
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9094}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
PARTITIONS="${KAFKA_TOPIC_PARTITIONS:-6}"
TOPICS=(
	"${REFERRALOPS_TOPIC_REFERRALS:-referral-events}"
	"${REFERRALOPS_TOPIC_SCHEDULING:-scheduling-events}"
	"${REFERRALOPS_TOPIC_COMMUNICATIONS:-communication-events}"
	"${REFERRALOPS_TOPIC_DLQ:-referralops-dlq}"
	"${REFERRALOPS_TOPIC_HL7V2:-hl7v2-messages}"
	"${REFERRALOPS_TOPIC_FHIR:-fhir-resources}"
)
DLQ_TOPIC="${TOPICS[3]}"
DLQ_RETENTION_MS="${KAFKA_DLQ_RETENTION_MS:-604800000}"

BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
KAFKA_DIR="$DATA_ROOT/kafka"
LIBS_DIR="$KAFKA_DIR/libs"
CONF_DIR="$KAFKA_DIR/config"
LOG_DIRS="$KAFKA_DIR/data"
LOGS_DIR="$KAFKA_DIR/logs"
PID_FILE="$KAFKA_DIR/kafka.pid"
CLUSTER_ID_FILE="$KAFKA_DIR/cluster.id"
SERVER_PROPERTIES="$CONF_DIR/server.properties"
SERVER_LOG="$LOGS_DIR/server.log"
OUT_FILE="$LOGS_DIR/kafka.out"
POM="$LIB_DIR/kafka/pom.xml"
# The server.properties path is in the broker's command line: pid_alive's marker.
MARKER="$SERVER_PROPERTIES"

# The broker's JVM flags (those of Kafka's own start script, plus exit on OOM).
JVM_OPTS=(-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
	-XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true)

check_port KAFKA_PORT "$KAFKA_PORT"
check_port KAFKA_CONTROLLER_PORT "$CONTROLLER_PORT"
[[ $PARTITIONS =~ ^[1-9][0-9]*$ ]] || die "KAFKA_TOPIC_PARTITIONS=$PARTITIONS is not a positive number"
[[ $DLQ_RETENTION_MS =~ ^[1-9][0-9]*$ ]] || die "KAFKA_DLQ_RETENTION_MS=$DLQ_RETENTION_MS is not a positive number of milliseconds"

usage() {
	echo "usage: $0 up|down|status" >&2
	exit 2
}

# answers: the broker returns cluster metadata. The port check first: kcat waits
# its full timeout (3s) on a refused connection, which would slow the polling.
answers() {
	port_in_use "$KAFKA_PORT" && kcat -b "$BOOTSTRAP" -L -m 3 >/dev/null 2>&1
}

# run_tool CLASS ARGS... runs a Kafka command-line tool from the cached jars.
run_tool() { kafka_tool "$LIBS_DIR" "$@"; }

# ensure_libs resolves the broker's jars into $LIBS_DIR with Maven, once per
# (version, pom) pair: the stamp file records both, so editing the pom or
# changing KAFKA_VERSION re-resolves, and otherwise nothing touches the network.
ensure_libs() {
	local stamp="$LIBS_DIR/.resolved" want
	want="kafka=$KAFKA_VERSION pom=$(sha256sum "$POM" | cut -d' ' -f1)"
	if [[ -f $stamp && "$(<"$stamp")" == "$want" ]]; then
		return 0
	fi
	command -v mvn >/dev/null || ensure_packages maven
	mkdir -p "$LOGS_DIR"
	local tmp="$LIBS_DIR.tmp" started
	rm -rf "$tmp"
	started=$(now_s)
	log "resolving Apache Kafka $KAFKA_VERSION jars from Maven Central into $LIBS_DIR (first run only)"
	if ! mvn -B -f "$POM" -Dkafka.version="$KAFKA_VERSION" \
		dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
		>"$LOGS_DIR/mvn.log" 2>&1; then
		log "Maven failed; the end of $LOGS_DIR/mvn.log:"
		grep -E '\[ERROR\]|BUILD' "$LOGS_DIR/mvn.log" | tail -n 20 | sed 's/^/    /' >&2 || true
		die "could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central"
	fi
	[[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] ||
		die "Maven finished but $tmp/kafka_2.13-$KAFKA_VERSION.jar is missing (see $LOGS_DIR/mvn.log)"
	printf '%s\n' "$want" >"$tmp/.resolved"
	rm -rf "$LIBS_DIR"
	mv "$tmp" "$LIBS_DIR"
	log "resolved $(find "$LIBS_DIR" -name '*.jar' | wc -l) jars in $(($(now_s) - started))s"
}

render_config() {
	mkdir -p "$CONF_DIR" "$LOG_DIRS" "$LOGS_DIR"
	# A properties file: only the log.dirs path could need escaping, and a path
	# with backslashes or a leading space is not worth supporting.
	render_template "$LIB_DIR/kafka/server.properties.tmpl" "$SERVER_PROPERTIES" \
		"KAFKA_PORT=$KAFKA_PORT" "CONTROLLER_PORT=$CONTROLLER_PORT" "LOG_DIRS=$LOG_DIRS"
	render_template "$LIB_DIR/kafka/log4j2.properties.tmpl" "$CONF_DIR/log4j2.properties" \
		"LOG_FILE=$SERVER_LOG"
}

# ensure_formatted formats log.dirs once: meta.properties marks a formatted
# directory, and formatting it again would be refused (or, forced, lose data).
# The cluster id is also kept in cluster.id, so that a data dir deleted to start
# over is formatted with the same id.
ensure_formatted() {
	if [[ -f "$LOG_DIRS/meta.properties" ]]; then
		if [[ ! -s $CLUSTER_ID_FILE ]]; then
			sed -n 's/^cluster\.id=//p' "$LOG_DIRS/meta.properties" >"$CLUSTER_ID_FILE"
		fi
		return 0
	fi
	if [[ ! -s $CLUSTER_ID_FILE ]]; then
		run_tool kafka.tools.StorageTool random-uuid >"$CLUSTER_ID_FILE.tmp" ||
			die "kafka.tools.StorageTool random-uuid failed"
		mv "$CLUSTER_ID_FILE.tmp" "$CLUSTER_ID_FILE"
	fi
	log "formatting $LOG_DIRS (cluster id $(<"$CLUSTER_ID_FILE"))"
	run_tool kafka.tools.StorageTool format --ignore-formatted \
		-t "$(<"$CLUSTER_ID_FILE")" -c "$SERVER_PROPERTIES" >&2 ||
		die "kafka.tools.StorageTool format failed"
}

# Log sizes before this start: fail_start shows only what this start wrote.
log_offset=0
out_offset=0

fail_start() {
	log "$1"
	show_log "broker log" "$SERVER_LOG" "$log_offset" 30
	show_log "JVM stdout/stderr" "$OUT_FILE" "$out_offset" 15
	exit 1
}

# existing_topics prints the broker's topic names, one per line.
existing_topics() {
	kcat -b "$BOOTSTRAP" -L -m 10 | sed -n 's/^  topic "\(.*\)" with .*/\1/p'
}

# create_topic TOPIC creates one topic. The broker has just started, so a
# creation may hit a controller that is not ready yet: retry a few times.
# The dead-letter topic gets a retention: its records are raw messages (PHI).
create_topic() {
	local topic=$1 attempt config=()
	[[ $topic == "$DLQ_TOPIC" ]] && config=(--config "retention.ms=$DLQ_RETENTION_MS")
	for attempt in 1 2 3 4 5; do
		if run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" \
			--create --if-not-exists --topic "$topic" \
			--partitions "$PARTITIONS" --replication-factor 1 "${config[@]}" >/dev/null; then
			log "created topic $topic ($PARTITIONS partitions${config:+, ${config[1]}})"
			return 0
		fi
		log "creating topic $topic failed (attempt $attempt); retrying"
		sleep 2
	done
	log "could not create topic $topic on $BOOTSTRAP"
	return 1
}

# ensure_topics creates the default topics that do not exist yet, in parallel
# (TopicCommand takes one topic per JVM, and a JVM start is most of its cost).
ensure_topics() {
	local have topic pids=() pid failed=0
	have="$(existing_topics)" || die "could not list topics on $BOOTSTRAP"
	for topic in "${TOPICS[@]}"; do
		if ! grep -qxF -- "$topic" <<<"$have"; then
			create_topic "$topic" &
			pids+=("$!")
		fi
	done
	for pid in "${pids[@]}"; do
		wait "$pid" || failed=1
	done
	((failed == 0)) || die "could not create every default topic (${TOPICS[*]})"
}

cmd_up() {
	ensure_packages kcat
	if pid_alive "$PID_FILE" "$MARKER"; then
		# Ours, but maybe started with another port: waiting would be pointless.
		local running_port
		running_port="$(sed -n 's/^listeners=PLAINTEXT:\/\/[^:]*:\([0-9]*\).*/\1/p' "$SERVER_PROPERTIES")"
		if [[ $running_port != "$KAFKA_PORT" ]]; then
			die "the broker started by this script (pid $(<"$PID_FILE")) listens on port $running_port, not $KAFKA_PORT; run '$0 down' first"
		fi
		log "broker process exists (pid $(<"$PID_FILE"))"
	else
		command -v java >/dev/null || ensure_packages openjdk-17-jre-headless
		for port in "$KAFKA_PORT" "$CONTROLLER_PORT"; do
			if port_in_use "$port"; then
				die "port $port on 127.0.0.1 is already used by another process (not ours: no live pid in $PID_FILE); stop it or set KAFKA_PORT/KAFKA_CONTROLLER_PORT"
			fi
		done
		ensure_libs
		render_config
		ensure_formatted
		log_offset=$(file_size "$SERVER_LOG")
		out_offset=$(file_size "$OUT_FILE")
		log "starting Kafka $KAFKA_VERSION broker (config $SERVER_PROPERTIES)"
		# shellcheck disable=SC2086 # HEAP_OPTS is a list of JVM flags.
		start_daemon "$PID_FILE" "$OUT_FILE" java $HEAP_OPTS "${JVM_OPTS[@]}" \
			-Dlog4j2.configurationFile="$CONF_DIR/log4j2.properties" \
			-Dlog4j2.shutdownHookEnabled=false \
			-cp "$LIBS_DIR/*" kafka.Kafka "$SERVER_PROPERTIES"
	fi

	local rc=0
	wait_until "$START_TIMEOUT" "$PID_FILE" "$MARKER" answers || rc=$?
	case $rc in
	0) ;;
	2) fail_start "the Kafka broker exited during startup" ;;
	*) fail_start "the Kafka broker did not answer on $BOOTSTRAP within ${START_TIMEOUT}s (still running as pid $(<"$PID_FILE"))" ;;
	esac
	ensure_topics
	echo "kafka: up at $BOOTSTRAP (Kafka $KAFKA_VERSION, KRaft controller 127.0.0.1:$CONTROLLER_PORT, pid $(<"$PID_FILE")); data $KAFKA_DIR"
}

cmd_down() {
	stop_daemon kafka "$PID_FILE" "$MARKER" 30
}

cmd_status() { service_status kafka "$BOOTSTRAP" "$PID_FILE" "$MARKER"; }

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
libs) ensure_libs ;;
*) usage ;;
esac
