#!/usr/bin/env bash
# clickhouse.sh up|down|status: a local ClickHouse server (Debian's 18.16 package)
# with its own config and all its files under $REFERRALOPS_DATA_DIR/clickhouse
# (default <repo>/.data/clickhouse). It never uses /etc/clickhouse-server or
# /var/lib/clickhouse, and never starts the system service.
#
#   up      install the packages if missing, render the config, start the server
#           in the background and wait until it answers. A no-op when running.
#   down    stop the server started by 'up' (SIGTERM, then SIGKILL after 60s).
#   status  exit 0 when the server answers a query, 1 otherwise.
#
# Environment:
#   REFERRALOPS_DATA_DIR           data root (default <repo>/.data)
#   CLICKHOUSE_TCP_PORT            native protocol port (default 9000)
#   CLICKHOUSE_HTTP_PORT           HTTP port (default 8123)
#   CLICKHOUSE_TCP_PORT_SECURE     native protocol over TLS (conventionally 9440; default: off),
#                                  with the PEM files CLICKHOUSE_TLS_CERT_FILE and
#                                  CLICKHOUSE_TLS_KEY_FILE (both required), and optionally
#                                  CLICKHOUSE_TLS_CA_FILE: clients then need a certificate it signed
#   CLICKHOUSE_EXPORTER_PASSWORD   password of referralops_exporter (dev default)
#   CLICKHOUSE_GRAFANA_PASSWORD    password of referralops_grafana (dev default)
#   CLICKHOUSE_ANALYST_PASSWORD    password of referralops_analyst (dev default)
#   CLICKHOUSE_WRITER_PASSWORD     password of referralops_writer, the ingester (dev default)
#   CLICKHOUSE_MIGRATOR_PASSWORD   password of referralops_migrator, `migrate` (dev default)
#   CLICKHOUSE_DATABASE            the database readers may read (default referralops); the
#                                  writer and migrator also get its PHI database, <name>_phi
#   CLICKHOUSE_GRAFANA_MAX_RESULT_ROWS  result row limit of the grafana profile (default 100000)
#   CLICKHOUSE_START_TIMEOUT       seconds to wait for the server to answer (default 60)
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TCP_PORT="${CLICKHOUSE_TCP_PORT:-9000}"
HTTP_PORT="${CLICKHOUSE_HTTP_PORT:-8123}"
TCP_PORT_SECURE="${CLICKHOUSE_TCP_PORT_SECURE:-}"
START_TIMEOUT="${CLICKHOUSE_START_TIMEOUT:-60}"
CH_DIR="$DATA_ROOT/clickhouse"
ETC_DIR="$CH_DIR/etc"
PID_FILE="$CH_DIR/clickhouse-server.pid"
OUT_FILE="$CH_DIR/log/stdout.log"
SERVER_LOG="$CH_DIR/log/clickhouse-server.log"
ERR_LOG="$CH_DIR/log/clickhouse-server.err.log"
# The config path is in the server's command line: it tells our server apart
# from any other clickhouse-server on the machine (pid_alive's marker).
CONFIG_FILE="$ETC_DIR/config.xml"

check_port CLICKHOUSE_TCP_PORT "$TCP_PORT"
check_port CLICKHOUSE_HTTP_PORT "$HTTP_PORT"
if [[ -n $TCP_PORT_SECURE ]]; then
	check_port CLICKHOUSE_TCP_PORT_SECURE "$TCP_PORT_SECURE"
	for setting in CLICKHOUSE_TLS_CERT_FILE CLICKHOUSE_TLS_KEY_FILE; do
		[[ -n ${!setting:-} && -r ${!setting} ]] || die "CLICKHOUSE_TCP_PORT_SECURE needs $setting, a readable PEM file"
	done
	[[ -z ${CLICKHOUSE_TLS_CA_FILE:-} || -r $CLICKHOUSE_TLS_CA_FILE ]] || die "CLICKHOUSE_TLS_CA_FILE=$CLICKHOUSE_TLS_CA_FILE is not readable"
fi

usage() {
	echo "usage: $0 up|down|status" >&2
	exit 2
}

# answers: the server replies to a trivial query on the native port.
answers() {
	clickhouse-client --host 127.0.0.1 --port "$TCP_PORT" --query 'SELECT 1' >/dev/null 2>&1
}

sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

