#!/bin/bash
# tests/bench/track.sh - tracking benchmark: what tracking every message
# into the local plugin costs Postfix, how soon an activity exists, and
# how much memory large messages take.
#
# usage: tests/bench/track.sh BUILDDIR       (as root; see docs/BENCHMARKS.md)
#
# 1. Memory: BENCH_BIG_SESSIONS (100) concurrent sessions each send one
#    BENCH_BIG_SIZE (10,000,000 byte) message to a tracked queue; prints
#    the daemon's and the worker's peak RSS (VmHWM). BENCH_BIG_SESSIONS=0
#    leaves this out.
# 2. Throughput: one Postfix instance, two ports that differ only in
#    smtpd_milters:
#      (b) noop_milter -b, which negotiates and receives the headers and
#          body as a tracking dvmilter does, and decides nothing;
#      (d) dvmilter with the default local plugin; every message is for
#          support@example.com, a queue with a case rule, so each one is
#          committed to the outbox at end of message and the worker makes
#          an email activity and a case of it.
#    smtp-source sends BENCH_MESSAGES (10,000) 2 KB messages over
#    BENCH_SESSIONS (20) sessions, BENCH_REPEAT (5) interleaved rounds
#    (b d, b d, ...). Prints messages/s per run, the medians and d/b, the
#    CPU per message of dvmilter and its worker, and for each case the
#    bytes written per message to the disk of the test directory (Postfix
#    and dvmilter together; what noise does not move).
# 3. Latency: for every message of the timed (d) runs, from the moment
#    dvmilter committed it, just before it let Postfix answer 250, to the
#    moment the worker committed its activity, both from dvmilter's log
#    (millisecond timestamps); prints p50, p90, p99 and the maximum.
set -u

