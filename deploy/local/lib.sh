# shellcheck shell=bash
# lib.sh: helpers shared by clickhouse.sh and kafka.sh. Source it; do not run it.
#
# Every server these scripts start is a plain background process with a pid file
# and a log file under the project data directory, so that the scripts never
# depend on systemd (absent in CI) and never touch the system-wide instances.

# LIB_DIR is the directory of this file (deploy/local); REPO_ROOT the checkout.
LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$LIB_DIR/../.." && pwd)"
# DATA_ROOT holds the data, logs and caches of every local server.
DATA_ROOT="${REFERRALOPS_DATA_DIR:-$REPO_ROOT/.data}"
export LIB_DIR REPO_ROOT DATA_ROOT

# SCRIPT_NAME prefixes every message, so interleaved output of services.sh stays readable.
SCRIPT_NAME="${SCRIPT_NAME:-$(basename "$0")}"

log() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() {
	printf '%s: ERROR: %s\n' "$SCRIPT_NAME" "$*" >&2
	exit 1
}

# now_s prints seconds since the epoch (bash builtin, no fork).
now_s() { printf '%(%s)T' -1; }

# xml_escape VALUE prints VALUE safe for XML text content.
xml_escape() {
	local s=$1
	s=${s//&/&amp;}
	s=${s//</&lt;}
	s=${s//>/&gt;}
	printf '%s' "$s"
}

# render_template SRC DST NAME=VALUE... copies SRC to DST, replacing each
# @@NAME@@ with VALUE. Pure bash, so values need no sed escaping. Fails when a
# placeholder is left over, which catches a template/script mismatch early.
render_template() {
	local src=$1 dst=$2 content pair name value
	shift 2
	content="$(<"$src")"
	for pair in "$@"; do
		name=${pair%%=*}
		value=${pair#*=}
		# Quoted replacement: bash 5.2 would otherwise expand '&' to the match.
		content=${content//"@@${name}@@"/"$value"}
	done
	if [[ $content == *@@*@@* ]]; then
		die "template $src has placeholders left after rendering: $(grep -o '@@[A-Z0-9_]*@@' <<<"$content" | sort -u | tr '\n' ' ')"
	fi
	# Write atomically: a server that reloads its config never sees half a file.
	printf '%s\n' "$content" >"$dst.tmp"
	mv -f "$dst.tmp" "$dst"
}

# ensure_packages PKG... installs the Debian packages that are not installed.
# 'apt-get update' runs only when an install fails (package lists absent or stale),
# so a machine that already has everything never touches the network.
ensure_packages() {
	local missing=() pkg
	for pkg in "$@"; do
		if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]]; then
			missing+=("$pkg")
		fi
	done
	((${#missing[@]} == 0)) && return 0
	[[ $EUID -eq 0 ]] || die "missing Debian packages: ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root"
	log "installing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
		log "apt-get install failed; running apt-get update first"
		apt-get update -q >/dev/null || die "apt-get update failed"
		apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
			die "apt-get install ${missing[*]} failed"
	fi
}

# pid_alive PIDFILE MARKER succeeds when PIDFILE names a live process whose
# command line contains MARKER. MARKER guards against a recycled pid: we must
# never signal a process that these scripts did not start.
pid_alive() {
	local pidfile=$1 marker=$2 pid cmdline
	[[ -s $pidfile ]] || return 1
	pid="$(<"$pidfile")"
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ -r /proc/$pid/cmdline ]] || return 1
	cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
	[[ $cmdline == *"$marker"* ]]
}

# start_daemon PIDFILE OUTFILE CMD... starts CMD detached (own session, stdin
# from /dev/null, stdout/stderr appended to OUTFILE) and records its pid.
# The inner shell writes its own pid and then execs, so the pid is exact even
# if setsid has to fork.
start_daemon() {
	local pidfile=$1 outfile=$2
	shift 2
	rm -f "$pidfile"
	# A header per start; the leading newline ends a last line left unterminated.
	printf '\n=== %(%Y-%m-%dT%H:%M:%SZ)T started: %s\n' -1 "$*" >>"$outfile"
	# shellcheck disable=SC2016 # $$ and $1 are expanded by the inner shell.
	setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' start_daemon "$pidfile" "$@" \
		</dev/null >>"$outfile" 2>&1 &
	# Wait (briefly) for the pid file so callers can rely on it.
	local i
	for ((i = 0; i < 50; i++)); do
		[[ -s $pidfile ]] && return 0
		sleep 0.1
	done
	die "process did not write its pid file $pidfile"
}

# stop_daemon NAME PIDFILE MARKER TIMEOUT sends SIGTERM, waits up to TIMEOUT
# seconds for a graceful exit, then SIGKILLs. A no-op when not running.
stop_daemon() {
	local name=$1 pidfile=$2 marker=$3 timeout=$4 pid deadline
	if ! pid_alive "$pidfile" "$marker"; then
		log "$name is not running"
		rm -f "$pidfile"
		return 0
	fi
	pid="$(<"$pidfile")"
	log "stopping $name (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$(($(now_s) + timeout))
	while kill -0 "$pid" 2>/dev/null; do
		if (($(now_s) >= deadline)); then
			log "$name did not exit within ${timeout}s; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			sleep 1
			break
		fi
		sleep 0.2
	done
	rm -f "$pidfile"
	log "$name stopped"
}

# wait_until DEADLINE_S PIDFILE MARKER CHECK... runs CHECK until it succeeds.
# Fails fast when the server process has died, and when DEADLINE_S passes.
wait_until() {
	local timeout=$1 pidfile=$2 marker=$3 deadline
	shift 3
	deadline=$(($(now_s) + timeout))
	until "$@" >/dev/null 2>&1; do
		pid_alive "$pidfile" "$marker" || return 2
		(($(now_s) < deadline)) || return 1
		sleep 0.5
	done
}

# file_size FILE prints FILE's size in bytes, 0 when it does not exist.
file_size() {
	if [[ -f $1 ]]; then stat -c %s "$1"; else echo 0; fi
}

# show_log LABEL FILE OFFSET LINES prints the last LINES lines that FILE got after
# byte OFFSET (its size before this start), so that a failed start shows its own
# output and not an older run's.
show_log() {
	local label=$1 file=$2 offset=$3 lines=$4
	[[ -f $file ]] || return 0
	# A log rotated meanwhile is smaller than the offset: show its tail instead.
	(($(file_size "$file") >= offset)) || offset=0
	log "$label ($file), last lines of this start:"
	tail -c +"$((offset + 1))" "$file" | tail -n "$lines" | sed 's/^/    /' >&2
}

# check_port NAME VALUE fails unless VALUE is a TCP port number. (ClickHouse
# 18.16 silently takes a port modulo 65536, so 99999 would "work" on 34463.)
check_port() {
	if ! [[ $2 =~ ^[0-9]+$ ]] || (($2 < 1 || $2 > 65535)); then
		die "$1=$2 is not a TCP port (1-65535)"
	fi
}

# port_in_use PORT succeeds when something listens on 127.0.0.1:PORT (or any address).
port_in_use() {
	# bash's /dev/tcp: no dependency on ss/netstat being installed.
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# service_status NAME ADDRESS PID_FILE MARKER: report whether the service
# answers (the caller's `answers` function) and whether this script started
# it; exit 0 when it answers.
service_status() {
	local name="$1" address="$2" pid_file="$3" marker="$4"
	if answers; then
		local owner="not started by this script"
		pid_alive "$pid_file" "$marker" && owner="pid $(<"$pid_file")"
		echo "$name: up at $address ($owner)"
		return 0
	fi
	echo "$name: down (nothing answers on $address)"
	return 1
}

# kafka_tool LIBS_DIR CLASS ARGS... runs a Kafka command-line tool from the
# broker jars in LIBS_DIR. C1-only JIT and the serial GC: these JVMs live for a
# second or two, and those flags cut their run time by almost half.
kafka_tool() {
	local libs="$1"
	shift
	java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$LIB_DIR/kafka/tools-log4j2.properties" \
		-cp "$libs/*" "$@"
}
