# tests/lib/daemon.sh - start and stop a real dvmilter for a test (sourced).
#
# Needs $top_builddir (set by make check). Every daemon runs under
# timeout(1) as well as the EXIT trap, so nothing a test starts outlives it.

: "${top_builddir:?run through make check}"
DVMILTER="$top_builddir/dvmilter"
DVMILTERCTL="$top_builddir/dvmilterctl"
DV_TIMEOUT=${DV_TIMEOUT:-600}
_dv_cleanup_dirs=""
DV_DAEMON_PID=""

# The daemon runs as UserID, by default the "dvmilter" system account, as
# in production: make it when it is missing (root only; quickstart.sh
# does too).
if [ "$(id -u)" -eq 0 ] && ! getent passwd dvmilter >/dev/null; then
	"${top_srcdir:?}/contrib/add-service-user.sh" >/dev/null ||
	    echo "# cannot make the dvmilter account"
fi

# dv_tmpdir: a scratch directory that the postfix user can traverse.
dv_tmpdir() {
	DV_TMP=$(mktemp -d /tmp/dvmilter-test.XXXXXX) || bail "mktemp"
	chmod 755 "$DV_TMP"
	_dv_cleanup_dirs="$_dv_cleanup_dirs $DV_TMP"
}

# dv_conf [extra config lines...]: write $DV_TMP/dvmilter.conf.
dv_conf() {
	DV_CONF="$DV_TMP/dvmilter.conf"
	# The socket and PID file go where the daemon, once it is UserID,
	# can remove them, as /run/dvmilter is in production.
	DV_RUN="$DV_TMP/run"
	mkdir -p "$DV_RUN"
	[ "$(id -u)" -ne 0 ] || chown dvmilter "$DV_RUN" 2>/dev/null || :
	DV_SOCK="$DV_RUN/dvmilter.sock"
	DV_PIDFILE="$DV_RUN/dvmilter.pid"
	DV_LOG="$DV_TMP/dvmilter.log"
	{
		echo "Socket local:$DV_SOCK"
		echo "Database $DV_TMP/db"
		echo "PidFile $DV_PIDFILE"
		echo "Syslog no"
		echo "LogLevel info"
		# Plugins defaults to the local plugin: find the built one.
		case " $* " in
		*" PluginDir "*) ;;
		*) echo "PluginDir $top_builddir/plugins/local/.libs" ;;
		esac
		for line in "$@"; do echo "$line"; done
	} > "$DV_CONF"
}

# dv_spooldir DIR: a SpoolDirectory the daemon, as UserID, writes in.
dv_spooldir() {
	mkdir -p -m 700 "$1" &&
	    { [ "$(id -u)" -ne 0 ] || chown dvmilter "$1"; }
}

# dv_secret FILE TEXT: a secret file as UserID (the worker) reads one:
# root's, group dvmilter's, mode 0640 (see cval_secret_open()).
dv_secret() {
	printf '%s\n' "$2" > "$1" && chmod 640 "$1" &&
	    { [ "$(id -u)" -ne 0 ] || chgrp dvmilter "$1"; }
}

ctl() {
	"$DVMILTERCTL" -c "$DV_CONF" "$@"
}

# dv_start: run the daemon in the foreground, in the background, and wait
# until it listens. Its log goes to $DV_LOG. DV_WRAP, if set, is a command
# to run it under (e.g. "valgrind --tool=callgrind", docs/BENCHMARKS.md).
# dv_stored: wait until the daemon's outbox writer has moved every message
# it logged into the store, where dvmilterctl sees it (within 0.1 s).
dv_stored() {
	local i
	for i in $(seq 1 100); do
		[ "$(ctl queue logged)" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# dv_deliveries_done [TENTHS]: wait until every message is stored and
# every outbox delivery is done (within TENTHS tenths of a second, 30 s
# by default). Needs jq.
dv_deliveries_done() {
	local i
	dv_stored || return 1
	for i in $(seq 1 "${1:-300}"); do
		[ "$(ctl queue list --json | jq '[.[] | select(.state != "done")] | length')" = 0 ] &&
		    return 0
		sleep 0.1
	done
	return 1
}

dv_start() {
	local i
	timeout -s TERM "$DV_TIMEOUT" ${DV_WRAP:-} "$DVMILTER" -f -c "$DV_CONF" \
	    >>"$DV_LOG" 2>&1 &
	DV_PID=$!
	for i in $(seq 1 100); do
		if grep -q "listening on" "$DV_LOG" 2>/dev/null; then
			# timeout(1) forks; the daemon is its child.
			DV_DAEMON_PID=$(cat "$DV_PIDFILE" 2>/dev/null)
			[ -n "$DV_DAEMON_PID" ] && return 0
		fi
		kill -0 "$DV_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "# dvmilter did not start; its log:"
	sed 's/^/#   /' "$DV_LOG"
	return 1
}

# dv_stop: SIGTERM and wait; fails if the daemon did not exit cleanly or
# a sanitizer reported anything.
dv_stop() {
	local rc=0 i
	[ -n "${DV_DAEMON_PID:-}" ] || return 0
	kill -TERM "$DV_DAEMON_PID" 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$DV_DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$DV_DAEMON_PID" 2>/dev/null; then
		echo "# dvmilter ignored SIGTERM"
		kill -KILL "$DV_DAEMON_PID" 2>/dev/null
		rc=1
	fi
	wait "$DV_PID" 2>/dev/null || rc=1
	DV_DAEMON_PID=
	if grep -Eq "AddressSanitizer|LeakSanitizer|runtime error:" "$DV_LOG"; then
		echo "# sanitizer report in $DV_LOG:"
		# The report itself, not the start of a long log.
		grep -E -B2 -A40 -m1 "AddressSanitizer|LeakSanitizer|runtime error:" \
		    "$DV_LOG" | sed 's/^/#   /' | head -60
		rc=1
	fi
	return $rc
}

_dv_cleanup() {
	# Postfix first: its instance lives in a directory removed below.
	type _pf_cleanup >/dev/null 2>&1 && _pf_cleanup
	type _sm_cleanup >/dev/null 2>&1 && _sm_cleanup
	if [ -n "${DV_DAEMON_PID:-}" ]; then
		kill -KILL "$DV_DAEMON_PID" 2>/dev/null
	fi
	for d in $_dv_cleanup_dirs; do
		[ -n "${KEEP_TMP:-}" ] || rm -rf "$d"
	done
	return 0
}
trap _dv_cleanup EXIT

# free_port: an unused TCP port on 127.0.0.1.
free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$(( (RANDOM % 20000) + 30000 ))
		if ! ss -Htln "sport = :$p" 2>/dev/null | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	return 1
}
