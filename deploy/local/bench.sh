#!/usr/bin/env bash
# bench.sh: the performance figures of issue #2, measured end to end on this
# machine. `make bench` runs it after `services-up` and building bin/referralops.
#
# stdout: '#' context lines, then one `name value unit` line per figure:
#   ingest_events_per_second          events/s  Kafka -> committed ClickHouse rows, our ingester
#   kafka_engine_events_per_second    events/s  the same events through ClickHouse's Kafka table engine
#   ingest_vs_kafka_engine_ratio      ratio     the first over the second
#   ingest_peak_rss_bytes             bytes     the ingester's peak RSS (VmHWM)
#   ingest_peak_rss_bytes_large_messages bytes  its peak RSS over a stream of 400 KB messages
#   decode_events_per_second_per_core events/s  BenchmarkDecode/structured with -cpu 1
# stderr: progress, and the servers' log lines when something fails.
#
# One run:
#  1. Fresh topics <prefix>-{referrals,scheduling,communications,dlq} (6 partitions)
#     on the local Kafka broker; `referralops generate` produces >= BENCH_MIN_EVENTS
#     valid structured-mode CloudEvents (no duplicates, no invalid messages). The
#     message count is the sum of the topics' end offsets.
#  2. A dedicated ClickHouse 18.16 server (clickhouse.sh with its data in a temporary
#     directory, on free ports), because 18.16's Kafka engine parses with the
#     server's default profile, which needs input_format_import_nested_json=1 to
#     reach the CloudEvents `data` object (bench/clickhouse-users.d.xml). Both
#     measurements use this server, so they compare like with like. Two fresh
#     databases are migrated by `referralops migrate` (ours as referralops_migrator,
#     the Kafka engine's as the admin): one per measurement, so both
#     write into the same `events` table with the same downstream fact views.
#  3. Ours: `referralops ingest` as referralops_writer with a fresh group. Done when the sum of
#     referralops_ingest_records_total (counted only once a batch is stored and its
#     offsets committed) reaches the message count; events/s = messages / (process
#     start -> done). Peak RSS is VmHWM from /proc just before SIGTERM.
#  4. Kafka engine: a Kafka table on the same topics (own group, its offsets
#     committed at the earliest offsets beforehand: a new 18.16 consumer group starts
#     at the end of the topics), a view into the second database's `events` with the
#     ingester's column mapping, and copies of the migrations' fact views chained on
#     it (bench/kafka_engine_*.sql.tmpl, build_engine_views), so that ClickHouse does
#     the same work for both. events/s = messages / (creation of the Kafka table,
#     its views already in place -> count() == messages).
#  5. Both databases are compared table by table, column by column (checksums), and
#     `go test -bench BenchmarkDecode -cpu 1` gives the decode figure.
#  Topics, consumer groups, databases, the dedicated server, the ingester and the
#  temporary directory are removed on exit, on failure and on Ctrl-C too.
#
# Needs: the local Kafka broker up (deploy/local/services.sh up), bin/referralops,
# go, java, kcat, curl, clickhouse-server/clickhouse-client.
#
# Environment:
#   BENCH_BIN                  the binary (default <repo>/bin/referralops)
#   BENCH_MIN_EVENTS           at least this many events (default 1000000)
#   BENCH_REFERRALS            referrals to generate (default: derived from a pilot
#                              run so that BENCH_MIN_EVENTS are produced, +2%)
#   BENCH_SEED                 generator seed (default 1)
#   BENCH_PARTITIONS           partitions per topic (default 6)
#   KAFKA_PORT                 the local broker's port (default 9092)
#   BENCH_CLICKHOUSE_TCP_PORT  first port tried for the dedicated server (default 19000)
#   BENCH_CLICKHOUSE_HTTP_PORT first HTTP port tried (default 18123)
#   BENCH_INGEST_PORT          first port tried for the ingester's /metrics (default 19465)
#   BENCH_INGEST_ARGS          extra flags for `referralops ingest` (e.g. "--batch-rows 200000"),
#                              to try settings; the defaults are what the figures are about
#   BENCH_KAFKA_NUM_CONSUMERS  kafka_num_consumers of the Kafka table (default 1, its default)
#   BENCH_LARGE_MESSAGES       messages of about 400 KB in the large-message run (default 1000;
#                              one in five is invalid, dead-lettered): valid events padded with
#                              an unknown member, ingested with the default flags, so that the
#                              peak RSS shows --max-buffered-bytes at work
#   BENCH_ONLY_LARGE_MESSAGES  1: run the large-message measurement only (its figure alone)
#   BENCH_TIMEOUT              seconds allowed per measurement (default 900)
#   BENCH_STALL_TIMEOUT        fail when a measurement makes no progress this long (default 180)
#   BENCH_ENFORCE_TARGETS      1: exit 3 when a target of the issue is missed (default 0)
#   BENCH_KEEP_LOGS            a directory: copy the run's logs (ingester, generator,
#                              dedicated ClickHouse server) there before cleaning up
#   BENCH_KEEP_SERVER          1: leave the dedicated ClickHouse server running with both
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
KAFKA_PORT="${KAFKA_PORT:-9092}"
BROKERS="127.0.0.1:$KAFKA_PORT"
NUM_CONSUMERS="${BENCH_KAFKA_NUM_CONSUMERS:-1}"
read -r -a INGEST_ARGS <<<"${BENCH_INGEST_ARGS:-}"
TIMEOUT="${BENCH_TIMEOUT:-900}"
STALL_TIMEOUT="${BENCH_STALL_TIMEOUT:-180}"
ENFORCE="${BENCH_ENFORCE_TARGETS:-0}"
# The generator's simulated month (fixed, so that runs are comparable).
GEN_ARGS=(--days 30 --end 2026-03-31 --seed "$SEED" --binary-ratio 0 --duplicate-ratio 0 --invalid-ratio 0)
PILOT_REFERRALS=20000
LIBS_DIR="$DATA_ROOT/kafka/libs"
BENCH_DIR="$LIB_DIR/bench"

