#!/bin/bash
# tests/bench/poison.sh - poison-message benchmark: what one hostile
# message costs the worker, through a real Postfix on 127.0.0.1.
#
# usage: tests/bench/poison.sh BUILDDIR      (as root; see docs/BENCHMARKS.md)
#
# Two messages of issue 12, each sent with swaks to a tracked queue with
# a case rule (the default local plugin), then BENCH_NORMAL (50) normal
# 2 KB messages with smtp-source:
#   parts:  BENCH_PARTS_SIZE (10,000,000) bytes of empty MIME parts, a
#           million of them;
#   nested: BENCH_NESTED_SIZE (25,000,000) bytes of message/rfc822
#           inside message/rfc822 inside ...
# For each: the seconds from Postfix's 250 to the activity (the outbox
# delivery done), the worker's peak RSS while it made it (VmHWM, reset
# through /proc/PID/clear_refs before each message), what the activity
# says was left out, and how long the normal messages after it took to
# be delivered, all of them. Targets: activity within 10 s, worker peak
# RSS under 300 MB, every normal message delivered.
set -u

bail() { echo "poison.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || bail "usage: tests/bench/poison.sh BUILDDIR"
BUILD=$(cd "$1" && pwd) || bail "no build directory $1"
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export top_srcdir=$SRC top_builddir=$BUILD

PARTS_SIZE=${BENCH_PARTS_SIZE:-10000000}
NESTED_SIZE=${BENCH_NESTED_SIZE:-25000000}
NORMAL=${BENCH_NORMAL:-50}
FROM=attacker@ext.example
TO=support@example.com
export DV_TIMEOUT=${DV_TIMEOUT:-1800} PF_TIMEOUT=${PF_TIMEOUT:-1800}

[ "$(id -u)" -eq 0 ] || bail "run as root (a Postfix instance is started)"
for t in smtp-source swaks jq awk; do
	command -v "$t" >/dev/null || bail "$t missing (contrib/install-deps.sh)"
done

. "$SRC/tests/bench/lib.sh"
bench_prepare all
bench_tmpdir
dv_spooldir "$DV_TMP/spool"
# The defaults (caps, WorkerMemoryLimit 1G, local plugin), with room for
# the messages: MaxMessageSize above the largest; no CaseRateLimit, for
# the normal messages all come from one sender.
dv_conf "SocketGroup postfix" "SocketMode 0660" "DatabaseMapSize 2G" \
    "SpoolDirectory $DV_TMP/spool" "MaxMessageSize 30M" "CaseRateLimit none"
ctl mailbox add "$TO" --queue >/dev/null && ctl mailbox approve "$TO" >/dev/null &&
    ctl caserule set "$TO" >/dev/null || bail "cannot set up $TO"
dv_start || bail "dvmilter did not start"
pf_start "$DV_TMP/postfix" auto "unix:$DV_SOCK" \
    "message_size_limit = 40000000" || bail "postfix did not start"

# The messages, CRLF line ends; swaks sends them as they are.
gen_parts() {	# gen_parts FILE SIZE: a text part, then empty parts
	awk -v size="$2" -v from="$FROM" -v to="$TO" 'BEGIN {
		ORS = "\r\n"
		print "From: " from; print "To: " to
		print "Subject: a million empty parts"
		print "Message-ID: <parts." srand() "@ext.example>"
		print "MIME-Version: 1.0"
		print "Content-Type: multipart/mixed; boundary=\"bnd1\""; print ""
		print "--bnd1"; print "Content-Type: text/plain"; print ""
		print "Hello, this message has a great many empty parts."
		n = int((size - 300) / 10)
		for (i = 0; i < n; i++) { print "--bnd1"; print "" }
		print "--bnd1--"
	}' > "$1"
}
gen_nested() {	# gen_nested FILE SIZE: message/rfc822 all the way down
	awk -v size="$2" -v from="$FROM" -v to="$TO" 'BEGIN {
		ORS = "\r\n"
		print "From: " from; print "To: " to
		print "Subject: nested messages"
		print "Message-ID: <nested." srand() "@ext.example>"
		print "MIME-Version: 1.0"
		print "Content-Type: message/rfc822"; print ""
		for (i = 0; total < size - 300; i++) {
			print "Subject: level " i
			print "Content-Type: message/rfc822"; print ""
			total += length("Subject: level " i) + 34
		}
		print "Subject: the innermost"; print ""; print "hello"
	}' > "$1"
}

