#!/usr/bin/env bash
# prometheus.sh install|up|down|status|reload: a local Prometheus (Debian's
# `prometheus` package) scraping the referralops exporter and ingester, with the
# rules of deploy/prometheus/rules, alerting to a local Alertmanager (Debian's
# `prometheus-alertmanager`). Both bind 127.0.0.1 only and keep every file under
# $REFERRALOPS_DATA_DIR/prometheus (default <repo>/.data/prometheus):
#   etc/            prometheus.yml (rendered from deploy/local/prometheus/), and
#                   alertmanager.yml when deploy/alertmanager/alertmanager.yml is absent
#   data/           Prometheus' TSDB          alertmanager/  silences, notification log
#   log/            prometheus.log, alertmanager.log (stdout/stderr)
#   prometheus.pid, alertmanager.pid
# The binaries run with our own flags: /etc/default/prometheus, /etc/prometheus
# and the system services are never used.
#
#   install  install the Debian packages if missing (prometheus, promtool,
#            prometheus-alertmanager, amtool); starts nothing.
#   up       install, render and check the configs (promtool, amtool), start
#            Alertmanager then Prometheus in the background and wait for /-/ready.
#            When already running: re-render, re-check and reload both, so new or
#            changed rule files are picked up.
#   reload   re-render, check and reload the running servers.
#   down     stop Prometheus, then Alertmanager (SIGTERM, SIGKILL after 30s).
#   status   one line per server, scrape target health and firing alerts;
#            exit 0 when both answer /-/ready.
#
# Environment:
#   REFERRALOPS_DATA_DIR              data root (default <repo>/.data)
#   PROMETHEUS_PORT                   Prometheus HTTP port (default 9090)
#   ALERTMANAGER_PORT                 Alertmanager HTTP port (default 9093)
#   PROMETHEUS_SCRAPE_INTERVAL        default 15s
#   PROMETHEUS_EVALUATION_INTERVAL    rule evaluation interval (default 15s)
#   PROMETHEUS_EXPORT_TARGET          `referralops export` (default 127.0.0.1:9464)
#   PROMETHEUS_INGEST_TARGET          `referralops ingest` (default 127.0.0.1:9465)
#   PROMETHEUS_RETENTION              TSDB retention time (default 15d)
#   PROMETHEUS_SCRAPE_CA_FILE         scrape both targets over HTTPS, trusting this PEM CA
#                                     (targets run with --web.config.file; default: plain HTTP)
#   PROMETHEUS_SCRAPE_USERNAME        with the above: basic auth user of the scrapes
#   PROMETHEUS_SCRAPE_PASSWORD_FILE   with the above: file holding that user's password
#   ALERTMANAGER_CONFIG               Alertmanager config (default
#                                     deploy/alertmanager/alertmanager.yml if it
#                                     exists, else deploy/local/prometheus/alertmanager.yml)
#   PROMETHEUS_START_TIMEOUT          seconds to wait for /-/ready (default 60)
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROM_PORT="${PROMETHEUS_PORT:-9090}"
AM_PORT="${ALERTMANAGER_PORT:-9093}"
SCRAPE_INTERVAL="${PROMETHEUS_SCRAPE_INTERVAL:-15s}"
EVALUATION_INTERVAL="${PROMETHEUS_EVALUATION_INTERVAL:-15s}"
EXPORT_TARGET="${PROMETHEUS_EXPORT_TARGET:-127.0.0.1:9464}"
INGEST_TARGET="${PROMETHEUS_INGEST_TARGET:-127.0.0.1:9465}"
RETENTION="${PROMETHEUS_RETENTION:-15d}"
SCRAPE_CA_FILE="${PROMETHEUS_SCRAPE_CA_FILE:-}"
SCRAPE_USERNAME="${PROMETHEUS_SCRAPE_USERNAME:-}"
SCRAPE_PASSWORD_FILE="${PROMETHEUS_SCRAPE_PASSWORD_FILE:-}"
START_TIMEOUT="${PROMETHEUS_START_TIMEOUT:-60}"