for pair in MIN_EVENTS:BENCH_MIN_EVENTS SEED:BENCH_SEED PARTITIONS:BENCH_PARTITIONS \
	NUM_CONSUMERS:BENCH_KAFKA_NUM_CONSUMERS TIMEOUT:BENCH_TIMEOUT STALL_TIMEOUT:BENCH_STALL_TIMEOUT; do
	var=${pair%%:*}
	[[ ${!var} =~ ^[1-9][0-9]*$ ]] || die "${pair#*:}=${!var} must be a positive integer (see the header of $0)"
done
[[ -z $REFERRALS || $REFERRALS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REFERRALS=$REFERRALS must be a positive integer"
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

# ---------------------------------------------------------------- run state and cleanup

RUN_ID="$(date -u +%Y%m%d%H%M%S)-$$"
PREFIX="bench-$RUN_ID"
TOPIC_REFERRALS="$PREFIX-referrals"
TOPIC_SCHEDULING="$PREFIX-scheduling"
TOPIC_COMMUNICATIONS="$PREFIX-communications"
TOPIC_DLQ="$PREFIX-dlq"
INPUT_TOPICS=("$TOPIC_REFERRALS" "$TOPIC_SCHEDULING" "$TOPIC_COMMUNICATIONS")
GROUP_INGEST="$PREFIX-ingest"
GROUP_ENGINE="$PREFIX-kafka-engine"
GROUP_LARGE="$PREFIX-large-ingest"
LARGE_MESSAGES="${BENCH_LARGE_MESSAGES:-1000}"
LARGE_ONLY="${BENCH_ONLY_LARGE_MESSAGES:-0}"
[[ $LARGE_MESSAGES =~ ^[1-9][0-9]*$ ]] || die "BENCH_LARGE_MESSAGES=$LARGE_MESSAGES must be a positive integer"
DB_INGEST="bench_${RUN_ID//-/_}_ingest"
DB_ENGINE="bench_${RUN_ID//-/_}_kafka_engine"
# Their raw events and the views that read them: schema.PHIDatabase (<db>_phi).
PHI_INGEST="${DB_INGEST}_phi"
PHI_ENGINE="${DB_ENGINE}_phi"
KAFKA_FLAGS=(--kafka-brokers "$BROKERS" --topic-referrals "$TOPIC_REFERRALS" --topic-scheduling "$TOPIC_SCHEDULING"
	--topic-communications "$TOPIC_COMMUNICATIONS" --topic-dlq "$TOPIC_DLQ")

WORK="$(mktemp -d "${TMPDIR:-/tmp}/referralops-bench.XXXXXX")"
CH_ENV=()           # environment of clickhouse.sh for the dedicated server, once chosen
CH_STARTED=0        # the dedicated server was started (or its start attempted)
TOPICS_CREATED=0    # topic creation was attempted
ENGINE_CREATED=0    # the Kafka table was created
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
		log "kept the dedicated ClickHouse server: clickhouse-client --port $CH_TCP (databases $DB_INGEST, $DB_ENGINE)"
		log "stop it with: ${CH_ENV[*]} $LIB_DIR/clickhouse.sh down && rm -rf $WORK"
	elif ((CH_STARTED)); then
		env "${CH_ENV[@]}" SCRIPT_NAME="bench.sh: clickhouse.sh" "$LIB_DIR/clickhouse.sh" down >/dev/null 2>&1 ||
			log "could not stop the dedicated ClickHouse server (data in $WORK/clickhouse)"
	fi
	if ((TOPICS_CREATED)); then
		log "deleting the consumer groups and topics $PREFIX-*"
		run_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$BROKERS" \
			--delete --group "$GROUP_INGEST" --group "$GROUP_ENGINE" --group "$GROUP_LARGE" >/dev/null 2>&1 ||
			log "could not delete every consumer group of this run ($GROUP_INGEST, $GROUP_ENGINE); Kafka expires them after offsets.retention.minutes"
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

# ---------------------------------------------------------------- topics and events

create_topics() {
	local topic pids=() pid failed=0
	TOPICS_CREATED=1
	log "creating topics $PREFIX-{referrals,scheduling,communications,dlq} ($PARTITIONS partitions each)"
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

produce_events() {
	if [[ -z $REFERRALS ]]; then
		local pilot
		pilot="$("$BIN" generate --referrals "$PILOT_REFERRALS" "${GEN_ARGS[@]}" --out - 2>/dev/null | wc -l)"
		((pilot > 0)) || die "the pilot run (referralops generate --out -) produced nothing"
		# Events per referral do not depend on the number of referrals (arrivals are
		# spread over the same month); 2% margin for the randomness.
		REFERRALS="$(awk -v t="$MIN_EVENTS" -v m="$pilot" -v r="$PILOT_REFERRALS" \
			'BEGIN { n = t * 1.02 * r / m; printf "%d", (n == int(n)) ? n : int(n) + 1 }')"
		log "pilot: $pilot events for $PILOT_REFERRALS referrals; generating $REFERRALS referrals"
	fi
	local t0 t1
	t0="$(now_f)"
	"$BIN" generate --referrals "$REFERRALS" "${GEN_ARGS[@]}" "${KAFKA_FLAGS[@]}" \
		--log-format text 2>"$WORK/generate.log" >&2 || {
		tail -n 20 "$WORK/generate.log" >&2
		die "referralops generate failed"
	}
	t1="$(now_f)"
	PRODUCE_SECONDS="$(fsub "$t1" "$t0")"
	MESSAGES="$(end_offsets_sum)" || die "could not read the topics' end offsets"
	((MESSAGES >= MIN_EVENTS)) ||
		die "only $MESSAGES messages were produced, fewer than $MIN_EVENTS: set BENCH_REFERRALS higher than $REFERRALS"
	log "produced $MESSAGES messages in ${PRODUCE_SECONDS}s"
}

# ---------------------------------------------------------------- measurement 1: our ingester

# ingest_counts URL prints "<records settled> <dead-lettered>" from the ingester's
# /metrics ("0 0" while it does not answer).
ingest_counts() {
	curl -fsS --max-time 2 "$1" 2>/dev/null | awk '
		$1 ~ /^referralops_ingest_records_total\{/ { total += $NF; if ($1 ~ /outcome="dead_lettered"/) dead += $NF }
		END { printf "%.0f %.0f\n", total, dead }'
}

measure_ingest() {
	local port url t0 t1 first="" n=0 dead=0 last_n=-1 last_change deadline rows
	port="$(free_port "${BENCH_INGEST_PORT:-19465}")"
	url="http://127.0.0.1:$port/metrics"
	local ch_cpu0 ch_cpu1
	log "measuring referralops ingest (group $GROUP_INGEST, database $DB_INGEST, metrics $url)"
	ch_cpu0="$(cpu_seconds "$(ch_pid)")"
	t0="$(now_f)"
	"$BIN" ingest "${KAFKA_FLAGS[@]}" --group "$GROUP_INGEST" --clickhouse-dsn "$WRITER_DSN" \
		--listen "127.0.0.1:$port" --log-format json "${INGEST_ARGS[@]}" >"$WORK/ingest.log" 2>&1 &
	INGEST_PID=$!
	deadline=$(($(now_s) + TIMEOUT))
	last_change=$(now_s)
	while :; do
		if ! kill -0 "$INGEST_PID" 2>/dev/null; then
			tail -n 30 "$WORK/ingest.log" >&2
			INGEST_PID=""
			die "the ingester exited before storing every message ($n of $MESSAGES; its log above)"
		fi
		read -r n dead < <(ingest_counts "$url")
		if ((n != last_n)); then
			last_n=$n
			last_change=$(now_s)
		fi
		if [[ -z $first ]] && ((n > 0)); then first="$(now_f)"; fi
		if ((n >= MESSAGES)); then
			t1="$(now_f)"
			break
		fi
		if (($(now_s) >= deadline)) || (($(now_s) - last_change >= STALL_TIMEOUT)); then
			tail -n 30 "$WORK/ingest.log" >&2
			die "the ingester settled $n of $MESSAGES messages: no progress for $(($(now_s) - last_change))s or over BENCH_TIMEOUT=${TIMEOUT}s (its log above)"
		fi
		sleep 0.1
	done
	INGEST_SECONDS="$(fsub "$t1" "$t0")"
	INGEST_FIRST_SECONDS="$(fsub "$first" "$t0")"
	INGEST_DEAD="$dead"
	INGEST_RSS="$(awk '/^VmHWM:/ { printf "%.0f", $2 * 1024 }' "/proc/$INGEST_PID/status")"
	# Batches and their settle time, for the context line.
	INGEST_BATCHES="$(curl -fsS --max-time 5 "$url" 2>/dev/null | awk '
		$1 == "referralops_ingest_batch_rows_count" { n = $2 } $1 == "referralops_ingest_batch_rows_sum" { rows = $2 }
		$1 == "referralops_ingest_flush_seconds_sum" { secs = $2 }
		END { if (n > 0) printf "%.0f batches of %.0f rows on average, %.3fs to settle each", n, rows / n, secs / n; else printf "no batch metrics" }')" || true
	INGEST_CPU="$(cpu_seconds "$INGEST_PID")"
	ch_cpu1="$(cpu_seconds "$(ch_pid)")"
	INGEST_CH_CPU="$(fsub "$ch_cpu1" "$ch_cpu0")"
	INGEST_RATE="$(rate "$MESSAGES" "$INGEST_SECONDS")"
	stop_ingester
	((INGEST_RC == 0)) || {
		tail -n 30 "$WORK/ingest.log" >&2
		die "the ingester exited with status $INGEST_RC on SIGTERM (its log above)"
	}
	rows="$(ch_http "SELECT count() FROM $PHI_INGEST.events")"
	# The server's side of the ingester's inserts (query_log; log_queries=1 in the
	# default profile of users.xml).
	INGEST_INSERTS="$(ch_http "SYSTEM FLUSH LOGS" 60 >/dev/null && ch_http "SELECT concat(toString(count()), ' INSERTs took ',
		toString(round(sum(query_duration_ms) / 1000, 3)), 's of server time in total (max ', toString(max(query_duration_ms)), ' ms, peak memory ',
		toString(round(max(memory_usage) / 1048576)), ' MiB)') FROM system.query_log
		WHERE type = 2 AND query LIKE 'INSERT INTO $PHI_INGEST.events%'" 60)" || INGEST_INSERTS="query_log unavailable"
	((rows + dead >= MESSAGES)) || die "$PHI_INGEST.events holds $rows rows, but the ingester counted $n records settled ($dead dead-lettered)"
	INGEST_ROWS="$rows"
	log "ingest: $MESSAGES messages in ${INGEST_SECONDS}s = $INGEST_RATE events/s, peak RSS $INGEST_RSS bytes"
}

# ---------------------------------------------------------------- measurement 2: ClickHouse's Kafka engine

# The group's offsets are committed at the start of the topics before the
# engine's consumer exists: 18.16's consumer (librdkafka's default
# auto.offset.reset=largest) would otherwise start a new group at the end and
# see none of the messages already produced.
commit_engine_offsets() {
	local args=() topic
	for topic in "${INPUT_TOPICS[@]}"; do args+=(--topic "$topic"); done
	run_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$BROKERS" \
		--reset-offsets --to-earliest --execute --group "$GROUP_ENGINE" "${args[@]}" >/dev/null ||
		die "could not commit the earliest offsets for group $GROUP_ENGINE"
}

engine_diagnostics() {
	show_log "the dedicated ClickHouse server's error log" "$CH_ERR_LOG" "$1" 40
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

# The Kafka engine starts consuming as soon as one view reads its table, and it
# fixes the list of views for a whole block, so creating the views one after the
# other on the Kafka table would race with it. They are created on a stand-in
# (a Null table of the same name and columns), which is then replaced by the
# Kafka table: it starts with every view in place (views refer to their source
# by name in 18.16). The clock starts at the Kafka table's creation.
measure_kafka_engine() {
	local t0 t1 first="" n=0 last_n=-1 last_change deadline err_offset ch_cpu0 ch_cpu1
	local topics kafka_engine
	topics="$(IFS=,; printf '%s' "${INPUT_TOPICS[*]}")"
	kafka_engine="Kafka
SETTINGS
    kafka_broker_list = '$BROKERS',
    kafka_topic_list = '$topics',
    kafka_group_name = '$GROUP_ENGINE',
    kafka_format = 'JSONEachRow',
    kafka_num_consumers = $NUM_CONSUMERS"
	render_template "$BENCH_DIR/kafka_engine_table.sql.tmpl" "$WORK/kafka_engine_standin.sql" "DB=$DB_ENGINE" "ENGINE=Null"
	render_template "$BENCH_DIR/kafka_engine_table.sql.tmpl" "$WORK/kafka_engine_table.sql" "DB=$DB_ENGINE" "ENGINE=$kafka_engine"
	log "measuring ClickHouse's Kafka engine (group $GROUP_ENGINE, database $DB_ENGINE, kafka_num_consumers=$NUM_CONSUMERS)"
	ENGINE_CREATED=1
	ch --multiquery <"$WORK/kafka_engine_standin.sql" || die "could not create the stand-in table ($WORK/kafka_engine_standin.sql)"
	build_engine_views
	ch --multiquery <"$WORK/kafka_engine_views.sql" || die "could not create the Kafka table's views ($WORK/kafka_engine_views.sql)"
	ch --query "DROP TABLE $DB_ENGINE.kafka_queue" || die "could not drop the stand-in table"
	err_offset="$(file_size "$CH_ERR_LOG")"
	ch_cpu0="$(cpu_seconds "$(ch_pid)")"
	t0="$(now_f)"
	ch --multiquery <"$WORK/kafka_engine_table.sql" || die "could not create the Kafka table ($WORK/kafka_engine_table.sql)"
	deadline=$(($(now_s) + TIMEOUT))
	last_change=$(now_s)
	while :; do
		pid_alive "$CH_DIR/clickhouse-server.pid" "$CH_DIR/etc/config.xml" || {
			engine_diagnostics "$err_offset"
			die "the dedicated ClickHouse server died during the Kafka engine measurement"
		}
		n="$(ch_http "SELECT count() FROM $PHI_ENGINE.events")" || n=$last_n
		if ((n != last_n)); then
			last_n=$n
			last_change=$(now_s)
		fi
		if [[ -z $first ]] && ((n > 0)); then first="$(now_f)"; fi
		if (($(file_size "$CH_ERR_LOG") > err_offset)) && tail -c +"$((err_offset + 1))" "$CH_ERR_LOG" | grep -q '<Error>'; then
			engine_diagnostics "$err_offset"
			die "the Kafka engine failed (server log above): an error in a view makes it consume the block again, so the figure would not be valid"
		fi
		if ((n >= MESSAGES)); then
			t1="$(now_f)"
			break
		fi
		if (($(now_s) >= deadline)) || (($(now_s) - last_change >= STALL_TIMEOUT)); then
			engine_diagnostics "$err_offset"
			die "the Kafka engine stored $n of $MESSAGES messages: no progress for $(($(now_s) - last_change))s or over BENCH_TIMEOUT=${TIMEOUT}s (server log above)"
		fi
		sleep 0.25
	done
	ch_cpu1="$(cpu_seconds "$(ch_pid)")"
	# Stop consuming before anything else is measured: the Kafka table first (its
	# consumer leaves the group), then its views.
	ch --query "DROP TABLE $DB_ENGINE.kafka_queue" || die "could not drop the Kafka table"
	ENGINE_CREATED=0
	ENGINE_SECONDS="$(fsub "$t1" "$t0")"
	ENGINE_FIRST_SECONDS="$(fsub "$first" "$t0")"
	ENGINE_CH_CPU="$(fsub "$ch_cpu1" "$ch_cpu0")"
	ENGINE_ROWS="$(ch_http "SELECT count() FROM $PHI_ENGINE.events")"
	ENGINE_RATE="$(rate "$MESSAGES" "$ENGINE_SECONDS")"
	ENGINE_ERRORS="$(tail -c +"$((err_offset + 1))" "$CH_ERR_LOG" 2>/dev/null | grep -c '<Error>' || true)"
	# An error in a view makes the engine consume the block again: rows are then
	# duplicated and the time is not the engine's.
	if ((ENGINE_ERRORS > 0)); then
		engine_diagnostics "$err_offset"
		die "the Kafka engine logged $ENGINE_ERRORS errors during the measurement (server log above); the figure would not be valid"
	fi
	log "kafka engine: $MESSAGES messages in ${ENGINE_SECONDS}s = $ENGINE_RATE events/s"
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

# compare_tables sets EQUIVALENCE to a sentence on whether the two sides hold
# the same data: every MergeTree table of the ingester's databases (events and
# the fact tables), column by column.
compare_tables() {
	local tables=() table mode pid a=() b=() i differ=() ncols=0 ing eng
	mapfile -t tables < <(ch_http "SELECT name FROM system.tables WHERE database IN ('$DB_INGEST', '$PHI_INGEST')
		AND engine LIKE '%MergeTree' AND name != 'schema_migrations' ORDER BY name FORMAT TSVRaw")
	((${#tables[@]} > 0)) || die "no tables found in $DB_INGEST"
	for table in "${tables[@]}"; do
		ing=$DB_INGEST eng=$DB_ENGINE
		[[ $table != events ]] || ing=$PHI_INGEST eng=$PHI_ENGINE
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
		EQUIVALENCE="the two databases hold the same data: ${tables[*]} compared on $ncols columns (aggregates merged, ReplacingMergeTree duplicates ignored; events without its Kafka coordinates and ingested_at)"
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
		--topic-communications "${topics[2]}" --topic-dlq "${topics[3]}" --group "$GROUP_LARGE" \
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

# ---------------------------------------------------------------- main

if [[ $LARGE_ONLY == 1 ]]; then
	start_clickhouse
	measure_large_messages
	cat <<EOF
# referralops bench, large messages only: $LARGE_MESSAGES records of about 400 KB ($LARGE_DEAD not JSON, dead-lettered), the ingester's default flags; buffered bytes peaked at $LARGE_BUFFERED
ingest_peak_rss_bytes_large_messages $LARGE_RSS bytes
EOF
	exit 0
fi


started=$(now_s)
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
log "run $RUN_ID: broker $BROKERS (Kafka ${KAFKA_VERSION:-?}), work dir $WORK"
start_clickhouse
CH_VERSION="$(ch --query 'SELECT version()')"
RDKAFKA_VERSION="$(dpkg-query -W -f='${Version}' librdkafka1 2>/dev/null || echo '?')"
create_topics
for db in "$DB_INGEST" "$DB_ENGINE"; do
	migrate_dsn="$MIGRATOR_DSN"
	[[ $db == "$DB_INGEST" ]] || migrate_dsn="$(dsn "" "" "$db")"
	"$BIN" migrate --clickhouse-dsn "$migrate_dsn" --log-format text >"$WORK/migrate-$db.log" 2>&1 || {
		cat "$WORK/migrate-$db.log" >&2
		die "referralops migrate failed for $db"
	}
done
commit_engine_offsets
produce_events
measure_ingest
measure_kafka_engine
compare_tables
# Inserted blocks and merges per side, from system.part_log: how each side writes.
PARTS="$(ch_http "SYSTEM FLUSH LOGS" 60 >/dev/null && ch_http "SELECT arrayStringConcat(groupArray(s), '; ') FROM (
	SELECT concat(side, ': ',
		toString(countIf(event_type = 1 AND table = 'events')), ' parts inserted into events (',
		toString(round(sumIf(rows, event_type = 1 AND table = 'events') / greatest(countIf(event_type = 1 AND table = 'events'), 1))),
		' rows each), ', toString(countIf(event_type = 1)), ' parts in all, ', toString(countIf(event_type = 2)), ' merges (',
		toString(round(sumIf(duration_ms, event_type = 2) / 1000, 1)), 's)') AS s
	FROM system.part_log WHERE database IN ('$DB_INGEST', '$DB_ENGINE', '$PHI_INGEST', '$PHI_ENGINE') AND table != 'schema_migrations'
	GROUP BY if(database IN ('$DB_INGEST', '$PHI_INGEST'), 'ingest', 'kafka engine') AS side ORDER BY side)" 60)" || PARTS="part_log unavailable"
measure_decode
measure_large_messages

RATIO="$(awk -v a="$INGEST_RATE" -v b="$ENGINE_RATE" 'BEGIN { printf "%.2f", a / b }')"
# verdict A OP B prints "met" when the comparison holds (as numbers), else "MISSED".
verdict() {
	if awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { a += 0; b += 0; exit !(op == ">=" ? a >= b : a < b) }'; then
		echo met
	else
		echo MISSED
	fi
}
V_RATE="$(verdict "$INGEST_RATE" '>=' 100000)"
V_RATIO="$(verdict "$RATIO" '>=' 1.5)"
V_RSS="$(verdict "$INGEST_RSS" '<' $((300 * 1024 * 1024)))"
ELAPSED=$(($(now_s) - started))

cat <<EOF
# referralops bench, run $RUN_ID: $(nproc) cores, load average at start $LOAD_START, script time ${ELAPSED}s
# broker (both throughput figures): Apache Kafka ${KAFKA_VERSION:-?} at $BROKERS, topics $PREFIX-* with $PARTITIONS partitions each
# ClickHouse (both throughput figures): a dedicated $CH_VERSION server on 127.0.0.1:$CH_TCP started by this script; Kafka engine client: Debian's librdkafka $RDKAFKA_VERSION
# events: $(group3 "$MESSAGES") valid structured-mode CloudEvents ($(group3 "$REFERRALS") referrals, seed $SEED), produced by referralops generate in ${PRODUCE_SECONDS}s
# ingest${INGEST_ARGS[*]:+ (with ${INGEST_ARGS[*]})}: all records stored and committed ${INGEST_SECONDS}s after the process started (first ones after ${INGEST_FIRST_SECONDS}s); ingester CPU ${INGEST_CPU}s, ClickHouse server CPU ${INGEST_CH_CPU}s; $(group3 "$INGEST_ROWS") rows, $INGEST_DEAD dead-lettered; ${INGEST_BATCHES:-no batch metrics}; ClickHouse: $INGEST_INSERTS
# kafka engine: count() reached the message count ${ENGINE_SECONDS}s after the Kafka table was created with its views in place (first rows after ${ENGINE_FIRST_SECONDS}s); kafka_num_consumers=$NUM_CONSUMERS; ClickHouse server CPU ${ENGINE_CH_CPU}s; $(group3 "$ENGINE_ROWS") rows
# equivalence: $EQUIVALENCE
# ClickHouse writes so far: $PARTS
# large messages: $LARGE_MESSAGES records of about 400 KB ($LARGE_DEAD not JSON, dead-lettered), the ingester's default flags; buffered bytes peaked at $LARGE_BUFFERED
# decode: BenchmarkDecode/structured, go test -cpu 1 -benchtime 2s (binary mode: $DECODE_BINARY_RATE events/s)
# targets: ingest >= 100000 events/s $V_RATE; ratio >= 1.5 $V_RATIO; peak RSS < 300 MB $V_RSS
ingest_events_per_second $INGEST_RATE events/s
kafka_engine_events_per_second $ENGINE_RATE events/s
ingest_vs_kafka_engine_ratio $RATIO ratio
ingest_peak_rss_bytes $INGEST_RSS bytes
ingest_peak_rss_bytes_large_messages $LARGE_RSS bytes
decode_events_per_second_per_core $DECODE_RATE events/s
EOF

if [[ $ENFORCE == 1 && "$V_RATE$V_RATIO$V_RSS" == *MISSED* ]]; then
	log "a target of the issue was missed (BENCH_ENFORCE_TARGETS=1)"
	exit 3
fi
