#!/usr/bin/env bash
# bench-kpi.sh: the KPI and exporter figures of issue #3. `make bench` runs it
# after bench.sh, with the local ClickHouse 18.16 server up (services-up).
#
# stdout: '#' context lines, then one `name value unit` line per figure:
#   kpi_refresh_seconds_1m    s     one 30-day KPI snapshot refresh over 1 M stored events (median of 5)
#   kpi_refresh_seconds_10m   s     the same over 10 M stored events (10 years at the same daily rate)
#   kpi_rows_read_1m          rows  rows one refresh reads (system.query_log read_rows), 1 M events
#   kpi_rows_read_10m         rows  the same, 10 M events
#   exporter_scrape_seconds   s     GET /metrics of an exporter serving 12 service lines x 20 locations
# stderr: progress.
#
# The refresh figures come from TestRefreshFigures (metrics/kpi/bench_test.go),
# which loads both datasets through the migrations' views into fresh databases
# on the local server and drops them afterwards; the scrape figure from
# BenchmarkScrape (metrics/bench_test.go). Targets: refresh < 1 s at 10 M
# events; rows read growing < 1.5x when history grows 10x; scrape < 20 ms.
# KPI_BENCH_EVENTS (default 1000000) scales the smaller dataset.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/../.."
GO="${GO:-go}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
log() { printf 'bench-kpi.sh: %s\n' "$*" >&2; }

started=$SECONDS
log "loading 1 M and 10 M events into fresh databases and timing the KPI refresh (takes several minutes)"
REFERRALOPS_KPI_BENCH=1 REFERRALOPS_KPI_BENCH_EVENTS="${KPI_BENCH_EVENTS:-1000000}" REFERRALOPS_KPI_BENCH_OUT="$work/kpi.txt" \
	"$GO" test ./metrics/kpi -count=1 -run '^TestRefreshFigures$' -v -timeout 90m >"$work/kpi.log" 2>&1 || {
	cat "$work/kpi.log" >&2
	log "ERROR: TestRefreshFigures failed"
	exit 1
}
grep -E '^\s+bench_test.go:[0-9]+: (1m|10m):' "$work/kpi.log" | sed 's/^\s*/# /' || true

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
growth="$(awk -v a="$(value kpi_rows_read_1m)" -v b="$(value kpi_rows_read_10m)" 'BEGIN { printf "%.2f", b / a }')"
cat <<EOT
# referralops KPI bench: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), ClickHouse $(clickhouse-client --query 'SELECT version()' 2>/dev/null || echo '?'), script time $((SECONDS - started))s
# targets: refresh at 10 M < 1 s $(verdict "$(value kpi_refresh_seconds_10m)" 1); rows read growth ${growth}x < 1.5x $(verdict "$growth" 1.5); scrape < 0.020 s $(verdict "$scrape" 0.020)
$(cat "$work/kpi.txt")
exporter_scrape_seconds $scrape s
EOT