PROM_DIR="$DATA_ROOT/prometheus"
ETC_DIR="$PROM_DIR/etc"
TSDB_DIR="$PROM_DIR/data"
AM_DATA_DIR="$PROM_DIR/alertmanager"
LOG_DIR="$PROM_DIR/log"
PROM_CONFIG="$ETC_DIR/prometheus.yml"
PROM_PID="$PROM_DIR/prometheus.pid"
AM_PID="$PROM_DIR/alertmanager.pid"
PROM_OUT="$LOG_DIR/prometheus.log"
AM_OUT="$LOG_DIR/alertmanager.log"
RULES_GLOB="$REPO_ROOT/deploy/prometheus/rules/*.yml"
if [[ -n ${ALERTMANAGER_CONFIG:-} ]]; then
	AM_CONFIG="$ALERTMANAGER_CONFIG"
elif [[ -f "$REPO_ROOT/deploy/alertmanager/alertmanager.yml" ]]; then
	AM_CONFIG="$REPO_ROOT/deploy/alertmanager/alertmanager.yml"
else
	AM_CONFIG="$LIB_DIR/prometheus/alertmanager.yml"
fi
PROM_URL="http://127.0.0.1:$PROM_PORT"
AM_URL="http://127.0.0.1:$AM_PORT"
# The storage paths are in the command lines: they tell our servers apart from
# any other Prometheus or Alertmanager on the machine (pid_alive's markers).
# pid_alive joins the arguments with spaces: the trailing space makes a marker
# match one whole argument, not a prefix of a longer path.
PROM_STORAGE_FLAG="--storage.tsdb.path=$TSDB_DIR"
AM_STORAGE_FLAG="--storage.path=$AM_DATA_DIR"
PROM_MARKER="$PROM_STORAGE_FLAG "
AM_MARKER="$AM_STORAGE_FLAG "