worker_pid() { pgrep -f -- "dvmilter-[w]orker -c $DV_CONF" | head -n 1; }
hwm_mb() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
state_of() {	# state_of MSGID: the delivery's state
	ctl queue list --json | jq -r --arg m "$1" \
	    '.[] | select(.message_id == $m) | .deliveries[0].state' | head -n 1
}
id_of() {
	ctl queue list --json | jq -r --arg m "$1" \
	    '.[] | select(.message_id == $m) | .id' | head -n 1
}
undone() { ctl queue list --json | jq '[.[] | select(.state != "done")] | length'; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

run_one() {	# run_one NAME GENERATOR SIZE
	local name=$1 file="$DV_TMP/$1.eml" w w2 mid ts t0 t1 t2 i st id hwm
	"$2" "$file" "$3"
	mid=$(awk '/^Message-ID:/ { gsub(/[<>\r]/, "", $2); print $2; exit }' "$file")
	w=$(worker_pid)
	echo 5 > "/proc/$w/clear_refs" 2>/dev/null || echo "   (cannot reset VmHWM)"
	echo "== $name: $(stat -c %s "$file") bytes"
	ts=$(now)
	swaks -s 127.0.0.1 -p "$PF_PORT" -f "$FROM" -t "$TO" \
	    --data "@$file" >"$DV_TMP/$name.swaks" 2>&1 ||
	    { tail -n 5 "$DV_TMP/$name.swaks"; bail "swaks failed for $name"; }
	t0=$(now)
	echo "   sent and accepted by Postfix (250) in $(secs "$ts" "$t0") s"
	st=
	for i in $(seq 1 1200); do
		st=$(state_of "$mid")
		[ "$st" = done ] || [ "$st" = dead ] && break
		sleep 0.05
	done
	t1=$(now)
	w2=$(worker_pid)
	hwm=$(hwm_mb "$w2")
	id=$(id_of "$mid")
	echo "   activity after $(secs "$t0" "$t1") s: delivery $st"
	echo "   worker peak RSS (VmHWM) $hwm MB$([ "$w" = "$w2" ] || echo ", worker restarted")"
	ctl activity show "$(printf %016x "$id")" --json 2>/dev/null |
	    jq -r '"   omitted: " + (.omitted // "-") + "\n   attachments listed: " +
	        (.attachments | length | tostring) + ", text: " + (.text | length | tostring) + " bytes"'
	t1=$(now)
	timeout 300 smtp-source -s 5 -m "$NORMAL" -l 2048 -f customer@ext.example \
	    -t "$TO" "127.0.0.1:$PF_PORT" || bail "smtp-source failed"
	for i in $(seq 1 1200); do
		[ "$(undone)" = 0 ] && break
		sleep 0.1
	done
	t2=$(now)
	echo "   $NORMAL normal messages after it: $(undone) not delivered, all done $(secs "$t1" "$t2") s after the first was sent"
	echo "   worker peak RSS over all: $(hwm_mb "$(worker_pid)") MB"
}

echo "== dvmilter $("$BUILD/dvmilter" -V 2>/dev/null | head -n 1), $(nproc) CPUs"
run_one parts gen_parts "$PARTS_SIZE"
run_one nested gen_nested "$NESTED_SIZE"
echo "== outbox: $(ctl queue list --json | jq length) entries, $(undone) not done"
grep -E "outbox [0-9]+: (too many|MIME parts|[0-9]+ attachments)" "$DV_LOG" | head -n 4 | sed 's/^/   log: /'
