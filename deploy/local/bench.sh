#!/usr/bin/env bash
# bench.sh: the ingest figures of issues #2 and #13, measured end to end on
# this machine, fairly for both sides. `make bench` runs it after
# `services-up` and building bin/referralops.
#
# stdout: '#' context lines (one per run, with its load average and its
# targets met/MISSED), then one `name value unit` line per figure. "Median"
# is over the BENCH_RUNS runs (default 3):
#   ingest_events_per_second                 events/s  Kafka -> ClickHouse, our ingester (median)
#   kafka_engine_events_per_second           events/s  the same events through ClickHouse's Kafka table
#                                                      engine, as shipped (1 consumer, views serial) (median)
#   kafka_engine_tuned_events_per_second     events/s  the engine tuned: kafka_num_consumers=2 and
#                                                      parallel_view_processing=1 (median)
#   ingest_vs_kafka_engine_ratio             ratio     ingest / engine, per run (side by side), median
#   ingest_vs_tuned_kafka_engine_ratio       ratio     ingest / tuned engine, per run, median
#   ingest_cpu_seconds_per_million_events    s         the ingester process's CPU (user + system) per
#                                                      million events, up to its last stored row (median)
#   ingest_gc_cpu_seconds_per_million_events s         the Go GC's CPU (the runtime metric
#                                                      /cpu/classes/gc/total:cpu-seconds) (median): the
#                                                      runtime's estimate from the time its workers ran, not
#                                                      OS CPU time; it includes marking on otherwise idle CPUs
#                                                      (shown per run), so it can exceed the process's share
#   ingest_alloc_bytes_per_event             bytes     go_memstats_alloc_bytes_total / events (median)
#   ingest_total_cpu_seconds_per_million_events s      ingester + ClickHouse server CPU per million,
#                                                      up to quiescence (merges included) (median)
#   kafka_engine_cpu_seconds_per_million_events s      ClickHouse server CPU per million up to
#                                                      quiescence, the engine as shipped (median)
#   kafka_engine_tuned_cpu_seconds_per_million_events s  the same, the tuned engine (median)
#   ingest_peak_rss_bytes                    bytes     the ingester's peak RSS (VmHWM), default flags
#                                                      (the highest of the runs)
#   ingest_events_per_second_duplicates_shuffled  events/s  one run of the ingester over a backlog with
#                                                      BENCH_DUPLICATE_RATIO duplicates, out of order
#   kafka_engine_events_per_second_duplicates_shuffled events/s  the engine (as shipped) over it
#   ingest_vs_kafka_engine_ratio_duplicates_shuffled  ratio  the first over the second
#   ingest_steady_cpu_seconds_per_million_events s     the ingester's CPU per million events while
#                                                      BENCH_STEADY_RATE events/s are produced for
#                                                      BENCH_STEADY_SECONDS (steady state, not a backlog)
#   ingest_steady_lag_seconds                s         from the last message produced to the last row
#                                                      stored, in that run
#   ingest_steady_max_lag_events             events    the most messages produced but not yet stored,
#                                                      sampled once a second in that run
#   ingest_peak_rss_bytes_large_messages     bytes     its peak RSS over a stream of 400 KB messages
#   decode_events_per_second_per_core        events/s  BenchmarkDecode/structured with -cpu 1
# stderr: progress, and the servers' log lines when something fails.
#
# Targets (issue #13), printed met/MISSED per run and for the medians: ingest
# >= 150,000 events/s; ratio >= 2.0; tuned ratio >= 1.5; peak RSS < 200 MB
# (both figures); ingester CPU <= 3 s per million events. BENCH_ENFORCE_TARGETS=1
# makes a missed median target exit 3.
#
# How it is measured:
#  1. Fresh topics <prefix>-main-{referrals,scheduling,communications,dlq}
#     (BENCH_PARTITIONS partitions) on the local Kafka broker; `referralops
#     generate` produces >= BENCH_MIN_EVENTS valid structured-mode CloudEvents
#     (no duplicates, no invalid messages) once; every run drains this backlog.
#     The message count is the sum of the topics' end offsets.
#  2. A dedicated ClickHouse 18.16 server (clickhouse.sh with its data in a
#     temporary directory, on free ports), because 18.16's Kafka engine parses
#     with the server's default profile, which needs input_format_import_nested_json=1
#     to reach the CloudEvents `data` object (bench/clickhouse-users.d.xml). Every
#     measurement uses it, so they compare like with like. It is restarted before
#     each measurement (cold caches for every side alike), with
#     parallel_view_processing in the default profile 1 for the tuned engine and
#     0 (18.16's default) otherwise: the Kafka engine takes its settings from that
#     profile, read at start.
#  3. Each measurement gets a fresh database migrated by `referralops migrate`
#     and a fresh consumer group: ours as referralops_migrator, ingested as
#     referralops_writer (the database CLICKHOUSE_DATABASE names, dropped and
#     migrated again for each ingest measurement); the engine's as the admin.
#  4. Ours: `referralops ingest` (default flags, plus BENCH_INGEST_ARGS). The
#     engine: a Kafka table on the same topics (its group's offsets committed at
#     the earliest beforehand: a new 18.16 group starts at the end), a view into
#     `events` with the ingester's column mapping (bench/kafka_engine_mapping.txt)
#     and copies of the migrations' fact views chained on it, so that ClickHouse
#     maintains the same tables for both sides.
#  5. The clock (the same rule for both sides): from the ingester's start, or the
#     Kafka table's creation with its views in place, to the last time any table
#     of the side grew, once every message was taken (the ingester counted them
#     all in referralops_ingest_records_total, or the engine's `events` received
#     them all) and no table has grown for BENCH_SETTLE_SECONDS. "Grew" is the
#     rows of the tables' level-0 parts, active or merged away, i.e. every row
#     inserted: 18.16 runs an engine block's views after writing `events`, so the
#     views' rows of the last block count. events/s = messages / that time.
#  6. Then the server quiesces: no merge running and the active parts (outside
#     `system`) unchanged for BENCH_QUIESCE_SECONDS; the server's CPU (and the
#     ingester's) is taken up to there, so that each side pays its own merges and
#     none spill into the next measurement. The engine's views are dropped when
#     it is done (18.16 streams only to a Kafka table with views), its Kafka
#     table after quiescence: 18.16's librdkafka can abort the server while
#     destroying a consumer (seen with 2 consumers), which is then restarted.
#  7. Runs alternate their order (ingest, engine, tuned; then tuned, engine,
#     ingest; ...); the figures are medians. The last run's databases are
#     compared table by table, column by column (checksums).
#  8. Duplicates and disorder: a second backlog (<prefix>-dup-*, the same
#     referrals with --duplicate-ratio BENCH_DUPLICATE_RATIO --shuffle), one
#     ingest and one engine measurement.
#  9. Steady state: BENCH_STEADY_RATE x BENCH_STEADY_SECONDS generated events are
#     produced with kcat in one-second slices at that rate to <prefix>-steady-*
#     while the ingester (started first) runs.
# 10. Large messages (<prefix>-large-*) and `go test -bench BenchmarkDecode -cpu 1`.
#  Topics, consumer groups, databases, the dedicated server, the ingester and the
#  temporary directory are removed on exit, on failure and on Ctrl-C too.
#
# Needs: the local Kafka broker up (deploy/local/services.sh up), bin/referralops,
# go, java, kcat, curl, clickhouse-server/clickhouse-client.
#
# Environment:
#   BENCH_BIN                  the binary (default <repo>/bin/referralops)
#   BENCH_MIN_EVENTS           at least this many events in the main backlog (default 1000000)
#   BENCH_REFERRALS            referrals to generate (default: derived from a pilot
#                              run so that BENCH_MIN_EVENTS are produced, +2%)
#   BENCH_SEED                 generator seed (default 1)
#   BENCH_PARTITIONS           partitions per topic (default 6)
#   BENCH_RUNS                 runs of the three main measurements (default 3)
#   BENCH_SETTLE_SECONDS       no table of a side grew this long: it is done (default 6)
#   BENCH_QUIESCE_SECONDS      no merge and no part change this long: quiet (default 12;
#                              18.16's merge pool sleeps up to ~11 s when idle)
#   BENCH_DUPLICATE_RATIO      duplicates in the duplicates-and-disorder backlog (default 0.1)
#   BENCH_STEADY_RATE          events/s of the steady-state run (default 20000)
#   BENCH_STEADY_SECONDS       its length in seconds (default 60)
#   KAFKA_PORT                 the local broker's port (default 9092)
#   BENCH_CLICKHOUSE_TCP_PORT  first port tried for the dedicated server (default 19000)
#   BENCH_CLICKHOUSE_HTTP_PORT first HTTP port tried (default 18123)
#   BENCH_INGEST_PORT          first port tried for the ingester's /metrics (default 19465)
#   BENCH_INGEST_ARGS          extra flags for `referralops ingest` (e.g. "--batch-rows 200000"),
#                              to try settings; the defaults are what the figures are about
#   BENCH_KAFKA_NUM_CONSUMERS  kafka_num_consumers of the engine as shipped (default 1)
#   BENCH_TUNED_NUM_CONSUMERS  kafka_num_consumers of the tuned engine (default 2)
#   BENCH_LARGE_MESSAGES       messages of about 400 KB in the large-message run (default 1000;
#                              one in five is invalid, dead-lettered): valid events padded with
#                              an unknown member, ingested with the default flags, so that the
#                              peak RSS shows --max-buffered-bytes at work
#   BENCH_ONLY_LARGE_MESSAGES  1: run the large-message measurement only (its figure alone)
#   BENCH_TIMEOUT              seconds allowed per measurement (default 900)
#   BENCH_STALL_TIMEOUT        fail when a measurement makes no progress this long (default 180)
#   BENCH_ENFORCE_TARGETS      1: exit 3 when a median target of the issue is missed (default 0)
#   BENCH_KEEP_LOGS            a directory: copy the run's logs (ingester, generator,
#                              dedicated ClickHouse server) there before cleaning up
#   BENCH_KEEP_SERVER          1: leave the dedicated ClickHouse server running with the
#                              databases (and its directory) for inspection; the command
#                              that stops it is printed
#   TMPDIR                     where the temporary directory goes (default /tmp)
# Other REFERRALOPS_* variables (except REFERRALOPS_DATA_DIR) are ignored: they
# would change the binary's configuration behind the benchmark's back.
set -euo pipefail

