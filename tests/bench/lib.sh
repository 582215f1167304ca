# tests/bench/lib.sh - what run.sh and track.sh share (sourced).
#
# Needs BUILD, SRC and bail(). Provides:
#   bench_prepare TARGET...  build the targets, load tests/lib/daemon.sh
#                            and postfix.sh, and stop noop_milter and
#                            dvmilter on exit
#   bench_tmpdir             dv_tmpdir, on a fresh journaled ext4 file
#                            system unless BENCH_FS=host (see below)
#   bench_noop [ARGS...]     start noop_milter on $DV_TMP/noop.sock; sets
#                            NOOP_SOCK, NOOP_PID (timeout's) and
#                            NOOP_DAEMON_PID (the milter's)
#   cpu_ticks PID            utime + stime of a process, in clock ticks
#   dev_written DIR          sectors written so far to the block device
#                            DIR is on (/sys/class/block), or nothing
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
	BENCH_MNT=
	trap _bench_cleanup EXIT
}

# The test directory (Postfix's queue, dvmilter's store and spool) goes
# on a file system made for the run: ext4 with Debian's mkfs defaults,
# journal included, on a loop device, as on a mail server installed
# from Debian. Two reasons: the runs start from the same state, and the
# result does not depend on the build machine's own disk. (On a file
# system without a journal, ext4 skips every inode deleted in the last
# minute when it allocates one, so each run makes Postfix's next queue
# files dearer, and the later of two runs in a row is the slower.)
# BENCH_FS=host keeps the directory in /tmp instead.
bench_tmpdir() {
	if [ "${BENCH_FS:-journal}" = host ]; then
		dv_tmpdir
		return
	fi
	command -v mkfs.ext4 >/dev/null || bail "mkfs.ext4 (package e2fsprogs) missing"
	BENCH_IMG=$(mktemp /var/tmp/dvbench.XXXXXX) || bail "mktemp"
	BENCH_MNT=$(mktemp -d /tmp/dvbench.XXXXXX) || bail "mktemp"
	truncate -s "${BENCH_FS_SIZE:-8G}" "$BENCH_IMG" &&
	    mkfs.ext4 -q -F "$BENCH_IMG" &&
	    mount -o loop "$BENCH_IMG" "$BENCH_MNT" ||
	    bail "cannot make a file system for the run (BENCH_FS=host avoids it)"
	chmod 755 "$BENCH_MNT"
	DV_TMP=$(mktemp -d "$BENCH_MNT/dvmilter-test.XXXXXX") || bail "mktemp"
	chmod 755 "$DV_TMP"
	_dv_cleanup_dirs="$_dv_cleanup_dirs $DV_TMP"
}

_bench_cleanup() {
	# timeout(1) passes the TERM on; libmilter needs a few seconds to stop.
	if [ -n "$NOOP_PID" ]; then
		kill "$NOOP_PID" 2>/dev/null
		wait "$NOOP_PID" 2>/dev/null
	fi
	_dv_cleanup
	if [ -n "$BENCH_MNT" ]; then
		# Killed processes may hold it for a moment.
		for i in $(seq 1 50); do
			umount "$BENCH_MNT" 2>/dev/null && break
			sleep 0.2
		done
		mountpoint -q "$BENCH_MNT" && umount -l "$BENCH_MNT"
		rmdir "$BENCH_MNT"
		rm -f "$BENCH_IMG"
	fi
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
dev_written() {
	local dev
	dev=$(basename "$(findmnt -no SOURCE --target "$1" 2>/dev/null)")
	[ -n "$dev" ] && [ -r "/sys/class/block/$dev/stat" ] &&
	    awk '{ print $7 }' "/sys/class/block/$dev/stat"
}

median() { printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 } END {
	if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
