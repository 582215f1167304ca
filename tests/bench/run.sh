#!/bin/bash
# tests/bench/run.sh - throughput benchmark: what dvmilter costs Postfix.
#
# usage: tests/bench/run.sh BUILDDIR          (as root; see docs/BENCHMARKS.md)
#
# One throwaway Postfix instance (tests/lib/postfix.sh) listens on three
# ports that differ only in smtpd_milters:
#   (a) no milter,
#   (b) the no-op milter (tests/bench/noop_milter.c), the cost of the
#       milter protocol itself,
#   (c) dvmilter enforcing, with BENCH_MAILBOXES mailboxes in its store.
# smtp-source sends BENCH_MESSAGES messages over BENCH_SESSIONS parallel
# sessions to each port; Postfix discards them. Runs are interleaved
# (a b c, a b c, ...) so drift on a shared machine hits every case alike,
# and each starts with an empty queue. Prints messages/s per run and the
# median per case, the ratios c/b and c/a, dvmilter's CPU time and peak
# RSS, then runs bench_store (RCPT decisions/s on one thread).
#
# Environment: BENCH_MESSAGES (10000), BENCH_SESSIONS (20), BENCH_REPEAT
# (5), BENCH_MAILBOXES (100000), BENCH_STORE (BUILDDIR/bench-store-1m,
# reused between runs), BENCH_LOGLEVEL (info, dvmilter's default),
# BENCH_PROFILE (a directory: also profile (b) and (c) with perf record,
# perf stat and strace -c and leave the data there).
set -u

bail() { echo "run.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || bail "usage: tests/bench/run.sh BUILDDIR"
BUILD=$(cd "$1" && pwd) || bail "no build directory $1"
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export top_srcdir=$SRC top_builddir=$BUILD

MSGS=${BENCH_MESSAGES:-10000}
SESS=${BENCH_SESSIONS:-20}
REPEAT=${BENCH_REPEAT:-5}
MBOXES=${BENCH_MAILBOXES:-100000}
STORE=${BENCH_STORE:-$BUILD/bench-store-1m}
SIZE=2048
FROM=sender@ext.example
# The whole benchmark must fit in the watchdogs' lifetime.
export DV_TIMEOUT=${DV_TIMEOUT:-3600} PF_TIMEOUT=${PF_TIMEOUT:-3600}

[ "$(id -u)" -eq 0 ] || bail "run as root (a Postfix instance is started)"
command -v smtp-source >/dev/null || bail "smtp-source (package postfix) missing"
[ "$MSGS" -ge "$MBOXES" ] && bail "BENCH_MAILBOXES must exceed BENCH_MESSAGES"

. "$SRC/tests/bench/lib.sh"
bench_prepare dvmilter dvmilterctl tests/bench/noop_milter tests/bench/bench_store

bench_tmpdir
# dv_conf writes "Syslog no" and "LogLevel info": the production default
# level, every decision logged, to a file ($DV_LOG) through stderr.
dv_conf "SocketGroup postfix" "SocketMode 0660" "Plugins none"	# (c) is envelope only
# BENCH_LOGLEVEL (e.g. notice: refusals only) shows what logging costs.
sed -i "s/^LogLevel .*/LogLevel ${BENCH_LOGLEVEL:-info}/" "$DV_CONF"

# smtp-source -N numbers recipients 1rcpt@example.com, 2rcpt@..., so
# every message has its own recipient; all of those are approved, and
# the rest of the store is filler with mixed approval states.
echo "== store: $MBOXES mailboxes via dvmilterctl mailbox import"
{
	echo "address,approval"
	for ((i = 1; i <= MBOXES; i++)); do
		if ((i <= MSGS + 1000)); then
			echo "${i}rcpt@example.com,approved"
		else
			case $((i % 3)) in
			0) echo "${i}rcpt@example.com,approved" ;;
			1) echo "${i}rcpt@example.com,pending" ;;
			2) echo "${i}rcpt@example.com,rejected" ;;
			esac
		fi
	done
} > "$DV_TMP/mailboxes.csv"
t0=$(date +%s.%N)
ctl mailbox import "$DV_TMP/mailboxes.csv" || bail "import failed"
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "   import took %.2f s\n", b - a }'

dv_start || bail "dvmilter did not start"
bench_noop

PA=$(free_port) && PB=$(free_port) && PC=$(free_port) || bail "no free ports"
[ "$PA" != "$PB" ] && [ "$PB" != "$PC" ] && [ "$PA" != "$PC" ] ||
    bail "port clash; run again"
pf_start "$DV_TMP/postfix" "$PA" "" \
    "master.cf: 127.0.0.1:$PB inet n - n - - smtpd -o smtpd_milters=unix:$NOOP_SOCK" \
    "master.cf: 127.0.0.1:$PC inet n - n - - smtpd -o smtpd_milters=unix:$DV_SOCK" ||
    bail "postfix did not start"
for p in "$PB" "$PC"; do
	for i in $(seq 1 50); do
		ss -Htln "sport = :$p" | grep -q . && break
		sleep 0.1
	done
	ss -Htln "sport = :$p" | grep -q . || bail "postfix is not listening on $p"
done

declare -A PORT=([a]=$PA [b]=$PB [c]=$PC)
declare -A NAME=([a]="no milter" [b]="noop milter" [c]="dvmilter")
declare -A RATES=([a]="" [b]="" [c]="")