SCRIPT_NAME=bench.sh
# shellcheck source=deploy/local/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN="${BENCH_BIN:-$REPO_ROOT/bin/referralops}"
GO="${GO:-go}"
MIN_EVENTS="${BENCH_MIN_EVENTS:-1000000}"
REFERRALS="${BENCH_REFERRALS:-}"
SEED="${BENCH_SEED:-1}"
PARTITIONS="${BENCH_PARTITIONS:-6}"
RUNS="${BENCH_RUNS:-3}"
SETTLE="${BENCH_SETTLE_SECONDS:-6}"
QUIESCE="${BENCH_QUIESCE_SECONDS:-12}"
DUPLICATE_RATIO="${BENCH_DUPLICATE_RATIO:-0.1}"
STEADY_RATE="${BENCH_STEADY_RATE:-20000}"
STEADY_SECONDS="${BENCH_STEADY_SECONDS:-60}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
BROKERS="127.0.0.1:$KAFKA_PORT"
NUM_CONSUMERS="${BENCH_KAFKA_NUM_CONSUMERS:-1}"
TUNED_NUM_CONSUMERS="${BENCH_TUNED_NUM_CONSUMERS:-2}"
read -r -a INGEST_ARGS <<<"${BENCH_INGEST_ARGS:-}"
TIMEOUT="${BENCH_TIMEOUT:-900}"
STALL_TIMEOUT="${BENCH_STALL_TIMEOUT:-180}"
ENFORCE="${BENCH_ENFORCE_TARGETS:-0}"
# The generator's simulated month (fixed, so that runs are comparable).
GEN_ARGS=(--days 30 --end 2026-03-31 --seed "$SEED" --binary-ratio 0 --duplicate-ratio 0 --invalid-ratio 0)
PILOT_REFERRALS=20000
LIBS_DIR="$DATA_ROOT/kafka/libs"
BENCH_DIR="$LIB_DIR/bench"

for pair in MIN_EVENTS:BENCH_MIN_EVENTS SEED:BENCH_SEED PARTITIONS:BENCH_PARTITIONS RUNS:BENCH_RUNS \
	SETTLE:BENCH_SETTLE_SECONDS QUIESCE:BENCH_QUIESCE_SECONDS STEADY_RATE:BENCH_STEADY_RATE \
	STEADY_SECONDS:BENCH_STEADY_SECONDS NUM_CONSUMERS:BENCH_KAFKA_NUM_CONSUMERS \
	TUNED_NUM_CONSUMERS:BENCH_TUNED_NUM_CONSUMERS TIMEOUT:BENCH_TIMEOUT STALL_TIMEOUT:BENCH_STALL_TIMEOUT; do
	var=${pair%%:*}
	[[ ${!var} =~ ^[1-9][0-9]*$ ]] || die "${pair#*:}=${!var} must be a positive integer (see the header of $0)"
