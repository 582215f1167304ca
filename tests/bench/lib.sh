# tests/bench/lib.sh - what run.sh and track.sh share (sourced).
#
# Needs BUILD, SRC and bail(). Provides:
#   bench_prepare TARGET...  build the targets, load tests/lib/daemon.sh
#                            and postfix.sh, and stop noop_milter and
#                            dvmilter on exit
#   bench_noop [ARGS...]     start noop_milter on $DV_TMP/noop.sock; sets
#                            NOOP_SOCK, NOOP_PID (timeout's) and
#                            NOOP_DAEMON_PID (the milter's)
#   cpu_ticks PID            utime + stime of a process, in clock ticks
#   median "V V V..."        the median of the values

bench_prepare() {
	echo "== building"
	if ! make -C "$BUILD" "$@" >"$BUILD/bench-make.log" 2>&1; then
		tail -n 30 "$BUILD/bench-make.log" >&2
		bail "build failed (log: $BUILD/bench-make.log)"
	fi
	. "$SRC/tests/lib/daemon.sh"
	. "$SRC/tests/lib/postfix.sh"
	why=$(pf_available) || bail "$why"
	NOOP_PID=
	trap _bench_cleanup EXIT
}

_bench_cleanup() {
	# timeout(1) passes the TERM on; libmilter needs a few seconds to stop.
	if [ -n "$NOOP_PID" ]; then
		kill "$NOOP_PID" 2>/dev/null
		wait "$NOOP_PID" 2>/dev/null
	fi
	_dv_cleanup
}

bench_noop() {
	local i
	NOOP_SOCK="$DV_TMP/noop.sock"
	timeout -s TERM "$DV_TIMEOUT" "$BUILD/tests/bench/noop_milter" "$@" \
	    -p "local:$NOOP_SOCK" >"$DV_TMP/noop.log" 2>&1 &
	NOOP_PID=$!
	for i in $(seq 1 50); do [ -S "$NOOP_SOCK" ] && break; sleep 0.1; done
	[ -S "$NOOP_SOCK" ] || bail "noop_milter did not start: $(cat "$DV_TMP/noop.log")"
	NOOP_DAEMON_PID=$(pgrep -P "$NOOP_PID" noop_milter) ||
	    bail "no noop_milter process"
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

median() { printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 } END {
	if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
