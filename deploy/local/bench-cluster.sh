#!/usr/bin/env bash
# bench-cluster.sh: ingest throughput into the local cluster of `make cluster-up`
# (four ClickHouse 18.16 servers as 2 shards x 2 replicas, three Kafka brokers),
# beside bench.sh's single-server figure. `make bench` runs it after bench.sh.
#
# stdout: '#' context lines, then
#   cluster_ingest_events_per_second  events/s  Kafka (RF 3) -> committed rows, two ingesters in one group
#
# One run: fresh topics on the cluster's brokers (replication factor 3,
# min.insync.replicas 2); `referralops generate` produces >= BENCH_CLUSTER_MIN_EVENTS
# valid events (the same generator settings as bench.sh); a fresh database is
# created on every server and migrated with `migrate --cluster`; two `referralops
# ingest` processes in one group write through a server of each shard (s1r1 and
# s2r2) with their default settings. events/s = messages / (start of the ingesters
# -> the sum of their referralops_ingest_records_total reaches the message count;
# records count only once stored and committed, and the INSERTs are synchronous
# on the Distributed table). Topics, group, database and processes are removed on
# exit. All four servers and three brokers share this machine's cores, so the
# figure says what the replicated path costs here, not what a cluster of real
# machines does.
#
# Environment: BENCH_BIN (default <repo>/bin/referralops), BENCH_CLUSTER_MIN_EVENTS
# (default 300000), BENCH_SEED (default 1), BENCH_TIMEOUT (default 900), and the
# port variables of cluster.sh.
set -euo pipefail

SCRIPT_NAME=bench-cluster.sh
# shellcheck source=deploy/local/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN="${BENCH_BIN:-$REPO_ROOT/bin/referralops}"
MIN_EVENTS="${BENCH_CLUSTER_MIN_EVENTS:-300000}"
SEED="${BENCH_SEED:-1}"
TIMEOUT="${BENCH_TIMEOUT:-900}"
CLUSTER_NAME="${CLUSTER_NAME:-referralops}"
CH_TCP_BASE="${CLUSTER_CH_TCP_BASE:-9100}"
KAFKA_BASE="${CLUSTER_KAFKA_BASE:-19092}"
BROKERS="127.0.0.1:$KAFKA_BASE,127.0.0.1:$((KAFKA_BASE + 1)),127.0.0.1:$((KAFKA_BASE + 2))"
PARTITIONS=6
# bench.sh's simulated month: about 4.5 events per referral.
GEN_ARGS=(--days 30 --end 2026-03-31 --seed "$SEED" --binary-ratio 0 --duplicate-ratio 0 --invalid-ratio 0)
REFERRALS=$((MIN_EVENTS * 2 / 9))
RUN_ID="$(date -u +%Y%m%dT%H%M%SZ)"
PREFIX="bench-cluster-$RUN_ID"
DB="bench_cluster_${RUN_ID//[^0-9]/}"
GROUP="$PREFIX-ingest"
TOPICS=("$PREFIX-referrals" "$PREFIX-scheduling" "$PREFIX-communications" "$PREFIX-dlq")
KAFKA_FLAGS=(--kafka-brokers "$BROKERS" --topic-referrals "${TOPICS[0]}" --topic-scheduling "${TOPICS[1]}"
	--topic-communications "${TOPICS[2]}" --topic-dlq "${TOPICS[3]}")
WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-cluster.XXXXXX")"
PIDS=()
T0=$(now_s)

log() { printf '%s: [%4ss] %s\n' "$SCRIPT_NAME" "$(($(now_s) - T0))" "$*" >&2; }
ch() { clickhouse-client --host 127.0.0.1 --port "$((CH_TCP_BASE + 1))" "$@"; }
run_tool() { kafka_tool "$DATA_ROOT/kafka/libs" "$@"; }

cleanup() {
	local rc=$? pid
	set +e
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	ch --query "DROP DATABASE IF EXISTS $DB ON CLUSTER $CLUSTER_NAME" >/dev/null 2>&1 || log "could not drop $DB"
	run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKERS" --delete --if-exists \
		--topic "$PREFIX-.*" >/dev/null 2>&1 || log "could not delete the topics $PREFIX-*"
	((rc == 0)) || tail -n 20 "$WORK"/*.log >&2 2>/dev/null
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$LIB_DIR/cluster.sh" status >/dev/null || die "the local cluster is not up: run 'make cluster-up'"
[[ -x $BIN ]] || die "$BIN is missing: run 'make build'"

for topic in "${TOPICS[@]}"; do
	run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKERS" --create --topic "$topic" \
		--partitions "$PARTITIONS" --replication-factor 3 --config min.insync.replicas=2 >/dev/null ||
		die "could not create topic $topic"
done
ch --query "CREATE DATABASE $DB ON CLUSTER $CLUSTER_NAME" >/dev/null
"$BIN" migrate --cluster "$CLUSTER_NAME" --clickhouse-dsn "clickhouse://127.0.0.1:$((CH_TCP_BASE + 1))/$DB" \
	--log-format text 2>"$WORK/migrate.log" || die "migrate --cluster failed"

log "generating $REFERRALS referrals to $BROKERS"
"$BIN" generate --referrals "$REFERRALS" "${GEN_ARGS[@]}" "${KAFKA_FLAGS[@]}" --log-format text 2>"$WORK/generate.log" >&2 ||
	die "referralops generate failed"
MESSAGES="$(kcat -b "$BROKERS" -Q $(for t in "${TOPICS[@]:0:3}"; do for ((p = 0; p < PARTITIONS; p++)); do printf -- '-t %s:%d:-1 ' "$t" "$p"; done; done) |
	awk '$3 == "offset" { s += $4 } END { printf "%d", s }')"
((MESSAGES > 0)) || die "no message was produced"
log "produced $MESSAGES messages"

URLS=()
t0="$(printf '%s' "$EPOCHREALTIME")"
for server in 1 4; do # s1r1 and s2r2: one per shard
	port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
	"$BIN" ingest "${KAFKA_FLAGS[@]}" --group "$GROUP" --listen "127.0.0.1:$port" --log-format json \
		--clickhouse-dsn "clickhouse://127.0.0.1:$((CH_TCP_BASE + server))/$DB" >"$WORK/ingest-$server.log" 2>&1 &
	PIDS+=("$!")
	URLS+=("http://127.0.0.1:$port/metrics")
done
deadline=$(($(now_s) + TIMEOUT))
while :; do
	n=0
	for url in "${URLS[@]}"; do
		c="$(curl -fsS --max-time 2 "$url" 2>/dev/null | awk '$1 ~ /^referralops_ingest_records_total\{/ { s += $NF } END { printf "%.0f", s }')" || c=0
		n=$((n + ${c:-0}))
	done
	((n >= MESSAGES)) && break
	for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || die "an ingester exited ($n of $MESSAGES settled)"; done
	(($(now_s) < deadline)) || die "only $n of $MESSAGES settled within ${TIMEOUT}s"
	sleep 0.2
done
secs="$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')"
RATE="$(awk -v n="$MESSAGES" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')"
cat <<EOF
# cluster bench, run $RUN_ID: $(nproc) cores shared by 4 ClickHouse servers (2 shards x 2 replicas), ZooKeeper and 3 Kafka brokers; load average $(cut -d' ' -f1-3 /proc/loadavg)
# events: $MESSAGES valid CloudEvents ($REFERRALS referrals, seed $SEED) on topics with replication factor 3; two ingesters (default settings) through s1r1 and s2r2; all stored and committed in ${secs}s
cluster_ingest_events_per_second $RATE events/s
EOF