done
[[ -z $REFERRALS || $REFERRALS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REFERRALS=$REFERRALS must be a positive integer"
[[ $DUPLICATE_RATIO =~ ^(0|1|0?\.[0-9]+)$ ]] || die "BENCH_DUPLICATE_RATIO=$DUPLICATE_RATIO must be a number from 0 to 1"
check_port KAFKA_PORT "$KAFKA_PORT"

# REFERRALOPS_* variables are flags of the binary: drop them (but the data root).
for v in $(compgen -e); do
	if [[ $v == REFERRALOPS_* && $v != REFERRALOPS_DATA_DIR ]]; then
		log "ignoring $v (the benchmark passes every setting as a flag)"
		unset "$v"
	fi
done
# ---------------------------------------------------------------- helpers

# log, with the seconds since the start, so that a slow step shows.
BENCH_T0=$(now_s)
log() { printf '%s: [%4ss] %s\n' "$SCRIPT_NAME" "$(($(now_s) - BENCH_T0))" "$*" >&2; }

# now_f prints the wall clock in seconds with microseconds.
now_f() { printf '%s' "$EPOCHREALTIME"; }
# fsub A B prints A - B with 3 decimals.
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
# rate N SECONDS prints N / SECONDS rounded to an integer.
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
# group3 N prints N with thousands separators, for the context lines.
group3() { sed ':a; s/\B[0-9]\{3\}\>/,&/; ta' <<<"$1"; }
# A '.' decimal point and plain ASCII for every tool whose output is parsed.
export LC_ALL=C

# run_tool CLASS ARGS... runs a Kafka command-line tool from the broker's jars
# (as kafka.sh does: these JVMs are short-lived, hence C1 only and serial GC).
run_tool() {
	java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$LIB_DIR/kafka/tools-log4j2.properties" \
		-cp "$LIBS_DIR/*" "$@"
}

# free_port FIRST prints the first port from FIRST up that nothing listens on.
free_port() {
	local p=$1
	check_port port "$p"
	while port_in_use "$p"; do
		((++p <= 65535)) || die "no free TCP port from $1 up"
	done
	printf '%s' "$p"
}

# cpu_seconds PID prints the CPU time (user + system) of PID so far.
cpu_seconds() {
	awk -v hz="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
}
CLK_TCK="$(getconf CLK_TCK)"

# ---------------------------------------------------------------- preflight

[[ -x $BIN ]] || die "$BIN is missing: build it first (go build -o bin/referralops ./cmd/referralops, or make bench)"
for cmd in kcat curl java clickhouse-client clickhouse-server "$GO" awk; do
	command -v "$cmd" >/dev/null || die "$cmd is not installed (deploy/local/services.sh up installs the servers' packages)"
done
compgen -G "$LIBS_DIR/kafka-tools-*.jar" >/dev/null ||
	die "no Kafka jars in $LIBS_DIR: run deploy/local/services.sh up (with the same REFERRALOPS_DATA_DIR) first"
KAFKA_VERSION="$(find "$LIBS_DIR" -maxdepth 1 -name 'kafka_2.13-*.jar' -printf '%f\n' | sed -n 's/^kafka_2\.13-\(.*\)\.jar$/\1/p' | head -n1)"
kcat -b "$BROKERS" -L -m 5 >/dev/null 2>&1 ||
	die "no Kafka broker answers on $BROKERS: run deploy/local/services.sh up (or set KAFKA_PORT)"


# now_us prints the wall clock in microseconds since the epoch.
now_us() { printf '%s' "${EPOCHREALTIME/./}"; }
# us_s A B prints (A - B) microseconds in seconds, 3 decimals.
us_s() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (a - b) / 1e6 }'; }
# per_million X N prints X per million of N, 2 decimals ("?" when X is "?").
per_million() { [[ $1 == "?" ]] && { echo "?"; return; }; awk -v x="$1" -v n="$2" 'BEGIN { printf "%.2f", x * 1e6 / n }'; }
# median X... prints the median of the numbers (the mean of the middle two
# when even), "?" when there are none or one is "?".
median() {
	if (($# == 0)) || [[ " $* " == *" ? "* ]]; then
		echo "?"
		return
	fi
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# maximum X... prints the largest of the numbers.
maximum() { printf '%s\n' "$@" | sort -g | tail -n1; }
# ratio A B prints A / B, 2 decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# verdict A OP B prints "met" when A OP B holds (as numbers, OP >=, <= or <), else "MISSED".
verdict() {
	if awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { a += 0; b += 0; exit !(op == ">=" ? a >= b : op == "<=" ? a <= b : a < b) }'; then
		echo met
	else
		echo MISSED
	fi
}
# ---------------------------------------------------------------- run state and cleanup

RUN_ID="$(date -u +%Y%m%d%H%M%S)-$$"
PREFIX="bench-$RUN_ID"
GROUPS_CREATED=()   # consumer groups to delete on exit
LARGE_MESSAGES="${BENCH_LARGE_MESSAGES:-1000}"
LARGE_ONLY="${BENCH_ONLY_LARGE_MESSAGES:-0}"
[[ $LARGE_MESSAGES =~ ^[1-9][0-9]*$ ]] || die "BENCH_LARGE_MESSAGES=$LARGE_MESSAGES must be a positive integer"
DB_BASE="bench_${RUN_ID//-/_}"
# The referralops side's database: the one the rendered users.xml allows its
# users (dropped and migrated again for each ingest measurement).
DB_INGEST="${DB_BASE}_ingest"
# Raw events and the views that read them: schema.PHIDatabase (<db>_phi).
PHI_INGEST="${DB_INGEST}_phi"
# The engine's side, set per measurement (measure_engine).
DB_ENGINE="" PHI_ENGINE="" GROUP_ENGINE=""

WORK="$(mktemp -d "${TMPDIR:-/tmp}/referralops-bench.XXXXXX")"
CH_ENV=()           # environment of clickhouse.sh for the dedicated server, once chosen
CH_STARTED=0        # the dedicated server was started (or its start attempted)
TOPICS_CREATED=0    # topic creation was attempted
ENGINE_CREATED=0    # a Kafka table exists (in $DB_ENGINE)
INGEST_PID=""       # the ingester, while it runs

# stop_ingester sends SIGTERM to the ingester, waits up to 60s, then SIGKILLs.
# It sets INGEST_RC to the exit status.
INGEST_RC=""
stop_ingester() {
	[[ -n $INGEST_PID ]] || return 0
	local deadline=$(($(now_s) + 60))
	kill -TERM "$INGEST_PID" 2>/dev/null || true
	while kill -0 "$INGEST_PID" 2>/dev/null; do
		if (($(now_s) >= deadline)); then
			log "the ingester (pid $INGEST_PID) did not exit within 60s of SIGTERM; sending SIGKILL"
			kill -KILL "$INGEST_PID" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	INGEST_RC=0
	wait "$INGEST_PID" 2>/dev/null || INGEST_RC=$?
	INGEST_PID=""
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	((rc == 0)) || log "failed (exit $rc); cleaning up"
	stop_ingester
	if ((ENGINE_CREATED)); then
		# Dropping the Kafka table closes its consumer, which leaves the group, so
		# that the group can be deleted below.
		ch --query "DROP TABLE IF EXISTS $DB_ENGINE.kafka_queue" >/dev/null 2>&1
	fi
	if ((CH_STARTED)) && [[ ${BENCH_KEEP_SERVER:-0} == 1 ]]; then
		log "kept the dedicated ClickHouse server: clickhouse-client --port $CH_TCP (databases $DB_BASE*)"
		log "stop it with: ${CH_ENV[*]} $LIB_DIR/clickhouse.sh down && rm -rf $WORK"
	elif ((CH_STARTED)); then
		env "${CH_ENV[@]}" SCRIPT_NAME="bench.sh: clickhouse.sh" "$LIB_DIR/clickhouse.sh" down >/dev/null 2>&1 ||
			log "could not stop the dedicated ClickHouse server (data in $WORK/clickhouse)"
	fi
	if ((TOPICS_CREATED)); then
		log "deleting the consumer groups and topics $PREFIX-*"
		local args=() g
		for g in "${GROUPS_CREATED[@]}"; do args+=(--group "$g"); done
		if ((${#args[@]} > 0)); then
			run_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$BROKERS" \
				--delete "${args[@]}" >/dev/null 2>&1 ||
				log "could not delete every consumer group of this run ($PREFIX-*); Kafka expires them after offsets.retention.minutes"
		fi
		run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKERS" \
			--delete --if-exists --topic "$PREFIX-.*" >/dev/null ||
			log "could not delete the topics $PREFIX-*; delete them with TopicCommand --delete"
	fi
	if [[ -n ${BENCH_KEEP_LOGS:-} ]] && mkdir -p "$BENCH_KEEP_LOGS/$RUN_ID"; then
		cp -r "$WORK"/*.log "$WORK"/*.txt "$WORK/clickhouse/log" "$BENCH_KEEP_LOGS/$RUN_ID/" 2>/dev/null
		log "logs of this run kept in $BENCH_KEEP_LOGS/$RUN_ID"
	fi
	[[ ${BENCH_KEEP_SERVER:-0} == 1 ]] || rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# ---------------------------------------------------------------- the dedicated ClickHouse server

CH_TCP="$(free_port "${BENCH_CLICKHOUSE_TCP_PORT:-19000}")"
CH_HTTP="$(free_port "${BENCH_CLICKHOUSE_HTTP_PORT:-18123}")"
[[ $CH_HTTP != "$CH_TCP" ]] || CH_HTTP="$(free_port $((CH_TCP + 1)))"
# CLICKHOUSE_DATABASE: the users.xml clickhouse.sh renders allows its users
# that database and its _phi twin only, so the referralops side, migrated as
# referralops_migrator and ingested as referralops_writer as deployments run
# them, is that one. The Kafka engine's database and the large-message run's
# are the admin's (`ch`), as ClickHouse's own side of the comparison is.
CH_ENV=(REFERRALOPS_DATA_DIR="$WORK" CLICKHOUSE_TCP_PORT="$CH_TCP" CLICKHOUSE_HTTP_PORT="$CH_HTTP" CLICKHOUSE_DATABASE="$DB_INGEST")
# dsn USER PASSWORD DB: the dedicated server's DSN; USER "" is the admin.
dsn() { printf 'clickhouse://%s127.0.0.1:%s/%s' "${1:+$1:$2@}" "$CH_TCP" "$3"; }
MIGRATOR_DSN="$(dsn referralops_migrator "${CLICKHOUSE_MIGRATOR_PASSWORD:-migrator-dev}" "$DB_INGEST")"
WRITER_DSN="$(dsn referralops_writer "${CLICKHOUSE_WRITER_PASSWORD:-writer-dev}" "$DB_INGEST")"
CH_DIR="$WORK/clickhouse"
CH_ERR_LOG="$CH_DIR/log/clickhouse-server.err.log"

ch() { clickhouse-client --host 127.0.0.1 --port "$CH_TCP" "$@"; }
# ch_http QUERY [TIMEOUT] runs a query over HTTP (cheaper than a client process
# when polling); TIMEOUT defaults to 10 seconds.
ch_http() { curl -sS --fail-with-body --max-time "${2:-10}" "http://127.0.0.1:$CH_HTTP/" --data-binary "$1"; }
ch_pid() { cat "$CH_DIR/clickhouse-server.pid"; }

start_clickhouse() {
	log "starting a dedicated ClickHouse server on 127.0.0.1:$CH_TCP (HTTP $CH_HTTP), data in $CH_DIR"
	mkdir -p "$CH_DIR/etc/users.d"
	# Merged into the users.xml that clickhouse.sh renders: the Kafka engine's
	# input format settings (see the file).
	cp "$BENCH_DIR/clickhouse-users.d.xml" "$CH_DIR/etc/users.d/bench-kafka-engine.xml"
	CH_STARTED=1
	env "${CH_ENV[@]}" SCRIPT_NAME="bench.sh: clickhouse.sh" "$LIB_DIR/clickhouse.sh" up >&2 ||
		die "the dedicated ClickHouse server did not start (see above)"
	local nested
	nested="$(ch --query "SELECT value FROM system.settings WHERE name = 'input_format_import_nested_json'")"
	[[ $nested == 1 ]] || die "the dedicated server's default profile lacks input_format_import_nested_json=1 ($CH_DIR/etc/users.d not merged?)"
}


# restart_clickhouse PARALLEL restarts the dedicated server with
# parallel_view_processing=PARALLEL (0 or 1) in its default profile, which the
# Kafka engine reads at start. Every measurement starts on a restarted server.
restart_clickhouse() {
	printf '<?xml version="1.0"?>\n<!-- bench.sh: the tuned Kafka engine runs its views in parallel -->\n<yandex><profiles><default><parallel_view_processing>%s</parallel_view_processing></default></profiles></yandex>\n' \
		"$1" >"$CH_DIR/etc/users.d/bench-views.xml"
	env "${CH_ENV[@]}" SCRIPT_NAME="bench.sh: clickhouse.sh" "$LIB_DIR/clickhouse.sh" down >>"$WORK/clickhouse-restarts.log" 2>&1 ||
		die "could not stop the dedicated ClickHouse server ($WORK/clickhouse-restarts.log)"
	env "${CH_ENV[@]}" SCRIPT_NAME="bench.sh: clickhouse.sh" "$LIB_DIR/clickhouse.sh" up >>"$WORK/clickhouse-restarts.log" 2>&1 || {
		tail -n 20 "$WORK/clickhouse-restarts.log" >&2
		die "the dedicated ClickHouse server did not start again (see above)"
	}
	local v
	v="$(ch --query "SELECT value FROM system.settings WHERE name = 'parallel_view_processing'")"
	[[ $v == "$1" ]] || die "the dedicated server's default profile has parallel_view_processing=$v, not $1"
}

# quiesce waits until no merge runs on the server and its active parts
# (outside `system`) have not changed for QUIESCE seconds, and sets
# QUIESCED_US to the last change (microseconds since the epoch).
quiesce() {
	local merges sig prev="" deadline
	deadline=$(($(now_s) + TIMEOUT))
	QUIESCED_US=$(now_us)
	while :; do
		IFS=$'\t' read -r merges sig < <(ch_http "SELECT (SELECT count() FROM system.merges WHERE database != 'system'),
			(SELECT concat(toString(count()), '/', toString(sum(rows)), '/', toString(max(modification_time)))
			FROM system.parts WHERE active AND database != 'system') FORMAT TSV") || die "could not read system.merges and system.parts"
		if [[ $sig != "$prev" || $merges != 0 ]]; then
			prev=$sig
			QUIESCED_US=$(now_us)
		elif (($(now_us) - QUIESCED_US >= QUIESCE * 1000000)); then
			return 0
		fi
		(($(now_s) < deadline)) || die "the server did not quiesce within BENCH_TIMEOUT=${TIMEOUT}s (merges still running or parts changing)"
		sleep 0.5
	done
}

# side_rows DB PHI prints one "database.table<TAB>rows" line per table of a
# side: the rows of its level-0 parts, active or merged away (18.16 lists
# merged parts until old_parts_lifetime, 8 minutes, has passed), i.e. every row
# inserted so far, which a merge does not lower. The KPI state the ingester's
# passes write (migration 0018: *_by_created, kpi_state_index,
# kpi_state_passes) is not ingest, and the engine keeps none: a pass that
# lands after the backlog is stored does not stop the clock (bench-kpi.sh
# reports what the passes cost).
side_rows() {
	ch_http "SELECT concat(database, '.', table), sum(rows) FROM system.parts
		WHERE database IN ('$1', '$2') AND table != 'schema_migrations' AND level = 0
		AND table NOT LIKE '%_by_created' AND table NOT IN ('kpi_state_index', 'kpi_state_passes')
		GROUP BY database, table FORMAT TSV"
}

# await_settled DB PHI CONSUMED CHECK is the clock of both sides. It polls the
# side's tables (side_rows) every 0.25 s until the function CONSUMED, given
# the rows inserted into PHI.events so far, says every message was taken and
# no table has grown for SETTLE seconds; the function CHECK runs at each poll
# and dies when the side failed. It sets FIRST_US and LAST_US to the first and
# the last growth of any table (the clock stops at the last one, views
# included), and INSERTED_EVENTS. It returns 1 on a stall or timeout.
await_settled() {
	local db=$1 phi=$2 consumed=$3 check=$4 name rows grew now taken=0 deadline last_change
	local -A prev=()
	FIRST_US="" LAST_US=""
	deadline=$(($(now_s) + TIMEOUT))
	last_change=$(now_s)
	while :; do
		"$check"
		grew=0
		while IFS=$'\t' read -r name rows; do
			if ((rows > ${prev[$name]:-0})); then grew=1; fi
			prev[$name]=$rows
		done < <(side_rows "$db" "$phi" || true)
		now=$(now_us)
		if ((grew)); then
			LAST_US=$now
			[[ -n $FIRST_US ]] || FIRST_US=$now
			last_change=$(now_s)
		fi
		if ((!taken)) && "$consumed" "${prev[$phi.events]:-0}"; then taken=1; fi
		if ((taken)) && [[ -n $LAST_US ]] && ((now - LAST_US >= SETTLE * 1000000)); then
			break
		fi
		if (($(now_s) >= deadline)) || (($(now_s) - last_change >= STALL_TIMEOUT)); then
			STALL="no table grew for $(($(now_s) - last_change))s (BENCH_STALL_TIMEOUT=$STALL_TIMEOUT) or over BENCH_TIMEOUT=${TIMEOUT}s"
			return 1
		fi
		sleep 0.25
	done
	INSERTED_EVENTS=${prev[$phi.events]:-0}
}

# side_writes DB PHI SINCE_US prints how the side wrote (system.part_log since
# SINCE_US): parts inserted, merges and their time.
side_writes() {
	ch_http "SYSTEM FLUSH LOGS" 60 >/dev/null && ch_http "SELECT concat(toString(countIf(event_type = 1)), ' parts inserted (',
		toString(countIf(event_type = 1 AND table = 'events')), ' into events), ', toString(countIf(event_type = 2)), ' merges (',
		toString(round(sumIf(duration_ms, event_type = 2) / 1000, 1)), 's)')
		FROM system.part_log WHERE database IN ('$1', '$2') AND table != 'schema_migrations'
		AND event_time >= toDateTime($(($3 / 1000000)))" 60 || echo "part_log unavailable"
}
# ---------------------------------------------------------------- topics and events

# use_backlog NAME makes the topics $PREFIX-NAME-{referrals,scheduling,
# communications,dlq} the input of the next measurements, and MESSAGES their
# message count (once produced).
declare -A BACKLOG_MESSAGES=()
use_backlog() {
	TOPIC_REFERRALS="$PREFIX-$1-referrals"
	TOPIC_SCHEDULING="$PREFIX-$1-scheduling"
	TOPIC_COMMUNICATIONS="$PREFIX-$1-communications"
	TOPIC_DLQ="$PREFIX-$1-dlq"
	INPUT_TOPICS=("$TOPIC_REFERRALS" "$TOPIC_SCHEDULING" "$TOPIC_COMMUNICATIONS")
	KAFKA_FLAGS=(--kafka-brokers "$BROKERS" --topic-referrals "$TOPIC_REFERRALS" --topic-scheduling "$TOPIC_SCHEDULING"
		--topic-communications "$TOPIC_COMMUNICATIONS" --topic-dlq "$TOPIC_DLQ")
	MESSAGES="${BACKLOG_MESSAGES[$1]:-0}"
}

create_topics() {
	local topic pids=() pid failed=0
	TOPICS_CREATED=1
	log "creating topics ${TOPIC_DLQ%-dlq}-{referrals,scheduling,communications,dlq} ($PARTITIONS partitions each)"
	for topic in "${INPUT_TOPICS[@]}" "$TOPIC_DLQ"; do
		run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKERS" --create \
			--topic "$topic" --partitions "$PARTITIONS" --replication-factor 1 >/dev/null &
		pids+=("$!")
	done
	for pid in "${pids[@]}"; do
		wait "$pid" || failed=1
	done
	((failed == 0)) || die "could not create the topics (see above)"
}

# end_offsets_sum prints the sum of the input topics' end offsets: the number of
# messages in them (the topics are fresh and the producer is not transactional).
end_offsets_sum() {
	local args=() topic p
	for topic in "${INPUT_TOPICS[@]}"; do
		for ((p = 0; p < PARTITIONS; p++)); do
			args+=(-t "$topic:$p:-1")
		done
	done
	kcat -b "$BROKERS" -Q "${args[@]}" | awk -v want=$((${#INPUT_TOPICS[@]} * PARTITIONS)) '
		$3 == "offset" { sum += $4; n++ }
		END { if (n != want) { print "kcat -Q returned " n " offsets, expected " want > "/dev/stderr"; exit 1 } printf "%d", sum }'
}

# pilot sets PILOT_EVENTS to the events of PILOT_REFERRALS referrals: events
# per referral do not depend on the number of referrals (arrivals are spread
# over the same month).
pilot() {
	PILOT_EVENTS="$("$BIN" generate --referrals "$PILOT_REFERRALS" "${GEN_ARGS[@]}" --out - 2>/dev/null | wc -l)"
	((PILOT_EVENTS > 0)) || die "the pilot run (referralops generate --out -) produced nothing"
	log "pilot: $PILOT_EVENTS events for $PILOT_REFERRALS referrals"
}

# referrals_for N prints how many referrals give at least N events, +2% for
# the randomness (after pilot).
referrals_for() {
	awk -v t="$1" -v m="$PILOT_EVENTS" -v r="$PILOT_REFERRALS" \
		'BEGIN { n = t * 1.02 * r / m; printf "%d", (n == int(n)) ? n : int(n) + 1 }'
}

# produce_events NAME [GENERATE FLAGS...] produces REFERRALS referrals' events
# to the current backlog's topics and records their count as backlog NAME's.
produce_events() {
	local name=$1 t0
	shift
	t0="$(now_us)"
	"$BIN" generate --referrals "$REFERRALS" "${GEN_ARGS[@]}" "$@" "${KAFKA_FLAGS[@]}" \
		--log-format text 2>"$WORK/generate-$name.log" >&2 || {
		tail -n 20 "$WORK/generate-$name.log" >&2
		die "referralops generate failed"
	}
	PRODUCE_SECONDS="$(us_s "$(now_us)" "$t0")"
	MESSAGES="$(end_offsets_sum)" || die "could not read the topics' end offsets"
	BACKLOG_MESSAGES[$name]=$MESSAGES
	log "produced $MESSAGES messages in ${PRODUCE_SECONDS}s (backlog $name)"
}
# ---------------------------------------------------------------- our ingester

# ingest_counts URL prints "<records settled> <dead-lettered>" from the ingester's
# /metrics ("0 0" while it does not answer).
ingest_counts() {
	curl -fsS --max-time 2 "$1" 2>/dev/null | awk '
		$1 ~ /^referralops_ingest_records_total\{/ { total += $NF; if ($1 ~ /outcome="dead_lettered"/) dead += $NF }
		END { printf "%.0f %.0f\n", total, dead }'
}

# metric_value FILE NAME prints the sum of metric NAME's samples in the
# /metrics text FILE, "?" when it has none.
metric_value() {
	awk -v name="$2" '$1 == name || index($1, name "{") == 1 { sum += $NF; found = 1 }
		END { if (found) printf "%.6f", sum; else printf "?" }' "$1"
}

# fresh_ingest_db drops the referralops side's databases (as the admin) and
# migrates them again as referralops_migrator, as deployments do.
fresh_ingest_db() {
	ch --query "DROP DATABASE IF EXISTS $PHI_INGEST" || die "could not drop $PHI_INGEST"
	ch --query "DROP DATABASE IF EXISTS $DB_INGEST" || die "could not drop $DB_INGEST"
	"$BIN" migrate --clickhouse-dsn "$MIGRATOR_DSN" --log-format text >"$WORK/migrate-$DB_INGEST.log" 2>&1 || {
		cat "$WORK/migrate-$DB_INGEST.log" >&2
		die "referralops migrate failed for $DB_INGEST"
	}
}

# start_ingester LABEL starts `referralops ingest` on the current backlog, as
# referralops_writer with a fresh group $PREFIX-LABEL.
start_ingester() {
	local port
	port="$(free_port "${BENCH_INGEST_PORT:-19465}")"
	INGEST_URL="http://127.0.0.1:$port/metrics"
	INGEST_LOG="$WORK/ingest-$1.log"
	GROUPS_CREATED+=("$PREFIX-$1")
	"$BIN" ingest "${KAFKA_FLAGS[@]}" --group "$PREFIX-$1" --clickhouse-dsn "$WRITER_DSN" \
		--listen "127.0.0.1:$port" --log-format json "${INGEST_ARGS[@]}" >"$INGEST_LOG" 2>&1 &
	INGEST_PID=$!
}

ingest_alive() {
	kill -0 "$INGEST_PID" 2>/dev/null && return 0
	tail -n 30 "$INGEST_LOG" >&2
	INGEST_PID=""
	die "the ingester exited before storing every message (its log above)"
}

# ingest_consumed: the ingester counted every message of the backlog as stored,
# dead-lettered or skipped (it counts a record once its batch is stored and its
# offsets committed).
ingest_consumed() {
	local n
	read -r n _ < <(ingest_counts "$INGEST_URL")
	((n >= MESSAGES))
}

# measure_ingest LABEL: one measurement of our ingester over the current
# backlog. Sets M_RATE, M_SECONDS, M_FIRST, M_CPU (the ingester's, up to the
# end of the clock), M_GC and M_GC_IDLE (the Go runtime's estimates), M_ALLOC (bytes per event), M_RSS, M_CH_CPU (the
# server's, to quiescence), M_TOTAL_CPU, M_QUIESCE, M_WRITES, M_BATCHES.
measure_ingest() {
	local label=$1 t0 ch_cpu0 metrics="$WORK/metrics-$1.txt" alloc
	log "[$label] referralops ingest: $MESSAGES messages into a fresh $DB_INGEST"
	fresh_ingest_db
	quiesce
	restart_clickhouse 0
	ch_cpu0="$(cpu_seconds "$(ch_pid)")"
	t0=$(now_us)
	start_ingester "$label"
	await_settled "$DB_INGEST" "$PHI_INGEST" ingest_consumed ingest_alive || {
		tail -n 30 "$INGEST_LOG" >&2
		die "[$label] the ingester did not finish: $STALL (its log above)"
	}
	M_SECONDS="$(us_s "$LAST_US" "$t0")"
	M_FIRST="$(us_s "$FIRST_US" "$t0")"
	M_RATE="$(rate "$MESSAGES" "$M_SECONDS")"
	M_CPU="$(cpu_seconds "$INGEST_PID")"
	M_RSS="$(awk '/^VmHWM:/ { printf "%.0f", $2 * 1024 }' "/proc/$INGEST_PID/status")"
	curl -fsS --max-time 5 "$INGEST_URL" >"$metrics" || die "[$label] could not read the ingester's /metrics"
	M_GC="$(metric_value "$metrics" go_cpu_classes_gc_total_cpu_seconds_total)"
	M_GC_IDLE="$(metric_value "$metrics" go_cpu_classes_gc_mark_idle_cpu_seconds_total)"
	alloc="$(metric_value "$metrics" go_memstats_alloc_bytes_total)"
	M_ALLOC="?"
	[[ $alloc == "?" ]] || M_ALLOC="$(rate "$alloc" "$MESSAGES")"
	M_BATCHES="$(awk '
		$1 == "referralops_ingest_batch_rows_count" { n = $2 } $1 == "referralops_ingest_batch_rows_sum" { rows = $2 }
		$1 == "referralops_ingest_flush_seconds_sum" { secs = $2 }
		END { if (n > 0) printf "%.0f batches of %.0f rows, %.3fs to settle each", n, rows / n, secs / n; else printf "no batch metrics" }' "$metrics")"
	quiesce
	M_CH_CPU="$(fsub "$(cpu_seconds "$(ch_pid)")" "$ch_cpu0")"
	M_TOTAL_CPU="$(awk -v a="$M_CH_CPU" -v b="$(cpu_seconds "$INGEST_PID")" 'BEGIN { printf "%.2f", a + b }')"
	M_QUIESCE="$(us_s "$QUIESCED_US" "$t0")"
	stop_ingester
	((INGEST_RC == 0)) || {
		tail -n 30 "$INGEST_LOG" >&2
		die "[$label] the ingester exited with status $INGEST_RC on SIGTERM (its log above)"
	}
	M_WRITES="$(side_writes "$DB_INGEST" "$PHI_INGEST" "$t0")"
	log "[$label] $M_RATE events/s (${M_SECONDS}s), ingester CPU ${M_CPU}s, server CPU ${M_CH_CPU}s to quiescence at ${M_QUIESCE}s, peak RSS $M_RSS bytes"
}

# ---------------------------------------------------------------- ClickHouse's Kafka engine

# The group's offsets are committed at the start of the topics before the
# engine's consumer exists: 18.16's consumer (librdkafka's default
# auto.offset.reset=largest) would otherwise start a new group at the end and
# see none of the messages already produced.
commit_engine_offsets() {
	local args=() topic
	for topic in "${INPUT_TOPICS[@]}"; do args+=(--topic "$topic"); done
	GROUPS_CREATED+=("$GROUP_ENGINE")
	run_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$BROKERS" \
		--reset-offsets --to-earliest --execute --group "$GROUP_ENGINE" "${args[@]}" >/dev/null ||
		die "could not commit the earliest offsets for group $GROUP_ENGINE"
}

engine_diagnostics() {
	show_log "the dedicated ClickHouse server's error log" "$CH_ERR_LOG" "$ENGINE_ERR_OFFSET" 40
	log "consumer group $GROUP_ENGINE:"
	run_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$BROKERS" \
		--describe --group "$GROUP_ENGINE" 2>&1 | sed 's/^/    /' >&2 || true
}
# engine_select prints the SELECT over the Kafka table that gives the rows of
# `events`: bench/kafka_engine_mapping.txt, each expression cast to the type of
# its column in `events`.
engine_select() {
	local -A expr=()
	local name e type items=() sep=""
	while read -r name e; do
		[[ -z $name || $name == \#* ]] && continue
		expr[$name]=$e
	done <"$BENCH_DIR/kafka_engine_mapping.txt"
	while IFS=$'\t' read -r name type; do
		[[ -n ${expr[$name]+set} ]] || die "$PHI_ENGINE.events has a column $name that $BENCH_DIR/kafka_engine_mapping.txt does not map"
		items+=("CAST(${expr[$name]} AS $type) AS $name")
	done < <(ch_http "SELECT name, type FROM system.columns WHERE database = '$PHI_ENGINE' AND table = 'events' FORMAT TSVRaw")
	((${#items[@]} > 0)) || die "no columns found in $PHI_ENGINE.events"
	printf 'SELECT'
	for e in "${items[@]}"; do
		printf '%s\n    %s' "$sep" "$e"
		sep=","
	done
	printf '\nFROM %s.kafka_queue' "$DB_ENGINE"
}

# build_engine_views writes $WORK/kafka_engine_views.sql: the views that feed
# the engine database's tables from the Kafka table. ClickHouse 18.16 does not
# cascade views through a view's target table (a view on `events` never sees
# the rows another view writes there), and a view over a subquery fails when
# the Kafka engine pushes to it ("There is no query"); it does chain views by
# name. So: a view `kafka_consumer` into `events` with engine_select, and for
# each view that the migrations
# feed from `events` (the fact tables), a copy that reads `kafka_consumer`
# instead, while the original is dropped. The engine then maintains the same
# tables as the ingester's inserts do, each fed once.
build_engine_views() {
	local mapping views=() mv q target n=0
	mapping="$(engine_select)"
	mapfile -t views < <(ch_http "SELECT name FROM system.tables WHERE database = '$PHI_ENGINE'
		AND engine = 'MaterializedView' ORDER BY name FORMAT TSVRaw")
	{
		printf 'CREATE MATERIALIZED VIEW %s.kafka_consumer TO %s.events AS\n%s;\n' "$PHI_ENGINE" "$PHI_ENGINE" "$mapping"
		for mv in "${views[@]}"; do
			q="$(ch_http "SELECT create_table_query FROM system.tables WHERE database = '$PHI_ENGINE' AND name = '$mv' FORMAT TSVRaw")"
			[[ $q == *" FROM $PHI_ENGINE.events"* ]] || continue
			target="$(sed -n 's/^CREATE MATERIALIZED VIEW [^ ]* TO \([^ ]*\) .*/\1/p' <<<"$q")"
			[[ -n $target && $q == *" AS SELECT "* ]] || die "cannot read the target and query of the view $PHI_ENGINE.$mv: $q"
			q="SELECT ${q#* AS SELECT }"
			printf 'CREATE MATERIALIZED VIEW %s.kafka_%s TO %s AS %s;\n' "$PHI_ENGINE" "$mv" "$target" \
				"${q//" FROM $PHI_ENGINE.events"/" FROM $PHI_ENGINE.kafka_consumer"}"
			printf 'DROP TABLE %s.%s;\n' "$PHI_ENGINE" "$mv"
			ENGINE_VIEWS+=("${target#"$DB_ENGINE".}")
			n=$((n + 1))
		done
	} >"$WORK/kafka_engine_views.sql"
	log "the Kafka table feeds events and, through views on kafka_consumer, ${ENGINE_VIEWS[*]:-nothing else}"
}
ENGINE_VIEWS=()

engine_consumed() { (($1 >= MESSAGES)); }

# drop_kafka_table drops $DB_ENGINE.kafka_queue (its consumers leave the
# group). 18.16 with librdkafka can abort while destroying a consumer
# (rd_kafka_cgrp_destroy_final: assert: !rkcg->rkcg_subscription, seen with
# kafka_num_consumers=2): the server is then restarted and the drop retried.
drop_kafka_table() {
	local try
	for try in 1 2 3; do
		if ch --query "DROP TABLE IF EXISTS $DB_ENGINE.kafka_queue" 2>>"$WORK/kafka-drop.log"; then
			ENGINE_CREATED=0
			return 0
		fi
		pid_alive "$CH_DIR/clickhouse-server.pid" "$CH_DIR/etc/config.xml" &&
			die "could not drop the Kafka table $DB_ENGINE.kafka_queue ($WORK/kafka-drop.log)"
		log "the server died dropping the Kafka table (librdkafka's consumer destroy, attempt $try); restarting it"
		restart_clickhouse 0
	done
	die "could not drop the Kafka table $DB_ENGINE.kafka_queue in 3 attempts"
}

# engine_check dies when the server died or logged an error: an error in a
# view makes the engine consume the block again, so rows would be duplicated
# and the time not the engine's.
engine_check() {
	pid_alive "$CH_DIR/clickhouse-server.pid" "$CH_DIR/etc/config.xml" || {
		engine_diagnostics
		die "the dedicated ClickHouse server died during the Kafka engine measurement"
	}
	if (($(file_size "$CH_ERR_LOG") > ENGINE_ERR_OFFSET)) && tail -c +"$((ENGINE_ERR_OFFSET + 1))" "$CH_ERR_LOG" | grep -q '<Error>'; then
		engine_diagnostics
		die "the Kafka engine failed (server log above): an error in a view makes it consume the block again, so the figure would not be valid"
	fi
}

# measure_engine LABEL CONSUMERS PARALLEL: one measurement of ClickHouse's
# Kafka engine over the current backlog into a fresh database ${DB_BASE}_LABEL,
# with kafka_num_consumers=CONSUMERS and parallel_view_processing=PARALLEL.
# Sets the M_* figures measure_ingest sets that apply (M_CH_CPU and M_TOTAL_CPU
# are the server's).
#
# The Kafka engine starts consuming as soon as one view reads its table, and it
# fixes the list of views for a whole block, so creating the views one after the
# other on the Kafka table would race with it. They are created on a stand-in
# (a Null table of the same name and columns), which is then replaced by the
# Kafka table: it starts with every view in place (views refer to their source
# by name in 18.16). The clock starts at the Kafka table's creation.
measure_engine() {
	local label=$1 consumers=$2 parallel=$3 t0 ch_cpu0 topics kafka_engine mv
	DB_ENGINE="${DB_BASE}_${label//-/_}"
	PHI_ENGINE="${DB_ENGINE}_phi"
	GROUP_ENGINE="$PREFIX-$label"
	log "[$label] ClickHouse's Kafka engine: $MESSAGES messages into $DB_ENGINE (kafka_num_consumers=$consumers, parallel_view_processing=$parallel)"
	"$BIN" migrate --clickhouse-dsn "$(dsn "" "" "$DB_ENGINE")" --log-format text >"$WORK/migrate-$DB_ENGINE.log" 2>&1 || {
		cat "$WORK/migrate-$DB_ENGINE.log" >&2
		die "referralops migrate failed for $DB_ENGINE"
	}
	commit_engine_offsets
	topics="$(IFS=,; printf '%s' "${INPUT_TOPICS[*]}")"
	kafka_engine="Kafka
SETTINGS
    kafka_broker_list = '$BROKERS',
    kafka_topic_list = '$topics',
    kafka_group_name = '$GROUP_ENGINE',
    kafka_format = 'JSONEachRow',
    kafka_num_consumers = $consumers"
	render_template "$BENCH_DIR/kafka_engine_table.sql.tmpl" "$WORK/kafka_engine_standin.sql" "DB=$DB_ENGINE" "ENGINE=Null"
	render_template "$BENCH_DIR/kafka_engine_table.sql.tmpl" "$WORK/kafka_engine_table.sql" "DB=$DB_ENGINE" "ENGINE=$kafka_engine"
	quiesce
	restart_clickhouse "$parallel"
	ch --multiquery <"$WORK/kafka_engine_standin.sql" || die "could not create the stand-in table ($WORK/kafka_engine_standin.sql)"
	ENGINE_VIEWS=()
	build_engine_views
	ch --multiquery <"$WORK/kafka_engine_views.sql" || die "could not create the Kafka table's views ($WORK/kafka_engine_views.sql)"
	ch --query "DROP TABLE $DB_ENGINE.kafka_queue" || die "could not drop the stand-in table"
	ENGINE_ERR_OFFSET="$(file_size "$CH_ERR_LOG")"
	ch_cpu0="$(cpu_seconds "$(ch_pid)")"
	t0=$(now_us)
	ENGINE_CREATED=1
	ch --multiquery <"$WORK/kafka_engine_table.sql" || die "could not create the Kafka table ($WORK/kafka_engine_table.sql)"
	await_settled "$DB_ENGINE" "$PHI_ENGINE" engine_consumed engine_check || {
		engine_diagnostics
		die "[$label] the Kafka engine did not finish: $STALL (server log above)"
	}
	# Stop streaming: the views go first (18.16's engine streams only to a table
	# with views), so that the database keeps plain tables across restarts.
	while read -r mv; do
		ch --query "DROP TABLE $PHI_ENGINE.$mv" || die "could not drop the view $PHI_ENGINE.$mv"
	done < <(ch_http "SELECT name FROM system.tables WHERE database = '$PHI_ENGINE' AND engine = 'MaterializedView'
		ORDER BY name != 'kafka_consumer' FORMAT TSVRaw")
	M_SECONDS="$(us_s "$LAST_US" "$t0")"
	M_FIRST="$(us_s "$FIRST_US" "$t0")"
	M_RATE="$(rate "$MESSAGES" "$M_SECONDS")"
	quiesce
	engine_check
	M_CH_CPU="$(fsub "$(cpu_seconds "$(ch_pid)")" "$ch_cpu0")"
	M_TOTAL_CPU=$M_CH_CPU
	M_QUIESCE="$(us_s "$QUIESCED_US" "$t0")"
	drop_kafka_table
	M_WRITES="$(side_writes "$DB_ENGINE" "$PHI_ENGINE" "$t0")"
	log "[$label] $M_RATE events/s (${M_SECONDS}s, $INSERTED_EVENTS rows into events), server CPU ${M_CH_CPU}s to quiescence at ${M_QUIESCE}s"
}
# checksum_query DB TABLE [distinct] sets CHECKSUM_QUERY to a query giving one
# order-independent checksum per column of DB.TABLE (after the row or group
# count), and CHECKSUM_COLUMNS to their names. Plain tables are compared on
# their rows, or with `distinct` on their distinct rows; aggregate-function
# columns are merged per key (the other columns) first, groupUniqArray results
# sorted. The Kafka coordinates and
# ingested_at of `events` are left out: 18.16's engine has no virtual columns
# to fill them with, and ingested_at is a wall-clock time.
checksum_query() {
	local db=$1 table=$2 name type keys=() aggs=() cols=() exprs=() fn e i
	while IFS=$'\t' read -r name type; do
		if [[ $table == events && $name =~ ^(kafka_topic|kafka_partition|kafka_offset|ingested_at)$ ]]; then
			continue
		fi
		if [[ $type == AggregateFunction\(* ]]; then
			fn="${type#AggregateFunction(}"
			fn="${fn%%[,)]*}"
			e="${fn}Merge($name)"
			[[ $fn == groupUniqArray* || $fn == groupArray* ]] && e="arraySort($e)"
			aggs+=("$e AS c_$name")
		else
			keys+=("$name")
		fi
		cols+=("$name")
	done < <(ch_http "SELECT name, type FROM system.columns WHERE database = '$db' AND table = '$table' FORMAT TSVRaw")
	CHECKSUM_COLUMNS=("${cols[@]}")
	if ((${#aggs[@]} == 0)); then
		for name in "${cols[@]}"; do exprs+=("sum(cityHash64($name))"); done
		if [[ ${3:-} == distinct ]]; then
			CHECKSUM_QUERY="SELECT count(), $(IFS=,; printf '%s' "${exprs[*]}") FROM (SELECT DISTINCT $(IFS=,; printf '%s' "${cols[*]}") FROM $db.$table) FORMAT TSV"
		else
			CHECKSUM_QUERY="SELECT count(), $(IFS=,; printf '%s' "${exprs[*]}") FROM $db.$table FORMAT TSV"
		fi
		return
	fi
	local keylist
	keylist="$(IFS=,; printf '%s' "${keys[*]}")"
	for name in "${cols[@]}"; do
		e="$name"
		for i in "${aggs[@]}"; do [[ $i == *" AS c_$name" ]] && e="c_$name"; done
		exprs+=("sum(cityHash64($keylist, toString($e)))")
	done
	CHECKSUM_QUERY="SELECT count(), $(IFS=,; printf '%s' "${exprs[*]}") FROM (SELECT $keylist, $(IFS=,; printf '%s' "${aggs[*]}") FROM $db.$table GROUP BY $keylist) FORMAT TSV"
}

# compare_tables DB sets EQUIVALENCE to a sentence on whether the ingester's
# databases and the engine's DB (and its _phi twin) hold the same data: every
# MergeTree table of the ingester's databases (events and the fact tables),
# column by column.
compare_tables() {
	local engine_db=$1 tables=() table mode pid a=() b=() i differ=() ncols=0 ing eng
	# referral_patient_order is left out: the ingester recomputes it after each
	# batch (migration 0010), which the engine cannot do. So is kpi_touched, the
	# KPI state's log (migration 0018): its times are the server's clock, its
	# rows follow the blocks, and the recompute's rewrites add to it (0019).
	mapfile -t tables < <(ch_http "SELECT concat(database, '.', name) FROM system.tables WHERE database IN ('$DB_INGEST', '$PHI_INGEST')
		AND engine LIKE '%MergeTree' AND name NOT IN ('schema_migrations', 'referral_patient_order', 'kpi_touched') ORDER BY name FORMAT TSVRaw")
	((${#tables[@]} > 0)) || die "no tables found in $DB_INGEST"
	local qualified
	for qualified in "${tables[@]}"; do
		ing=${qualified%%.*} table=${qualified#*.} eng=$engine_db
		[[ $ing != "$PHI_INGEST" ]] || eng=${engine_db}_phi
		for mode in raw distinct; do
			# Distinct rows only when the raw ones differ: ReplacingMergeTree collapses
			# duplicates only when it merges, so the raw rows of a table like kpi_index
			# depend on how the inserts were cut into blocks.
			# Both databases at once (each query keeps about one core busy).
			checksum_query "$ing" "$table" "$mode"
			ch_http "$CHECKSUM_QUERY" 600 >"$WORK/checksum-ingest.tsv" &
			pid=$!
			checksum_query "$eng" "$table" "$mode"
			ch_http "$CHECKSUM_QUERY" 600 >"$WORK/checksum-engine.tsv" || die "the checksums of $eng.$table failed"
			wait "$pid" || die "the checksums of $ing.$table failed"
			IFS=$'\t' read -r -a a <"$WORK/checksum-ingest.tsv"
			IFS=$'\t' read -r -a b <"$WORK/checksum-engine.tsv"
			[[ "${a[*]}" != "${b[*]}" && $mode == raw ]] || break
		done
		local names=(rows "${CHECKSUM_COLUMNS[@]}")
		((${#a[@]} == ${#names[@]} && ${#b[@]} == ${#names[@]})) || die "the checksums of $table could not be computed"
		for i in "${!names[@]}"; do
			[[ ${a[i]} == "${b[i]}" ]] || differ+=("$table.${names[i]}")
		done
		ncols=$((ncols + ${#CHECKSUM_COLUMNS[@]}))
	done
	if ((${#differ[@]} == 0)); then
		EQUIVALENCE="the two databases hold the same data: ${tables[*]} compared on $ncols columns (referral_patient_order, which only the ingester computes, and the log kpi_touched left out; aggregates merged, ReplacingMergeTree duplicates ignored; events without its Kafka coordinates and ingested_at)"
	else
		EQUIVALENCE="WARNING: the two databases differ in ${differ[*]}"
	fi
}

# ---------------------------------------------------------------- decode benchmark

measure_decode() {
	local out="$WORK/decode-bench.txt"
	log "running BenchmarkDecode (-cpu 1 -benchtime 2s)"
	(cd "$REPO_ROOT" && "$GO" test ./ingest/event -run '^$' -bench 'BenchmarkDecode' -cpu 1 -benchtime 2s) >"$out" 2>&1 || {
		cat "$out" >&2
		die "go test -bench BenchmarkDecode failed"
	}
	# Lines like: BenchmarkDecode/structured  1385763  2010 ns/op  ...  497445 events/s ...
	bench_metric() {
		awk -v name="$1" '$1 == name || $1 == name "-1" { for (i = 2; i <= NF; i++) if ($i == "events/s") { printf "%.0f", $(i - 1); found = 1; exit } }
			END { if (!found) exit 1 }' "$out"
	}
	DECODE_RATE="$(bench_metric BenchmarkDecode/structured)" || {
		cat "$out" >&2
		die "no events/s metric for BenchmarkDecode/structured in the benchmark output"
	}
	DECODE_BINARY_RATE="$(bench_metric BenchmarkDecode/binary)" || DECODE_BINARY_RATE="?"
	DECODE_SHARED_RATE="$(bench_metric BenchmarkDecode/structured_shared)" || DECODE_SHARED_RATE="?"
}

# ---------------------------------------------------------------- measurement 3: large messages

# measure_large_messages runs the ingester with its default flags over fresh
# topics $PREFIX-large-* holding LARGE_MESSAGES records of about 400 KB (every
# fifth one not JSON, dead-lettered) and sets LARGE_RSS to its peak RSS: memory
# bounded by bytes (--max-buffered-bytes), not by record counts.
measure_large_messages() {
	local topics=("$PREFIX-large-referrals" "$PREFIX-large-scheduling" "$PREFIX-large-communications" "$PREFIX-large-dlq")
	local db="bench_${RUN_ID//-/_}_large" file="$WORK/large-messages.ndjson" topic port url n=0 dead=0 last_n=-1 last_change deadline
	TOPICS_CREATED=1
	GROUPS_CREATED+=("$PREFIX-large-ingest")
	log "large messages: $LARGE_MESSAGES records of about 400 KB into topics $PREFIX-large-*, database $db"
	for topic in "${topics[@]}"; do
		run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BROKERS" --create \
			--topic "$topic" --partitions "$PARTITIONS" --replication-factor 1 >/dev/null || die "could not create the topic $topic"
	done
	"$BIN" migrate --clickhouse-dsn "$(dsn "" "" "$db")" --log-format text >"$WORK/migrate-$db.log" 2>&1 || {
		cat "$WORK/migrate-$db.log" >&2
		die "referralops migrate failed for $db"
	}
	# Valid events (a referral gives several) with a 400 KB member the decoder
	# ignores, and a not-JSON record of the same size in every fifth place.
	"$BIN" generate --referrals "$LARGE_MESSAGES" "${GEN_ARGS[@]}" --out "$WORK/large-events.ndjson" 2>"$WORK/generate-large.log" ||
		die "referralops generate failed (see $WORK/generate-large.log)"
	awk -v n="$LARGE_MESSAGES" 'BEGIN { pad = "a"; while (length(pad) < 409600) pad = pad pad; pad = substr(pad, 1, 409600) }
			NR > n { exit }
			NR % 5 == 0 { print "not json " pad; next }
			{ print "{\"attachment\":\"" pad "\"," substr($0, 2) }' "$WORK/large-events.ndjson" >"$file"
	(($(wc -l <"$file") == LARGE_MESSAGES)) || die "could not make $LARGE_MESSAGES large messages (see $WORK/generate-large.log)"
	kcat -P -b "$BROKERS" -t "${topics[0]}" -l "$file" -X message.max.bytes=1000000 || die "kcat could not produce the large messages"
	rm -f "$file" "$WORK/large-events.ndjson"
	port="$(free_port "${BENCH_INGEST_PORT:-19465}")"
	url="http://127.0.0.1:$port/metrics"
	"$BIN" ingest --kafka-brokers "$BROKERS" --topic-referrals "${topics[0]}" --topic-scheduling "${topics[1]}" \
		--topic-communications "${topics[2]}" --topic-dlq "${topics[3]}" --group "$PREFIX-large-ingest" \
		--clickhouse-dsn "$(dsn "" "" "$db")" --listen "127.0.0.1:$port" --log-format json \
		>"$WORK/ingest-large.log" 2>&1 &
	INGEST_PID=$!
	deadline=$(($(now_s) + TIMEOUT))
	last_change=$(now_s)
	while ((n < LARGE_MESSAGES)); do
		if ! kill -0 "$INGEST_PID" 2>/dev/null; then
			tail -n 30 "$WORK/ingest-large.log" >&2
			INGEST_PID=""
			die "the ingester exited before settling every large message ($n of $LARGE_MESSAGES; its log above)"
		fi
		read -r n dead < <(ingest_counts "$url")
		if ((n != last_n)); then
			last_n=$n
			last_change=$(now_s)
		fi
		if (($(now_s) >= deadline)) || (($(now_s) - last_change >= STALL_TIMEOUT)); then
			tail -n 30 "$WORK/ingest-large.log" >&2
			die "the ingester settled $n of $LARGE_MESSAGES large messages: no progress for $(($(now_s) - last_change))s or over BENCH_TIMEOUT=${TIMEOUT}s"
		fi
		sleep 0.1
	done
	LARGE_RSS="$(awk '/^VmHWM:/ { printf "%.0f", $2 * 1024 }' "/proc/$INGEST_PID/status")"
	LARGE_BUFFERED="$(curl -fsS --max-time 5 "$url" | awk '$1 == "referralops_ingest_buffered_peak_bytes" { printf "%.0f", $2 }')" || LARGE_BUFFERED="?"
	LARGE_DEAD=$dead
	stop_ingester
	((INGEST_RC == 0)) || {
		tail -n 30 "$WORK/ingest-large.log" >&2
		die "the ingester exited with status $INGEST_RC on SIGTERM after the large messages (its log above)"
	}
	log "large messages: peak RSS $LARGE_RSS bytes, buffered at most $LARGE_BUFFERED bytes, $LARGE_DEAD dead-lettered"
}


# ---------------------------------------------------------------- steady state

# measure_steady produces STEADY_RATE events/s for STEADY_SECONDS to fresh
# topics $PREFIX-steady-* while the ingester (started first, default flags)
# runs, and sets STEADY_CPU (the ingester's CPU from the first message
# produced to its last row stored), STEADY_CH_CPU (the server's, to
# quiescence), STEADY_LAG (seconds from the last message produced to the last
# row stored), STEADY_MAX_LAG (messages produced but not yet stored, sampled
# after each second's slice), STEADY_PRODUCE_SECONDS.
measure_steady() {
	local n file="$WORK/steady.ndjson" dir="$WORK/steady" s f pids=() pid produced=0 settled dead lag t0 end_us
	local ch_cpu0 cpu0 deadline
	local -A slice=()
	use_backlog steady
	create_topics
	n=$((STEADY_RATE * STEADY_SECONDS))
	log "[steady] $n events at $STEADY_RATE events/s for ${STEADY_SECONDS}s to $PREFIX-steady-*"
	"$BIN" generate --referrals "$(referrals_for "$n")" "${GEN_ARGS[@]}" --seed "$((SEED + 2))" --out "$file" \
		2>"$WORK/generate-steady.log" || die "referralops generate failed (see $WORK/generate-steady.log)"
	(($(wc -l <"$file") >= n)) || die "the generator made fewer than $n events for the steady run"
	# One file per second and topic: "<referral id><TAB><message>" lines, keyed
	# by the referral id as the generator keys them, each type to its topic.
	mkdir -p "$dir"
	head -n "$n" "$file" | awk -v rate="$STEADY_RATE" -v dir="$dir" '
		{
			t = $0; sub(/.*"type":"/, "", t); sub(/\..*/, "", t)
			k = $0; sub(/.*"subject":"/, "", k); sub(/".*/, "", k)
			topic = t == "referral" ? "referrals" : t == "appointment" ? "scheduling" : "communications"
			s = int((NR - 1) / rate)
			if (s != last) { for (f in open) close(f); delete open; last = s }
			f = dir "/" s "-" topic; open[f] = 1
			print k "\t" $0 > f
		}'
	rm -f "$file"
	for f in "$dir"/*; do slice[${f##*/}]=$(wc -l <"$f"); done
	MESSAGES=$n
	fresh_ingest_db
	quiesce
	restart_clickhouse 0
	start_ingester steady
	deadline=$(($(now_s) + 60))
	until curl -fsS --max-time 2 "$INGEST_URL" >/dev/null 2>&1; do
		ingest_alive
		(($(now_s) < deadline)) || die "[steady] the ingester's /metrics did not answer within 60s"
		sleep 0.1
	done
	ch_cpu0="$(cpu_seconds "$(ch_pid)")"
	cpu0="$(cpu_seconds "$INGEST_PID")"
	STEADY_MAX_LAG=0
	t0=$(now_us)
	for ((s = 0; s < STEADY_SECONDS; s++)); do
		# Pace: slice s leaves s seconds after the first.
		while (($(now_us) < t0 + s * 1000000)); do sleep 0.01; done
		pids=()
		for f in "$dir/$s-"*; do
			kcat -P -b "$BROKERS" -t "$PREFIX-steady-${f##*-}" -K $'\t' -l "$f" &
			pids+=("$!")
			produced=$((produced + ${slice[${f##*/}]}))
		done
		for pid in "${pids[@]}"; do wait "$pid" || die "[steady] kcat could not produce $dir/$s-*"; done
		read -r settled dead < <(ingest_counts "$INGEST_URL")
		lag=$((produced - settled))
		((lag <= STEADY_MAX_LAG)) || STEADY_MAX_LAG=$lag
	done
	end_us=$(now_us)
	STEADY_PRODUCE_SECONDS="$(us_s "$end_us" "$t0")"
	await_settled "$DB_INGEST" "$PHI_INGEST" ingest_consumed ingest_alive || {
		tail -n 30 "$INGEST_LOG" >&2
		die "[steady] the ingester did not catch up: $STALL (its log above)"
	}
	STEADY_CPU="$(fsub "$(cpu_seconds "$INGEST_PID")" "$cpu0")"
	STEADY_LAG="$(awk -v a="$LAST_US" -v b="$end_us" 'BEGIN { d = (a - b) / 1e6; printf "%.3f", (d > 0 ? d : 0) }')"
	quiesce
	STEADY_CH_CPU="$(fsub "$(cpu_seconds "$(ch_pid)")" "$ch_cpu0")"
	stop_ingester
	((INGEST_RC == 0)) || {
		tail -n 30 "$INGEST_LOG" >&2
		die "[steady] the ingester exited with status $INGEST_RC on SIGTERM (its log above)"
	}
	rm -rf "$dir"
	log "[steady] produced in ${STEADY_PRODUCE_SECONDS}s; ingester CPU ${STEADY_CPU}s, lag at the end ${STEADY_LAG}s, at most $STEADY_MAX_LAG messages behind"
}

# ---------------------------------------------------------------- main

if [[ $LARGE_ONLY == 1 ]]; then
	start_clickhouse
	measure_large_messages
	cat <<EOT
# referralops bench, large messages only: $LARGE_MESSAGES records of about 400 KB ($LARGE_DEAD not JSON, dead-lettered), the ingester's default flags; buffered bytes peaked at $LARGE_BUFFERED
ingest_peak_rss_bytes_large_messages $LARGE_RSS bytes
EOT
	exit 0
fi

started=$(now_s)
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
log "run $RUN_ID: broker $BROKERS (Kafka ${KAFKA_VERSION:-?}), work dir $WORK"
start_clickhouse
CH_VERSION="$(ch --query 'SELECT version()')"
RDKAFKA_VERSION="$(dpkg-query -W -f='${Version}' librdkafka1 2>/dev/null || echo '?')"
use_backlog main
create_topics
pilot
[[ -n $REFERRALS ]] || REFERRALS="$(referrals_for "$MIN_EVENTS")"
produce_events main
((MESSAGES >= MIN_EVENTS)) ||
	die "only $MESSAGES messages were produced, fewer than $MIN_EVENTS: set BENCH_REFERRALS higher than $REFERRALS"
MAIN_PRODUCE_SECONDS=$PRODUCE_SECONDS

# Per-run figures, one element per run.
I_RATE=() I_CPU=() I_GC=() I_ALLOC=() I_RSS=() I_TOTAL=() E_RATE=() E_CPU=() T_RATE=() T_CPU=() R_ENGINE=() R_TUNED=()
RUN_LINES=()
for ((r = 1; r <= RUNS; r++)); do
	order=(ingest engine tuned)
	((r % 2)) || order=(tuned engine ingest)
	load="$(cut -d' ' -f1-3 /proc/loadavg)"
	line=""
	for side in "${order[@]}"; do
		case $side in
		ingest)
			measure_ingest "r$r-ingest"
			I_RATE+=("$M_RATE") I_CPU+=("$(per_million "$M_CPU" "$MESSAGES")") I_GC+=("$(per_million "$M_GC" "$MESSAGES")")
			I_ALLOC+=("$M_ALLOC") I_RSS+=("$M_RSS") I_TOTAL+=("$(per_million "$M_TOTAL_CPU" "$MESSAGES")")
			line+="; ingest $M_RATE events/s (${M_SECONDS}s, first rows ${M_FIRST}s; ingester CPU ${M_CPU}s, GC ${M_GC}s (idle-priority marking ${M_GC_IDLE}s), $M_ALLOC B/event allocated, peak RSS $M_RSS B; server CPU ${M_CH_CPU}s to quiescence at ${M_QUIESCE}s; $M_BATCHES; $M_WRITES)"
			;;
		engine)
			measure_engine "r$r-engine" "$NUM_CONSUMERS" 0
			E_RATE+=("$M_RATE") E_CPU+=("$(per_million "$M_TOTAL_CPU" "$MESSAGES")")
			LAST_ENGINE_DB=$DB_ENGINE
			line+="; engine $M_RATE events/s (${M_SECONDS}s, first rows ${M_FIRST}s; server CPU ${M_CH_CPU}s to quiescence at ${M_QUIESCE}s; $M_WRITES)"
			;;
		tuned)
			measure_engine "r$r-tuned" "$TUNED_NUM_CONSUMERS" 1
			T_RATE+=("$M_RATE") T_CPU+=("$(per_million "$M_TOTAL_CPU" "$MESSAGES")")
			LAST_TUNED_DB=$DB_ENGINE
			line+="; tuned engine $M_RATE events/s (${M_SECONDS}s, first rows ${M_FIRST}s; server CPU ${M_CH_CPU}s to quiescence at ${M_QUIESCE}s; $M_WRITES)"
			;;
		esac
	done
	R_ENGINE+=("$(ratio "${I_RATE[-1]}" "${E_RATE[-1]}")")
	R_TUNED+=("$(ratio "${I_RATE[-1]}" "${T_RATE[-1]}")")
	RUN_LINES+=("# run $r (${order[*]}), load average $load${line}; ratios ${R_ENGINE[-1]} and ${R_TUNED[-1]} (tuned)")
	RUN_LINES+=("# run $r targets: ingest >= 150000 events/s $(verdict "${I_RATE[-1]}" '>=' 150000); ratio >= 2.0 $(verdict "${R_ENGINE[-1]}" '>=' 2.0); tuned ratio >= 1.5 $(verdict "${R_TUNED[-1]}" '>=' 1.5); peak RSS < 200 MB $(verdict "${I_RSS[-1]}" '<' 209715200); ingester CPU <= 3 s per million $(verdict "${I_CPU[-1]}" '<=' 3)")
done
compare_tables "$LAST_ENGINE_DB"
EQUIVALENCE_ENGINE=$EQUIVALENCE
compare_tables "$LAST_TUNED_DB"
EQUIVALENCE_TUNED=$EQUIVALENCE

# Duplicates and disorder: the same referrals, some messages twice, out of order.
use_backlog dup
create_topics
produce_events dup --duplicate-ratio "$DUPLICATE_RATIO" --shuffle
DUP_MESSAGES=$MESSAGES
measure_ingest dup-ingest
DUP_INGEST_RATE=$M_RATE DUP_INGEST_LINE="ingest ${M_SECONDS}s, ingester CPU ${M_CPU}s, server CPU ${M_CH_CPU}s to quiescence; $M_WRITES"
measure_engine dup-engine "$NUM_CONSUMERS" 0
DUP_ENGINE_RATE=$M_RATE DUP_ENGINE_LINE="engine ${M_SECONDS}s, server CPU ${M_CH_CPU}s to quiescence; $M_WRITES"

measure_steady
measure_decode
measure_large_messages

INGEST_RATE="$(median "${I_RATE[@]}")"
ENGINE_RATE="$(median "${E_RATE[@]}")"
TUNED_RATE="$(median "${T_RATE[@]}")"
RATIO="$(median "${R_ENGINE[@]}")"
RATIO_TUNED="$(median "${R_TUNED[@]}")"
INGEST_CPU_M="$(median "${I_CPU[@]}")"
INGEST_RSS="$(maximum "${I_RSS[@]}")"
V_RATE="$(verdict "$INGEST_RATE" '>=' 150000)"
V_RATIO="$(verdict "$RATIO" '>=' 2.0)"
V_TUNED="$(verdict "$RATIO_TUNED" '>=' 1.5)"
V_RSS="$(verdict "$INGEST_RSS" '<' 209715200)"
V_RSS_LARGE="$(verdict "$LARGE_RSS" '<' 209715200)"
V_CPU="$(verdict "$INGEST_CPU_M" '<=' 3)"
ELAPSED=$(($(now_s) - started))

cat <<EOF
# referralops bench, run $RUN_ID: $(nproc) cores, load average $LOAD_START at start and $(cut -d' ' -f1-3 /proc/loadavg) at the end, script time ${ELAPSED}s
# broker: Apache Kafka ${KAFKA_VERSION:-?} at $BROKERS, topics $PREFIX-* with $PARTITIONS partitions each
# ClickHouse: a dedicated $CH_VERSION server on 127.0.0.1:$CH_TCP started by this script, restarted before each measurement; Kafka engine client: Debian's librdkafka $RDKAFKA_VERSION
# events: $(group3 "${BACKLOG_MESSAGES[main]}") valid structured-mode CloudEvents ($(group3 "$REFERRALS") referrals, seed $SEED), produced by referralops generate in ${MAIN_PRODUCE_SECONDS}s; each side drains them $RUNS times
# clock: to the last growth of any table of the side (level-0 rows, views included), once every message was taken; CPU to quiescence (no merge, parts unchanged for ${QUIESCE}s); engine as shipped kafka_num_consumers=$NUM_CONSUMERS, tuned kafka_num_consumers=$TUNED_NUM_CONSUMERS parallel_view_processing=1${INGEST_ARGS[*]:+; ingest with ${INGEST_ARGS[*]}}
$(printf '%s\n' "${RUN_LINES[@]}")
# equivalence (last run): engine: $EQUIVALENCE_ENGINE; tuned engine: $EQUIVALENCE_TUNED
# duplicates and disorder: $(group3 "$DUP_MESSAGES") messages (--duplicate-ratio $DUPLICATE_RATIO --shuffle); $DUP_INGEST_LINE; $DUP_ENGINE_LINE
# steady state: $(group3 "$((STEADY_RATE * STEADY_SECONDS))") events at $STEADY_RATE events/s, produced in ${STEADY_PRODUCE_SECONDS}s; ingester CPU ${STEADY_CPU}s, server CPU ${STEADY_CH_CPU}s to quiescence
# large messages: $LARGE_MESSAGES records of about 400 KB ($LARGE_DEAD not JSON, dead-lettered), the ingester's default flags; buffered bytes peaked at $LARGE_BUFFERED
# decode: BenchmarkDecode/structured, go test -cpu 1 -benchtime 2s (binary mode: $DECODE_BINARY_RATE events/s; the ingester's DecodeShared: $DECODE_SHARED_RATE events/s)
# targets (medians): ingest >= 150000 events/s $V_RATE; ratio >= 2.0 $V_RATIO; tuned ratio >= 1.5 $V_TUNED; peak RSS < 200 MB $V_RSS; large messages < 200 MB $V_RSS_LARGE; ingester CPU <= 3 s per million $V_CPU
ingest_events_per_second $INGEST_RATE events/s
kafka_engine_events_per_second $ENGINE_RATE events/s
kafka_engine_tuned_events_per_second $TUNED_RATE events/s
ingest_vs_kafka_engine_ratio $RATIO ratio
ingest_vs_tuned_kafka_engine_ratio $RATIO_TUNED ratio
ingest_cpu_seconds_per_million_events $INGEST_CPU_M s
ingest_gc_cpu_seconds_per_million_events $(median "${I_GC[@]}") s
ingest_alloc_bytes_per_event $(median "${I_ALLOC[@]}") bytes
ingest_total_cpu_seconds_per_million_events $(median "${I_TOTAL[@]}") s
kafka_engine_cpu_seconds_per_million_events $(median "${E_CPU[@]}") s
kafka_engine_tuned_cpu_seconds_per_million_events $(median "${T_CPU[@]}") s
ingest_peak_rss_bytes $INGEST_RSS bytes
ingest_events_per_second_duplicates_shuffled $DUP_INGEST_RATE events/s
kafka_engine_events_per_second_duplicates_shuffled $DUP_ENGINE_RATE events/s
ingest_vs_kafka_engine_ratio_duplicates_shuffled $(ratio "$DUP_INGEST_RATE" "$DUP_ENGINE_RATE") ratio
ingest_steady_cpu_seconds_per_million_events $(per_million "$STEADY_CPU" "$((STEADY_RATE * STEADY_SECONDS))") s
ingest_steady_lag_seconds $STEADY_LAG s
ingest_steady_max_lag_events $STEADY_MAX_LAG events
ingest_peak_rss_bytes_large_messages $LARGE_RSS bytes
decode_events_per_second_per_core $DECODE_RATE events/s
EOF

if [[ $ENFORCE == 1 && "$V_RATE$V_RATIO$V_TUNED$V_RSS$V_RSS_LARGE$V_CPU" == *MISSED* ]]; then
	log "a target of the issue was missed (BENCH_ENFORCE_TARGETS=1)"
	exit 3
fi