bail() { echo "track.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || bail "usage: tests/bench/track.sh BUILDDIR"
BUILD=$(cd "$1" && pwd) || bail "no build directory $1"
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export top_srcdir=$SRC top_builddir=$BUILD

MSGS=${BENCH_MESSAGES:-10000}
SESS=${BENCH_SESSIONS:-20}
REPEAT=${BENCH_REPEAT:-5}
BIG_SESS=${BENCH_BIG_SESSIONS:-100}
BIG_SIZE=${BENCH_BIG_SIZE:-10000000}
SIZE=2048
FROM=customer@ext.example
TO=support@example.com
export DV_TIMEOUT=${DV_TIMEOUT:-3600} PF_TIMEOUT=${PF_TIMEOUT:-3600}

[ "$(id -u)" -eq 0 ] || bail "run as root (a Postfix instance is started)"
command -v smtp-source >/dev/null || bail "smtp-source (package postfix) missing"

. "$SRC/tests/bench/lib.sh"
bench_prepare all tests/bench/noop_milter

bench_tmpdir
dv_spooldir "$DV_TMP/spool"
# The production defaults (LogLevel info, MessageMemoryLimit 1M, the
# local plugin), a map large enough for every message of the run, and
# no CaseRateLimit: every message is a new case from one sender.
dv_conf "SocketGroup postfix" "SocketMode 0660" "DatabaseMapSize 8G" \
    "SpoolDirectory $DV_TMP/spool" "CaseRateLimit none"
# BENCH_LOGLEVEL (e.g. notice) shows what logging costs; the latency
# needs info.
sed -i "s/^LogLevel .*/LogLevel ${BENCH_LOGLEVEL:-info}/" "$DV_CONF"
ctl mailbox add "$TO" --queue >/dev/null && ctl mailbox approve "$TO" >/dev/null &&
    ctl caserule set "$TO" >/dev/null || bail "cannot set up $TO"
dv_start || bail "dvmilter did not start"
bench_noop -b

PB=$(free_port) && PD=$(free_port) || bail "no free ports"
[ "$PB" != "$PD" ] || bail "port clash; run again"
pf_start "$DV_TMP/postfix" "$PB" "unix:$NOOP_SOCK" \
    "message_size_limit = $((BIG_SIZE + 1000000))" \
    "default_process_limit = $((BIG_SESS + 20))" \
    "master.cf: 127.0.0.1:$PD inet n - n - - smtpd -o smtpd_milters=unix:$DV_SOCK" ||
    bail "postfix did not start"
for i in $(seq 1 50); do
	ss -Htln "sport = :$PD" | grep -q . && break
	sleep 0.1
done
declare -A PORT=([b]=$PB [d]=$PD)
declare -A RATES=([b]="" [d]="")

worker_pid() { pgrep -f -- "dvmilter-[w]orker -c $DV_CONF" | head -n 1; }
# hwm PID: peak resident memory, and the anonymous part of it now (the
# rest is the store's pages mapped from the file, shared page cache).
hwm() { awk '/^VmHWM/ { h = $2 } /^RssAnon/ { a = $2 } /^RssFile/ { f = $2 }
    END { printf "%.1f MB (now: anonymous %.1f MB, file-backed %.1f MB)", h / 1024, a / 1024, f / 1024 }' \
    "/proc/$1/status"; }
# done_count: outbox entries the worker has finished.
undone() { "$BUILD/dvmilterctl" -c "$DV_CONF" queue list --json |
    jq '[.[] | select(.state != "done")] | length'; }
wait_worker() {
	local i
	for i in $(seq 1 "$1"); do
		[ "$(undone)" = 0 ] && return 0
		sleep 1
	done
	return 1
}

if [ "$BIG_SESS" -gt 0 ]; then
	echo "== memory: $BIG_SESS concurrent messages of $BIG_SIZE bytes to $TO"
	t0=$(date +%s.%N)
	timeout 900 smtp-source -s "$BIG_SESS" -m "$BIG_SESS" -l "$BIG_SIZE" \
	    -f "$FROM" -t "$TO" "127.0.0.1:$PD" || bail "smtp-source failed"
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" -v n="$BIG_SESS" \
	    'BEGIN { printf "   %d messages accepted in %.1f s\n", n, b - a }'
	echo "   dvmilter peak RSS (VmHWM): $(hwm "$DV_DAEMON_PID")"
	wait_worker 600 || bail "the worker did not finish the big messages"
	echo "   worker peak RSS (VmHWM):   $(hwm "$(worker_pid)") (after recording them)"
	echo "   outbox entries done: $("$BUILD/dvmilterctl" -c "$DV_CONF" queue list --json | jq length)"
fi

# source_run CASE COUNT: one smtp-source run; prints messages/s.
source_run() {
	local port=${PORT[$1]} n=$2 t0 t1 s0 s1 w0 w1
	pf_wait_queue 300 || bail "queue did not drain"
	w0=$(dev_written "$DV_TMP")
	s0=$(head -n 1 /proc/stat)
	t0=$(date +%s.%N)
	timeout 900 smtp-source -s "$SESS" -m "$n" -l "$SIZE" -f "$FROM" \
	    -t "$TO" "127.0.0.1:$port" || bail "smtp-source failed (case $1)"
	t1=$(date +%s.%N)
	s1=$(head -n 1 /proc/stat)
	pf_wait_queue 300 || bail "queue did not drain"
	w1=$(dev_written "$DV_TMP")
	[ -n "${TIMED:-}" ] && [ -n "$w0" ] && [ -n "$w1" ] &&
	    echo "$1 $((w1 - w0)) $n" >> "$DV_TMP/written.txt"
	# BENCH_CPUSTAT=FILE: the whole machine's CPU time per message of
	# this run, by kind (/proc/stat), appended to FILE.
	[ -n "${BENCH_CPUSTAT:-}" ] && awk -v c="$1" -v n="$n" -v hz="$(getconf CLK_TCK)" \
	    -v a="$s0" -v b="$s1" 'BEGIN { split(a, x); split(b, y)
		split("user nice system idle iowait irq softirq steal", k, " ")
		line = sprintf("(%s) us/msg:", c)
		for (i = 1; i <= 8; i++) {
			d = (y[i + 1] - x[i + 1]) / hz * 1e6 / n; tot += (i == 4 ? 0 : d)
			line = line sprintf(" %s %.0f", k[i], d)
		}
		printf "%s  busy %.0f\n", line, tot }' >> "$BENCH_CPUSTAT"
	awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }'
}

echo "== warm-up (1,000 messages per case)"
for c in b d; do source_run "$c" 1000 >/dev/null; done
wait_worker 600 || bail "the worker did not catch up after the warm-up"
mark=$(wc -l < "$DV_LOG")
WPID=$(worker_pid)
t_dv0=$(cpu_ticks "$DV_DAEMON_PID"); t_w0=$(cpu_ticks "$WPID"); t_n0=$(cpu_ticks "$NOOP_DAEMON_PID")
TIMED=1