render_config() {
	mkdir -p "$ETC_DIR" "$CH_DIR/data" "$CH_DIR/tmp" "$CH_DIR/log" \
		"$CH_DIR/user_files" "$CH_DIR/format_schemas"
	local dir
	dir="$(xml_escape "$CH_DIR")"
	render_template "$LIB_DIR/clickhouse/config.xml.tmpl" "$CONFIG_FILE" \
		"CH_DIR=$dir" "TCP_PORT=$TCP_PORT" "HTTP_PORT=$HTTP_PORT"
	# The server merges config.d/*.xml into config.xml.
	mkdir -p "$ETC_DIR/config.d"
	rm -f "$ETC_DIR/config.d/tls.xml"
	if [[ -n $TCP_PORT_SECURE ]]; then
		local mode=none
		[[ -z ${CLICKHOUSE_TLS_CA_FILE:-} ]] || mode=strict
		render_template "$LIB_DIR/clickhouse/tls.xml.tmpl" "$ETC_DIR/config.d/tls.xml" \
			"TCP_PORT_SECURE=$TCP_PORT_SECURE" "VERIFICATION_MODE=$mode" \
			"CERT_FILE=$(xml_escape "$CLICKHOUSE_TLS_CERT_FILE")" "KEY_FILE=$(xml_escape "$CLICKHOUSE_TLS_KEY_FILE")" \
			"CA_FILE=$(xml_escape "${CLICKHOUSE_TLS_CA_FILE:-}")"
	fi
	# Dev-default passwords: loopback-only users on a developer's machine.
	# The PHI database's name is schema.PHIDatabase's (the suffix _phi).
	local database=${CLICKHOUSE_DATABASE:-referralops}
	[[ $database =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "CLICKHOUSE_DATABASE: $database is not a plain identifier"
	render_template "$LIB_DIR/clickhouse/users.xml.tmpl" "$ETC_DIR/users.xml" \
		"EXPORTER_PASSWORD_SHA256=$(sha256 "${CLICKHOUSE_EXPORTER_PASSWORD:-exporter-dev}")" \
		"GRAFANA_PASSWORD_SHA256=$(sha256 "${CLICKHOUSE_GRAFANA_PASSWORD:-grafana-dev}")" \
		"ANALYST_PASSWORD_SHA256=$(sha256 "${CLICKHOUSE_ANALYST_PASSWORD:-analyst-dev}")" \
		"WRITER_PASSWORD_SHA256=$(sha256 "${CLICKHOUSE_WRITER_PASSWORD:-writer-dev}")" \
		"MIGRATOR_PASSWORD_SHA256=$(sha256 "${CLICKHOUSE_MIGRATOR_PASSWORD:-migrator-dev}")" \
		"DATABASE=$database" "PHI_DATABASE=${database}_phi" \
		"GRAFANA_MAX_RESULT_ROWS=${CLICKHOUSE_GRAFANA_MAX_RESULT_ROWS:-100000}"
	# Running as root is fine for 18.16 (it has no "owner of the data directory"
	# check, which newer releases have): the directories are created by, and so
	# owned by, whoever runs this script, which is the user the server runs as.
}

# Log sizes before this start: fail_start shows only what this start wrote.
err_offset=0
out_offset=0

fail_start() {
	log "$1"
	show_log "error log" "$ERR_LOG" "$err_offset" 30
	show_log "stdout/stderr" "$OUT_FILE" "$out_offset" 10
	exit 1
}

cmd_up() {
	if pid_alive "$PID_FILE" "$CONFIG_FILE"; then
		if answers; then
			log "already running (pid $(<"$PID_FILE"))"
			echo "clickhouse: up at 127.0.0.1:$TCP_PORT (native), http://127.0.0.1:$HTTP_PORT (HTTP); data $CH_DIR"
			return 0
		fi
		# Ours, but maybe started with other ports: waiting would be pointless.
		local running_port
		running_port="$(sed -n 's:.*<tcp_port>\([0-9]*\)</tcp_port>.*:\1:p' "$CONFIG_FILE")"
		if [[ $running_port != "$TCP_PORT" ]]; then
			die "the clickhouse-server started by this script (pid $(<"$PID_FILE")) uses port $running_port, not $TCP_PORT; run '$0 down' first"
		fi
		# Started but not answering yet (e.g. a concurrent 'up'): just wait below.
		log "server process (pid $(<"$PID_FILE")) exists; waiting for it to answer"
	else
		ensure_packages clickhouse-server clickhouse-client
		for port in "$TCP_PORT" "$HTTP_PORT" ${TCP_PORT_SECURE:+"$TCP_PORT_SECURE"}; do
			if port_in_use "$port"; then
				die "port $port on 127.0.0.1 is already used by another process (not ours: no live pid in $PID_FILE); stop it (on a machine with systemd, installing the package may have started the system service: systemctl disable --now clickhouse-server) or set CLICKHOUSE_TCP_PORT/CLICKHOUSE_HTTP_PORT"
			fi
		done
		render_config
		err_offset=$(file_size "$ERR_LOG")
		out_offset=$(file_size "$OUT_FILE")
		log "starting clickhouse-server (config $CONFIG_FILE)"
		start_daemon "$PID_FILE" "$OUT_FILE" clickhouse-server --config-file="$CONFIG_FILE"
	fi

	local rc=0
	wait_until "$START_TIMEOUT" "$PID_FILE" "$CONFIG_FILE" answers || rc=$?
	case $rc in
	0) ;;
	2) fail_start "clickhouse-server exited during startup" ;;
	*) fail_start "clickhouse-server did not answer 'SELECT 1' on 127.0.0.1:$TCP_PORT within ${START_TIMEOUT}s (still running as pid $(<"$PID_FILE"); see $SERVER_LOG)" ;;
	esac
	log "up: $(clickhouse-client --host 127.0.0.1 --port "$TCP_PORT" --query 'SELECT version()') (pid $(<"$PID_FILE"))"
	echo "clickhouse: up at 127.0.0.1:$TCP_PORT (native), http://127.0.0.1:$HTTP_PORT (HTTP); data $CH_DIR"
}

cmd_down() {
	# 60s: a merge in progress can delay a graceful shutdown.
	stop_daemon clickhouse-server "$PID_FILE" "$CONFIG_FILE" 60
}

cmd_status() { service_status clickhouse "127.0.0.1:$TCP_PORT" "$PID_FILE" "$CONFIG_FILE"; }

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
*) usage ;;
esac
