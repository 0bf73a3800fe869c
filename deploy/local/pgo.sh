#!/usr/bin/env bash
# pgo.sh: writes cmd/referralops/default.pgo, the CPU profile that `go build`
# uses by itself (-pgo=auto) to optimize the binary (profile-guided
# optimization). `make pgo` runs it; the local servers must be up
# (make services-up).
#
# The profile is of `referralops ingest` over a backlog of about 1.4 M generated
# events (bench.sh's simulated month, the generator's default mix of formats)
# from the local Kafka into a scratch database on the local ClickHouse: the
# ingester is the process whose own CPU counts (issue #13), while the exporter
# and the other commands mostly wait on ClickHouse. The binary profiled is built
# without a profile. Regenerate the file when the ingest path changes much: a
# stale profile optimizes less, it never changes what the binary does.
#
# Environment: PGO_SECONDS (profile length, default 8: about the backlog's
# ingest), PGO_REFERRALS (default 300000: about 1.4 M events), KAFKA_PORT (9092),
# CLICKHOUSE_PORT (9000), GO (go).
set -euo pipefail

SCRIPT_NAME=pgo.sh
# shellcheck source=deploy/local/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SECONDS_PROFILED="${PGO_SECONDS:-8}"
REFERRALS="${PGO_REFERRALS:-300000}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
CLICKHOUSE_PORT="${CLICKHOUSE_PORT:-9000}"
GO="${GO:-go}"
BROKERS="127.0.0.1:$KAFKA_PORT"
LIBS_DIR="$DATA_ROOT/kafka/libs"
OUT="$REPO_ROOT/cmd/referralops/default.pgo"
for pair in SECONDS_PROFILED:PGO_SECONDS REFERRALS:PGO_REFERRALS; do
	var=${pair%%:*}
	[[ ${!var} =~ ^[1-9][0-9]*$ ]] || die "${pair#*:}=${!var} must be a positive integer"
done
check_port KAFKA_PORT "$KAFKA_PORT"
check_port CLICKHOUSE_PORT "$CLICKHOUSE_PORT"
for cmd in curl java clickhouse-client "$GO"; do
	command -v "$cmd" >/dev/null || die "$cmd is not installed (make services-up installs the servers' packages)"
done
compgen -G "$LIBS_DIR/kafka-tools-*.jar" >/dev/null || die "no Kafka jars in $LIBS_DIR: run make services-up first"

# Everything this run creates is named after it, and removed on exit.
run="pgo$$"
db="referralops_$run"
topics=("$run-referrals" "$run-scheduling" "$run-communications" "$run-dlq")
work="$(mktemp -d)"
ingester=""
cleanup() {
	[[ -n $ingester ]] && kill "$ingester" 2>/dev/null && wait "$ingester" 2>/dev/null
	clickhouse-client --port "$CLICKHOUSE_PORT" -q "DROP DATABASE IF EXISTS ${db}_phi" >/dev/null 2>&1 || true
	clickhouse-client --port "$CLICKHOUSE_PORT" -q "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
	for t in "${topics[@]}"; do
		kafka_tool "$LIBS_DIR" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKERS" --delete --if-exists --topic "$t" >/dev/null 2>&1 &
	done
	wait
	rm -rf "$work"
}
trap cleanup EXIT
# fail FILE MESSAGE shows the end of a step's log, then stops.
fail() {
	log "last lines of $1:"
	tail -n 20 "$1" | sed 's/^/    /' >&2
	die "$2"
}
# await SECONDS WHAT CHECK... runs CHECK until it succeeds; fails when the
# ingester exits or SECONDS pass first.
await() {
	local deadline=$(($(now_s) + $1)) what=$2
	shift 2
	until "$@"; do
		kill -0 "$ingester" 2>/dev/null || fail "$work/ingest.log" "the ingester exited"
		(($(now_s) < deadline)) || fail "$work/ingest.log" "$what"
		sleep 0.1
	done
}

log "building the binary without a profile"
(cd "$REPO_ROOT" && "$GO" build -pgo=off -o "$work/referralops" ./cmd/referralops)
bin="$work/referralops"

log "creating topics ${topics[*]} and producing $REFERRALS referrals' events to $BROKERS"
for t in "${topics[@]}"; do
	kafka_tool "$LIBS_DIR" org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKERS" \
		--create --if-not-exists --topic "$t" --partitions 6 --replication-factor 1 >/dev/null &
done
wait
flags=(--topic-referrals "${topics[0]}" --topic-scheduling "${topics[1]}" --topic-communications "${topics[2]}" --topic-dlq "${topics[3]}")
"$bin" generate --referrals "$REFERRALS" --days 30 --end 2026-03-31 --seed 1 --kafka-brokers "$BROKERS" \
	"${flags[@]}" --log-format text >"$work/generate.log" 2>&1 || fail "$work/generate.log" "referralops generate failed"

dsn="clickhouse://127.0.0.1:$CLICKHOUSE_PORT/$db"
"$bin" migrate --clickhouse-dsn "$dsn" --log-format text >"$work/migrate.log" 2>&1 || fail "$work/migrate.log" "referralops migrate failed"

pprof_port=19557
metrics_port=19558
port_in_use "$pprof_port" && die "port $pprof_port (pprof) is in use"
port_in_use "$metrics_port" && die "port $metrics_port (metrics) is in use"
log "ingesting into $db, profiling ${SECONDS_PROFILED}s"
"$bin" ingest --kafka-brokers "$BROKERS" "${flags[@]}" --group "$run" --clickhouse-dsn "$dsn" \
	--listen "127.0.0.1:$metrics_port" --debug.pprof --debug.pprof-listen "127.0.0.1:$pprof_port" \
	--log-format text >"$work/ingest.log" 2>&1 &
ingester=$!
# stored prints the records the ingester has stored and committed so far.
stored() {
	{ curl -fs "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null || true; } |
		awk '$1 ~ /^referralops_ingest_records_total\{/ { n += $NF } END { printf "%.0f", n }'
}
any_stored() { (($(stored) > 0)); }
# Profile from the moment it serves: its start is a small share of the
# samples, and the backlog keeps it busy for most of the profile.
await 30 "the ingester's pprof endpoint did not answer within 30 s" curl -fso /dev/null "http://127.0.0.1:$pprof_port/debug/pprof/"
curl -fso "$work/cpu.pprof" "http://127.0.0.1:$pprof_port/debug/pprof/profile?seconds=$SECONDS_PROFILED" ||
	fail "$work/ingest.log" "no CPU profile from the ingester"
# Records count once committed, which during a backlog comes in large steps
# (stored INSERTs are held for one patient-order recompute): check after the
# profile that the ingester did store the backlog.
await 60 "the ingester stored nothing within 60 s of the profile" any_stored
mv "$work/cpu.pprof" "$OUT"
log "wrote $OUT ($(file_size "$OUT") bytes, ${SECONDS_PROFILED}s; $(stored) records stored); rebuild to use it"