check_port PROMETHEUS_PORT "$PROM_PORT"
check_port ALERTMANAGER_PORT "$AM_PORT"
[[ $PROM_PORT != "$AM_PORT" ]] || die "PROMETHEUS_PORT and ALERTMANAGER_PORT are both $PROM_PORT"
[[ $START_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "PROMETHEUS_START_TIMEOUT=$START_TIMEOUT is not a positive number of seconds"
for setting in PROMETHEUS_EXPORT_TARGET:"$EXPORT_TARGET" PROMETHEUS_INGEST_TARGET:"$INGEST_TARGET"; do
	name=${setting%%:*} value=${setting#*:}
	[[ $value =~ ^[A-Za-z0-9._-]+:[0-9]+$ || $value =~ ^\[[0-9A-Fa-f:]+\]:[0-9]+$ ]] ||
		die "$name=$value is not host:port"
done
# Quoted into YAML strings by the template: keep them free of quotes and backslashes.
[[ $RULES_GLOB != *[\"\\]* ]] || die "the repository path $REPO_ROOT contains a quote or backslash"
for value in "$SCRAPE_CA_FILE" "$SCRAPE_USERNAME" "$SCRAPE_PASSWORD_FILE"; do
	[[ $value != *[\"\\]* ]] || die "PROMETHEUS_SCRAPE_* settings must not contain quotes or backslashes"
done
if [[ -z $SCRAPE_CA_FILE && -n $SCRAPE_USERNAME$SCRAPE_PASSWORD_FILE ]]; then
	die "PROMETHEUS_SCRAPE_USERNAME and PROMETHEUS_SCRAPE_PASSWORD_FILE need PROMETHEUS_SCRAPE_CA_FILE: basic auth over plain HTTP would send the password in clear"
fi
if [[ -n $SCRAPE_USERNAME && -z $SCRAPE_PASSWORD_FILE || -z $SCRAPE_USERNAME && -n $SCRAPE_PASSWORD_FILE ]]; then
	die "set both PROMETHEUS_SCRAPE_USERNAME and PROMETHEUS_SCRAPE_PASSWORD_FILE, or neither"
fi

usage() {
	echo "usage: $0 install|up|down|status|reload" >&2
	exit 2
}

# ready PORT: the server on 127.0.0.1:PORT answers /-/ready with 200.
ready() { curl -fsS --max-time 2 "http://127.0.0.1:$1/-/ready" >/dev/null 2>&1; }

cmd_install() {
	ensure_packages prometheus prometheus-alertmanager
	command -v curl >/dev/null || ensure_packages curl
	local bin
	for bin in prometheus promtool prometheus-alertmanager amtool; do
		command -v "$bin" >/dev/null || die "$bin is not on PATH after installing the Debian packages"
	done
}

# render_and_check writes prometheus.yml and checks both configs (with their
# rule files and templates), so that a mistake is reported here, in words,
# rather than as a server that exits or refuses a reload.
# scrape_security prints the YAML lines that follow a job_name: HTTPS with
# the CA, and basic auth, when configured; nothing otherwise.
scrape_security() {
	[[ -n $SCRAPE_CA_FILE ]] || return 0
	printf '\n    scheme: https\n    tls_config:\n      ca_file: "%s"' "$SCRAPE_CA_FILE"
	if [[ -n $SCRAPE_USERNAME ]]; then
		printf '\n    basic_auth:\n      username: "%s"\n      password_file: "%s"' "$SCRAPE_USERNAME" "$SCRAPE_PASSWORD_FILE"
	fi
}

render_and_check() {
	mkdir -p "$ETC_DIR" "$TSDB_DIR" "$AM_DATA_DIR" "$LOG_DIR"
	render_template "$LIB_DIR/prometheus/prometheus.yml.tmpl" "$PROM_CONFIG" \
		"SCRAPE_SECURITY=$(scrape_security)" \
		"SCRAPE_INTERVAL=$SCRAPE_INTERVAL" "EVALUATION_INTERVAL=$EVALUATION_INTERVAL" \
		"RULES_GLOB=$RULES_GLOB" "ALERTMANAGER_PORT=$AM_PORT" \
		"EXPORT_TARGET=$EXPORT_TARGET" "INGEST_TARGET=$INGEST_TARGET"
	local out
	if ! out="$(promtool check config "$PROM_CONFIG" 2>&1)"; then
		printf '%s\n' "$out" | sed 's/^/    /' >&2
		die "promtool check config $PROM_CONFIG failed (rule files: $RULES_GLOB)"
	fi
	[[ -f $AM_CONFIG ]] || die "Alertmanager config $AM_CONFIG does not exist"
	if ! out="$(amtool check-config "$AM_CONFIG" 2>&1)"; then
		printf '%s\n' "$out" | sed 's/^/    /' >&2
		die "amtool check-config $AM_CONFIG failed"
	fi
}

# Log sizes before this start: fail_start shows only what this start wrote.
fail_start() {
	local msg=$1 label=$2 file=$3 offset=$4
	log "$msg"
	show_log "$label" "$file" "$offset" 30
	exit 1
}

# check_free NAME PORT PIDFILE dies when something else listens on PORT.
check_free() {
	local name=$1 port=$2 pidfile=$3
	if port_in_use "$port"; then
		die "port $port on 127.0.0.1 is already used by another process (not ours: no live pid in $pidfile); stop it (installing the Debian package may have started the system service: systemctl disable --now $name, or service $name stop) or set PROMETHEUS_PORT/ALERTMANAGER_PORT"
	fi
}

# start_server NAME PORT PIDFILE MARKER OUTFILE CMD... starts CMD unless ours
# already runs, and waits for /-/ready.
start_server() {
	local name=$1 port=$2 pidfile=$3 marker=$4 outfile=$5
	shift 5
	check_free "$name" "$port" "$pidfile"
	local offset rc=0
	offset=$(file_size "$outfile")
	log "starting $name on 127.0.0.1:$port"
	start_daemon "$pidfile" "$outfile" "$@"
	wait_until "$START_TIMEOUT" "$pidfile" "$marker" ready "$port" || rc=$?
	case $rc in
	0) ;;
	2) fail_start "$name exited during startup" "$name log" "$outfile" "$offset" ;;
	*) fail_start "$name did not answer http://127.0.0.1:$port/-/ready within ${START_TIMEOUT}s (still running as pid $(<"$pidfile"))" "$name log" "$outfile" "$offset" ;;
	esac
}

# reload_server NAME PORT asks a running server to re-read its config files.
reload_server() {
	local name=$1 port=$2 out
	if ! out="$(curl -sS --fail-with-body --max-time 30 -X POST "http://127.0.0.1:$port/-/reload" 2>&1)"; then
		printf '%s\n' "$out" | sed 's/^/    /' >&2
		die "$name refused to reload its configuration (see above and $LOG_DIR)"
	fi
	log "$name reloaded its configuration"
}

# running NAME PIDFILE MARKER PORT succeeds when our server runs on PORT, fails
# when it does not run, and dies when it runs on another port (waiting or
# reloading would then be pointless).
running() {
	local name=$1 pidfile=$2 marker=$3 port=$4
	pid_alive "$pidfile" "$marker" || return 1
	pid_alive "$pidfile" "--web.listen-address=127.0.0.1:$port " ||
		die "the $name started by this script (pid $(<"$pidfile")) does not listen on 127.0.0.1:$port; run '$0 down' first"
}

up_alertmanager() {
	if running alertmanager "$AM_PID" "$AM_MARKER" "$AM_PORT"; then
		if pid_alive "$AM_PID" "--config.file=$AM_CONFIG "; then
			ready "$AM_PORT" && reload_server alertmanager "$AM_PORT"
			local rc=0
			wait_until "$START_TIMEOUT" "$AM_PID" "$AM_MARKER" ready "$AM_PORT" || rc=$?
			((rc == 0)) || die "alertmanager (pid $(<"$AM_PID")) does not answer $AM_URL/-/ready"
			return 0
		fi
		# Another config file (e.g. deploy/alertmanager/alertmanager.yml appeared):
		# the path is a flag, so restart. Silences are kept in its storage.
		log "alertmanager runs with another config file; restarting it with $AM_CONFIG"
		stop_daemon alertmanager "$AM_PID" "$AM_MARKER" 30
	fi
	# --cluster.listen-address= (empty) turns off the gossip cluster, whose
	# default port 9094 is also the local Kafka controller's.
	start_server alertmanager "$AM_PORT" "$AM_PID" "$AM_MARKER" "$AM_OUT" \
		prometheus-alertmanager "--config.file=$AM_CONFIG" "$AM_STORAGE_FLAG" \
		"--web.listen-address=127.0.0.1:$AM_PORT" "--web.external-url=$AM_URL/" \
		--cluster.listen-address=
}

up_prometheus() {
	if running prometheus "$PROM_PID" "$PROM_MARKER" "$PROM_PORT"; then
		ready "$PROM_PORT" && reload_server prometheus "$PROM_PORT"
		local rc=0
		wait_until "$START_TIMEOUT" "$PROM_PID" "$PROM_MARKER" ready "$PROM_PORT" || rc=$?
		((rc == 0)) || die "prometheus (pid $(<"$PROM_PID")) does not answer $PROM_URL/-/ready"
		return 0
	fi
	# --web.enable-lifecycle: 'up' and 'reload' reload through /-/reload.
	start_server prometheus "$PROM_PORT" "$PROM_PID" "$PROM_MARKER" "$PROM_OUT" \
		prometheus "--config.file=$PROM_CONFIG" "$PROM_STORAGE_FLAG" \
		"--storage.tsdb.retention.time=$RETENTION" \
		"--web.listen-address=127.0.0.1:$PROM_PORT" "--web.external-url=$PROM_URL/" \
		--web.enable-lifecycle
}

rule_file_count() {
	local files=("$REPO_ROOT"/deploy/prometheus/rules/*.yml)
	if [[ -e ${files[0]} ]]; then echo "${#files[@]}"; else echo 0; fi
}

cmd_up() {
	cmd_install
	# Every check before anything starts or reloads: a failed 'up' changes nothing.
	running alertmanager "$AM_PID" "$AM_MARKER" "$AM_PORT" || check_free alertmanager "$AM_PORT" "$AM_PID"
	running prometheus "$PROM_PID" "$PROM_MARKER" "$PROM_PORT" || check_free prometheus "$PROM_PORT" "$PROM_PID"
	render_and_check
	up_alertmanager
	up_prometheus
	echo "prometheus: up at $PROM_URL (pid $(<"$PROM_PID"), $(rule_file_count) rule files from deploy/prometheus/rules, scraping $EXPORT_TARGET and $INGEST_TARGET); data $PROM_DIR"
	echo "alertmanager: up at $AM_URL (pid $(<"$AM_PID"), config $AM_CONFIG)"
}

cmd_reload() {
	command -v promtool >/dev/null || die "promtool is not installed; run '$0 install'"
	render_and_check
	running alertmanager "$AM_PID" "$AM_MARKER" "$AM_PORT" || die "alertmanager is not running; run '$0 up'"
	running prometheus "$PROM_PID" "$PROM_MARKER" "$PROM_PORT" || die "prometheus is not running; run '$0 up'"
	pid_alive "$AM_PID" "--config.file=$AM_CONFIG " ||
		die "alertmanager runs with another config file than $AM_CONFIG; run '$0 up' to restart it"
	reload_server alertmanager "$AM_PORT"
	reload_server prometheus "$PROM_PORT"
}

cmd_down() {
	local rc=0
	stop_daemon prometheus "$PROM_PID" "$PROM_MARKER" 30 || rc=1
	stop_daemon alertmanager "$AM_PID" "$AM_MARKER" 30 || rc=1
	return "$rc"
}

# status_line NAME URL PORT PIDFILE MARKER prints whether the server answers
# and whether this script started it.
status_line() {
	local name=$1 url=$2 port=$3 pidfile=$4 marker=$5 owner="not started by this script"
	if ready "$port"; then
		pid_alive "$pidfile" "$marker" && owner="pid $(<"$pidfile")"
		echo "$name: up at $url ($owner)"
		return 0
	fi
	echo "$name: down (nothing answers $url/-/ready)"
	return 1
}

cmd_status() {
	local rc=0
	if status_line prometheus "$PROM_URL" "$PROM_PORT" "$PROM_PID" "$PROM_MARKER"; then
		if command -v promtool >/dev/null; then
			# Informational: a target that is down (exporter not started) is not an error here.
			# (promtool prints an empty line for an empty result.)
			promtool query instant "$PROM_URL" 'up' 2>/dev/null | sed -n 's/^\(..*\)$/  target \1/p' || true
			promtool query instant "$PROM_URL" 'ALERTS{alertstate="firing"}' 2>/dev/null | sed -n 's/^\(..*\)$/  firing \1/p' || true
		fi
	else
		rc=1
	fi
	status_line alertmanager "$AM_URL" "$AM_PORT" "$AM_PID" "$AM_MARKER" || rc=1
	return "$rc"
}

case "${1:-}" in
install) cmd_install ;;
up) cmd_up ;;
reload) cmd_reload ;;
down) cmd_down ;;
status) cmd_status ;;
*) usage ;;
esac
