#!/usr/bin/env bash
# services.sh up|down|status: the local servers the end-to-end tests and the demo
# need, i.e. ClickHouse (clickhouse.sh) and Kafka (kafka.sh). Safe to run twice.
# Prometheus and Alertmanager (prometheus.sh) are installed, not started: the
# tests start their own on free ports; `prometheus.sh up` starts the local pair.
#
#   up      install prometheus/promtool/alertmanager if missing, and the report
#           tests' renderers (Debian chromium, poppler-utils) if missing, then
#           clickhouse, then kafka; stops at the first failure (non-zero exit).
#   down    Prometheus and Alertmanager if prometheus.sh started them, kafka,
#           clickhouse; stops whatever is running, exit non-zero only if
#           stopping one of them failed.
#   status  one line per service; exit 0 only if clickhouse and kafka answer
#           (Prometheus' lines are for information: it is started on demand).
#
# Each script's environment variables apply (see their headers): e.g.
# REFERRALOPS_DATA_DIR, CLICKHOUSE_TCP_PORT, KAFKA_PORT.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

usage() {
	echo "usage: $0 up|down|status" >&2
	exit 2
}

# install_report_tools: headless Chromium renders the report's HTML and poppler
# (pdftoppm, pdftotext) its PDF in the report tests (package report); the
# report itself needs neither.
install_report_tools() {
	command -v chromium >/dev/null && command -v pdftoppm >/dev/null && command -v pdftotext >/dev/null && return 0
	local sudo=""
	((EUID == 0)) || sudo="sudo"
	$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium poppler-utils
}

cmd_up() {
	install_report_tools || {
		echo "services.sh: ERROR: installing chromium and poppler-utils failed (see above)" >&2
		exit 1
	}
	"$here/prometheus.sh" install || {
		echo "services.sh: ERROR: installing prometheus and alertmanager failed (see above)" >&2
		exit 1
	}
	"$here/clickhouse.sh" up || {
		echo "services.sh: ERROR: clickhouse failed to start (see above)" >&2
		exit 1
	}
	"$here/kafka.sh" up || {
		echo "services.sh: ERROR: kafka failed to start (see above); clickhouse is left running" >&2
		exit 1
	}
}

cmd_down() {
	local rc=0
	"$here/prometheus.sh" down || rc=1
	"$here/kafka.sh" down || rc=1
	"$here/clickhouse.sh" down || rc=1
	((rc == 0)) || echo "services.sh: ERROR: stopping a service failed (see above)" >&2
	return "$rc"
}

cmd_status() {
	local rc=0
	"$here/clickhouse.sh" status || rc=1
	"$here/kafka.sh" status || rc=1
	"$here/prometheus.sh" status || true
	return "$rc"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
*) usage ;;
esac