# source_run CASE COUNT: one smtp-source run; prints messages/s.
source_run() {
	local port=${PORT[$1]} n=$2 t0 t1
	pf_wait_queue 300 || bail "queue did not drain"
	t0=$(date +%s.%N)
	timeout 900 smtp-source -s "$SESS" -m "$n" -l "$SIZE" -N -f "$FROM" \
	    -t rcpt@example.com "127.0.0.1:$port" || {
		# What went wrong, from both sides.
		grep -vE "\[info\]|\[notice\]" "$DV_LOG" | head -n 8 >&2
		grep -E "warning|fatal|panic" "$PF_LOG" | head -n 8 >&2
		bail "smtp-source failed (case $1)"
	}
	t1=$(date +%s.%N)
	awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }'
}

echo "== warm-up (1,000 messages per case)"
for c in a b c; do source_run "$c" 1000 >/dev/null; done

ticks0=$(cpu_ticks "$DV_DAEMON_PID")
noop0=$(cpu_ticks "$NOOP_DAEMON_PID")
decisions0=$(grep -c ': rcpt=' "$DV_LOG")
echo "== $REPEAT rounds of $MSGS messages, $SESS sessions, $SIZE bytes each"
echo "   load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= REPEAT; r++)); do
	line="   round $r:"
	for c in a b c; do
		rate=$(source_run "$c" "$MSGS")
		RATES[$c]="${RATES[$c]} $rate"
		line="$line  ($c) $rate"
	done
	rb=${RATES[b]##* } rc=${RATES[c]##* }
	echo "$line msg/s  c/b $(awk -v b="$rb" -v c="$rc" 'BEGIN { printf "%.3f", c / b }')"
done
pf_wait_queue 300
echo "   load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
ticks1=$(cpu_ticks "$DV_DAEMON_PID")
noop1=$(cpu_ticks "$NOOP_DAEMON_PID")
decisions1=$(grep -c ': rcpt=' "$DV_LOG")

ma=$(median "${RATES[a]}")
mb=$(median "${RATES[b]}")
mc=$(median "${RATES[c]}")
hz=$(getconf CLK_TCK)
rejects=$(grep -c 'action=reject' "$DV_LOG")

echo "== results (median of $REPEAT runs)"
for c in a b c; do
	printf '   (%s) %-12s %8s msg/s   runs:%s\n' "$c" "${NAME[$c]}" \
	    "$(median "${RATES[$c]}")" "${RATES[$c]}"
done
awk -v a="$ma" -v b="$mb" -v c="$mc" 'BEGIN {
	printf "   c/b = %.3f (target >= 0.95: %s)\n", c / b, (c / b >= 0.95 ? "met" : "NOT met")
	printf "   c/a = %.3f\n", c / a
	printf "   b/a = %.3f (cost of the milter protocol alone)\n", b / a
}'
awk -v t="$((ticks1 - ticks0))" -v u="$((noop1 - noop0))" -v hz="$hz" \
    -v n="$((MSGS * REPEAT))" -v d="$((decisions1 - decisions0))" 'BEGIN {
	printf "   CPU time (user+sys) in the timed runs, %d messages per case:\n", n
	printf "     dvmilter     %.2f s = %.0f us/message (%d RCPT decisions logged)\n",
	    t / hz, t / hz * 1e6 / n, d
	printf "     noop_milter  %.2f s = %.0f us/message\n", u / hz, u / hz * 1e6 / n
}'
echo "   dvmilter rejects during the benchmark: $rejects (expected 0)"
grep -E '^Vm(HWM|RSS)' "/proc/$DV_DAEMON_PID/status" |
    awk '{ printf "   dvmilter %s %s %s\n", $1, $2, $3 }'
echo "   dvmilter threads now: $(ls "/proc/$DV_DAEMON_PID/task" | wc -l)"

# BENCH_PROFILE=DIR: three more runs of (b) and of (c), under perf
# record, perf stat and strace -c, for finding where the time goes.
# Their rates are distorted by the tools and are not results.
if [ -n "${BENCH_PROFILE:-}" ]; then
	mkdir -p "$BENCH_PROFILE"
	echo "== profiling into $BENCH_PROFILE"
	for c in b c; do
		if [ "$c" = b ]; then pid=$NOOP_DAEMON_PID
		else pid=$DV_DAEMON_PID; fi
		perf record -g -p "$pid" -o "$BENCH_PROFILE/perf-$c.data" \
		    >/dev/null 2>&1 &
		prof=$!
		sleep 1
		echo "   ($c) under perf: $(source_run "$c" "$MSGS") msg/s"
		kill -INT "$prof"; wait "$prof"
		perf stat -e task-clock,context-switches,cpu-migrations,page-faults \
		    -p "$pid" -o "$BENCH_PROFILE/perfstat-$c.txt" &
		prof=$!
		sleep 1
		echo "   ($c) under perf stat: $(source_run "$c" "$MSGS") msg/s"
		kill -INT "$prof"; wait "$prof"
		sed -n 's/^ *\([0-9.,]*\) *\(msec \)*\(task-clock\|context-switches\|cpu-migrations\|page-faults\).*/     \3 \1/p' \
		    "$BENCH_PROFILE/perfstat-$c.txt"
		strace -c -f -p "$pid" -o "$BENCH_PROFILE/strace-$c.txt" 2>/dev/null &
		prof=$!
		sleep 1
		echo "   ($c) under strace: $(source_run "$c" "$MSGS") msg/s"
		kill -INT "$prof"; wait "$prof"
	done
	cp "$DV_LOG" "$BENCH_PROFILE/dvmilter.log"
	cp "$PF_LOG" "$BENCH_PROFILE/maillog"
fi

pf_stop
dv_stop || echo "   WARNING: dvmilter did not stop cleanly"

echo "== bench_store: RCPT decisions/s on one thread, 1,000,000 mailboxes"
"$BUILD/tests/bench/bench_store" -n 1000000 -t 5 "$STORE"
