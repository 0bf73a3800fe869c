#!/usr/bin/env bash
# bench-kpi.sh: the KPI and exporter figures of issues #3 and #13. `make bench`
# runs it after bench.sh, with the local ClickHouse 18.16 server up (services-up).
#
# stdout: '#' context lines, then one `name value unit` line per figure:
#   kpi_refresh_seconds_1m              s     the exporter's real refresh (Exporter.Refresh: 30 d and
#                                             90 d windows, every breakdown, the version-2 fields, the
#                                             collector's update) over 1 M stored events, sequential
#                                             referral ids (median of 5); the referrer KPIs (activity,
#                                             attention) are evaluated every --referrer-refresh-interval
#                                             (10 refreshes: 5 minutes) and served in between, not in these
#   kpi_refresh_seconds_10m             s     the same over 10 M stored events (10 years at the same
#                                             daily rate), sequential ids
#   kpi_refresh_seconds_10m_random_ids  s     the same 10 M events with random (UUID) referral ids,
#                                             which do not sort by creation time
#   kpi_full_refresh_seconds_{1m,10m,10m_random_ids}
#                                       s     the refresh that also evaluates the referrer KPIs
#   kpi_rows_read_1m                    rows  rows a full refresh reads (system.query_log read_rows), 1 M
#   kpi_rows_read_10m                   rows  the same, 10 M, sequential ids
#   kpi_rows_read_10m_random_ids        rows  the same, 10 M, random ids
#   kpi_state_pass_seconds_{1m,10m,10m_random_ids}
#                                       s     the first KPI state pass over the loaded events (migration
#                                             0018, 0019): what the ingesters' passes cost the server for that
#                                             history, written in one go
#   kpi_rows_read_growth                ratio kpi_rows_read_10m / kpi_rows_read_1m (10x the history)
#   kpi_rows_read_growth_random_ids     ratio kpi_rows_read_10m_random_ids / kpi_rows_read_1m
#   exporter_scrape_seconds             s     GET /metrics of an exporter serving 12 service lines x
#                                             20 locations
# stderr: progress.
#
# The refresh figures come from TestRefreshFigures (metrics/kpi/bench_test.go),
# which loads the three datasets through the migrations' views into fresh
# databases on the local server, merges every table down to one part per
# partition (checked in system.parts and system.merges, since 18.16's OPTIMIZE
# FINAL can silently do nothing) and drops them afterwards; the scrape figure
# from BenchmarkScrape (metrics/bench_test.go). Targets (issue #13): refresh
# < 1 s at 10 M events for both id formats; rows read growing < 1.5x when
# history grows 10x, for both; scrape < 20 ms.
#
# Environment:
#   KPI_BENCH_EVENTS  events of the smaller dataset (default 1000000, at least 10000)
#   KPI_BENCH_SCALE   the larger datasets hold this many times more, over as many
#                     times the days (default 10); smaller only to check the script
#                     quickly (the figures keep their _10m names)
#   KPI_BENCH_TIMEOUT go test -timeout (default 120m)
#   GO                the go command (default go)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/../.."
GO="${GO:-go}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log() { printf 'bench-kpi.sh: %s\n' "$*" >&2; }
export LC_ALL=C

events="${KPI_BENCH_EVENTS:-1000000}"
scale="${KPI_BENCH_SCALE:-10}"
[[ $events =~ ^[1-9][0-9]*$ && $scale =~ ^[1-9][0-9]*$ ]] || {
	log "ERROR: KPI_BENCH_EVENTS and KPI_BENCH_SCALE must be positive integers"
	exit 2
}

started=$SECONDS
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
log "loading $events events (sequential ids) and $((events * scale)) twice (sequential, random ids) into fresh databases and timing the exporter's refresh (takes many minutes at full size)"
REFERRALOPS_KPI_BENCH=1 REFERRALOPS_KPI_BENCH_EVENTS="$events" REFERRALOPS_KPI_BENCH_SCALE="$scale" \
	REFERRALOPS_KPI_BENCH_OUT="$work/kpi.txt" \
	"$GO" test ./metrics/kpi -count=1 -run '^TestRefreshFigures$' -v -timeout "${KPI_BENCH_TIMEOUT:-120m}" >"$work/kpi.log" 2>&1 || {
	cat "$work/kpi.log" >&2
	log "ERROR: TestRefreshFigures failed"
	exit 1
}
grep -E '^\s+bench_test.go:[0-9]+: (1m|10m|10m_random_ids):' "$work/kpi.log" | sed 's/^\s*/# /' || true

log "running BenchmarkScrape"
"$GO" test ./metrics -count=1 -run '^$' -bench '^BenchmarkScrape$' -benchtime 200x >"$work/scrape.txt" 2>&1 || {
	cat "$work/scrape.txt" >&2
	log "ERROR: BenchmarkScrape failed"
	exit 1
}
# BenchmarkScrape-2   200   18734512 ns/op   ...
scrape="$(awk '$1 ~ /^BenchmarkScrape/ { for (i = 2; i <= NF; i++) if ($i == "ns/op") { printf "%.4f", $(i - 1) / 1e9; found = 1; exit } }
	END { if (!found) exit 1 }' "$work/scrape.txt")" || {
	cat "$work/scrape.txt" >&2
	log "ERROR: no ns/op in the BenchmarkScrape output"
	exit 1
}

value() { awk -v n="$1" '$1 == n { print $2 }' "$work/kpi.txt"; }
verdict() { awk -v a="$1" -v b="$2" 'BEGIN { print ((a + 0) < (b + 0)) ? "met" : "MISSED" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
growth="$(ratio "$(value kpi_rows_read_1m)" "$(value kpi_rows_read_10m)")"
growth_random="$(ratio "$(value kpi_rows_read_1m)" "$(value kpi_rows_read_10m_random_ids)")"
size_note=""
((scale == 10 && events == 1000000)) || size_note=" (NOT the issue's sizes: KPI_BENCH_EVENTS=$events KPI_BENCH_SCALE=$scale, the _10m figures are $((events * scale)) events)"
cat <<EOT
# referralops KPI bench: $(nproc) cores, load average $load_start at start and $(cut -d' ' -f1-3 /proc/loadavg) at the end, ClickHouse $(clickhouse-client --query 'SELECT version()' 2>/dev/null || echo '?'), script time $((SECONDS - started))s$size_note
# targets: refresh at 10M < 1 s $(verdict "$(value kpi_refresh_seconds_10m)" 1); with random ids < 1 s $(verdict "$(value kpi_refresh_seconds_10m_random_ids)" 1); rows read growth ${growth}x < 1.5x $(verdict "$growth" 1.5); with random ids ${growth_random}x < 1.5x $(verdict "$growth_random" 1.5); scrape < 0.020 s $(verdict "$scrape" 0.020)
$(cat "$work/kpi.txt")
kpi_rows_read_growth $growth ratio
kpi_rows_read_growth_random_ids $growth_random ratio
exporter_scrape_seconds $scrape s
EOT