echo "== $REPEAT rounds of $MSGS messages, $SESS sessions, $SIZE bytes each"
echo "   load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= REPEAT; r++)); do
	line="   round $r:"
	for c in b d; do
		rate=$(source_run "$c" "$MSGS")
		RATES[$c]="${RATES[$c]} $rate"
		line="$line  ($c) $rate"
	done
	echo "$line msg/s  d/b $(awk -v b="${RATES[b]##* }" -v d="${RATES[d]##* }" 'BEGIN { printf "%.3f", d / b }')"
done
pf_wait_queue 300
t0=$(date +%s.%N)
wait_worker 1200 || bail "the worker did not catch up"
t1=$(date +%s.%N)
echo "   load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "   the worker finished %.1f s after the last message was accepted\n", b - a }'
[ "$(worker_pid)" = "$WPID" ] || echo "   WARNING: the worker was restarted during the runs"
awk -v d="$(($(cpu_ticks "$DV_DAEMON_PID") - t_dv0))" -v w="$(($(cpu_ticks "$WPID") - t_w0))" \
    -v o="$(($(cpu_ticks "$NOOP_DAEMON_PID") - t_n0))" -v hz="$(getconf CLK_TCK)" \
    -v n="$((MSGS * REPEAT))" 'BEGIN {
	printf "   CPU (user+sys) per message: dvmilter %.0f us, its worker %.0f us, noop_milter -b %.0f us\n",
	    d / hz * 1e6 / n, w / hz * 1e6 / n, o / hz * 1e6 / n }'
[ -s "$DV_TMP/written.txt" ] && awk '{ s[$1] += $2; n[$1] += $3 } END {
	b = s["b"] * 512 / n["b"] / 1024; d = s["d"] * 512 / n["d"] / 1024
	printf "   written to the disk per message: (b) %.1f KB, (d) %.1f KB: dvmilter +%.1f KB\n", b, d, d - b }' \
    "$DV_TMP/written.txt"

mb=$(median "${RATES[b]}")
md=$(median "${RATES[d]}")
echo "== throughput (median of $REPEAT runs)"
printf '   (b) noop milter with body %8s msg/s   runs:%s\n' "$mb" "${RATES[b]}"
printf '   (d) dvmilter tracking      %8s msg/s   runs:%s\n' "$md" "${RATES[d]}"
awk -v b="$mb" -v d="$md" 'BEGIN {
	printf "   d/b = %.3f (target >= 0.9: %s)\n", d / b, (d / b >= 0.9 ? "met" : "NOT met") }'

echo "== latency: end of message committed -> activity committed, timed runs"
tail -n +"$((mark + 1))" "$DV_LOG" | awk '
	function ms(ts,   t, h, m, s) {	# 2026-11-28T19:00:19.414Z
		t = substr(ts, 12, 12)
		h = substr(t, 1, 2); m = substr(t, 4, 2); s = substr(t, 7, 6)
		return ((h * 60 + m) * 60 + s) * 1000
	}
	/: tracked as outbox entry / {
		for (i = 1; i <= NF; i++) if ($i == "entry") { id = $(i + 1); sub(":", "", id) }
		start[id] = ms($1)
	}
	/dvmilter-worker.*: outbox [0-9]+: delivered to local/ {
		for (i = 1; i <= NF; i++) if ($i == "outbox") id = $(i + 1)
		sub(":", "", id)
		if (id in start) {
			d = ms($1) - start[id]
			if (d < 0) d += 86400000
			print d
		}
	}' | sort -g > "$DV_TMP/latency.txt"
awk '{ v[NR] = $1 } END {
	if (NR == 0) { print "   no samples"; exit }
	printf "   %d messages: p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms (target p99 < 250 ms: %s)\n",
	    NR, v[int(NR * 0.5) + 1], v[int(NR * 0.9) + 1], v[int(NR * 0.99) + 1], v[NR],
	    (v[int(NR * 0.99) + 1] < 250 ? "met" : "NOT met")
}' "$DV_TMP/latency.txt"
echo "   cases: $("$BUILD/dvmilterctl" -c "$DV_CONF" case list --json | jq length)," \
    "activities: $("$BUILD/dvmilterctl" -c "$DV_CONF" activity list --json | jq length)"
echo "   dvmilter peak RSS (VmHWM) at the end: $(hwm "$DV_DAEMON_PID")"

# BENCH_PROFILE=DIR: one more run of each case under a system-wide
# perf record; prints where the CPU went, by command (Postfix, the
# milters, kernel threads such as jbd2 and kworker), for both.
if [ -n "${BENCH_PROFILE:-}" ]; then
	mkdir -p "$BENCH_PROFILE"
	for c in b d; do
		perf record -a -g -o "$BENCH_PROFILE/perf-$c.data" \
		    >/dev/null 2>&1 &
		prof=$!
		sleep 1
		echo "   ($c) under perf: $(source_run "$c" "$MSGS") msg/s"
		kill -INT "$prof"; wait "$prof"
		perf report -i "$BENCH_PROFILE/perf-$c.data" --no-children \
		    --sort comm --stdio 2>/dev/null | grep -E '^ +[0-9]' |
		    head -n 12 | sed 's/^/      /'
	done
fi

pf_stop
dv_stop || echo "   WARNING: dvmilter did not stop cleanly"
grep -oE 'outbox: [0-9]* messages stored in [0-9]* commits.*' "$DV_LOG" | sed 's/^/   /'
