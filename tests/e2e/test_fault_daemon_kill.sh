#!/bin/bash
# test_fault_daemon_kill.sh - dvmilter killed with SIGKILL while 20 SMTP
# clients send through a real Postfix on 127.0.0.1, then restarted: every
# message Postfix accepted becomes exactly one activity of the local
# plugin, none lost and none doubled.
#
# The clients behave like sending MTAs (tests/e2e/smtp_retry.py): a 4xx
# (Postfix tempfails while the milter is gone, milter_default_action) or
# a dropped connection is retried with the same bytes until a 250. A
# message the outbox made durable just before the kill was never
# answered, so its client retries it: the retry carries the same
# Message-ID and the same content (only Postfix's Received header
# differs), and folds into the first entry. So does a message whose
# client hung up after the final dot (every fifth one's first try), which
# Postfix takes twice.
set -u
. "$top_srcdir/tests/lib/tap.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root to start a Postfix instance"
command -v postfix >/dev/null || skip_all "postfix is not installed"
command -v python3 >/dev/null || skip_all "python3 is not installed"
command -v jq >/dev/null || skip_all "jq is not installed"

. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/lib/postfix.sh"
. "$top_srcdir/tests/lib/fault.sh"
why=$(pf_available) || skip_all "$why"

THREADS=20
PER=10
TOTAL=$((THREADS * PER))

dv_tmpdir
dv_spooldir "$DV_TMP/spool"
fault_start

accepted() { wc -l < "$DV_TMP/accepted"; }
: > "$DV_TMP/accepted"
timeout 150 python3 "$top_srcdir/tests/e2e/smtp_retry.py" load "$PF_PORT" \
    ann@ext.example support@example.com "$THREADS" "$PER" \
    "$DV_TMP/accepted" 127.0.0.2 2>"$DV_TMP/refused" &
CLIENTS=$!
trap 'kill $CLIENTS 2>/dev/null; _dv_cleanup' EXIT

# Kill it in full flight: a fifth of the messages in, 20 sessions open.
for _ in $(seq 1 600); do
	[ "$(accepted)" -ge $((TOTAL / 5)) ] && break
	sleep 0.1
done
before=$(accepted)
kill -KILL "$DV_DAEMON_PID"
for _ in $(seq 1 50); do kill -0 "$DV_DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
wait "$DV_PID" 2>/dev/null
check "the daemon died of SIGKILL with messages in flight" \
    test "$before" -lt "$TOTAL"
DV_DAEMON_PID=
# Down until the clients have been refused (451 from Postfix, or the
# session dropped) a few times, so that the retries are part of the test.
refusals() { grep -vc "on purpose" "$DV_TMP/refused"; }
for _ in $(seq 1 200); do
	[ "$(refusals)" -ge 5 ] && break
	sleep 0.1
done
mv "$DV_LOG" "$DV_LOG.killed"
rm -f "$DV_PIDFILE"
check "the daemon starts again on the same store" dv_start

wait "$CLIENTS"
rc=$?
check_eq "every client message got a 250 in the end" 0 "$rc"
n_acc=$(accepted)
n_retried=$(awk '$2 > 1' "$DV_TMP/accepted" | wc -l)
n_refused=$(refusals)
n_hungup=$(grep -c "on purpose" "$DV_TMP/refused")
# Messages Postfix queued more than once (a client hung up after the
# final dot, or the milter answered after the kill): queue ids that
# reached the queue manager, joined with their Message-IDs.
n_twice=$(awk '/\/cleanup\[[0-9]+\]: [0-9A-F]+: message-id=/ {
		q = $6; sub(/:$/, "", q); mid[q] = $7 }
	/\/qmgr\[[0-9]+\]: [0-9A-F]+: from=/ {
		q = $6; sub(/:$/, "", q); if (q in mid) n[mid[q]]++ }
	END { for (m in n) if (n[m] > 1) c++; print c + 0 }' "$PF_LOG")
grep -E "attempt [0-9]+: [5]" "$DV_TMP/refused" | head -3 | sed 's/^/# 5xx: /'

check "every outbox delivery is done" dv_deliveries_done
fault_activities > "$DV_TMP/act.ids"
awk '{ print $1 }' "$DV_TMP/accepted" | sort > "$DV_TMP/acc.ids"
n_act=$(wc -l < "$DV_TMP/act.ids")
n_entries=$(ctl queue list --json | jq length)
n_lost=$(comm -23 "$DV_TMP/acc.ids" <(sort -u "$DV_TMP/act.ids") | wc -l)
n_doubled=$(uniq -d "$DV_TMP/act.ids" | wc -l)
n_extra=$(comm -13 "$DV_TMP/acc.ids" <(sort -u "$DV_TMP/act.ids") | wc -l)
n_replayed=$(sed -n 's/.*stored \([0-9]*\) message.* the log held.*/\1/p' "$DV_LOG" | head -1)
echo "# counts: sent=$TOTAL accepted=$n_acc before_kill=$before" \
    "retried=$n_retried refused_attempts=$n_refused hung_up_after_dot=$n_hungup" \
    "postfix_queued_twice=$n_twice" \
    "replayed_from_log=${n_replayed:-0} outbox_entries=$n_entries" \
    "activities=$n_act lost=$n_lost doubled=$n_doubled unexpected=$n_extra"
check_eq "Postfix accepted every message" "$TOTAL" "$n_acc"
check "some messages were refused while the daemon was down, and retried" \
    test "$n_refused" -gt 0
check "some messages reached Postfix twice, as from a client that hung up" \
    test "$n_twice" -gt 0
check_eq "no accepted message is lost" 0 "$n_lost"
check_eq "no message became two activities" 0 "$n_doubled"
check_eq "no activity without an accepted message" 0 "$n_extra"
check_eq "the activities equal the messages Postfix accepted" "$n_acc" "$n_act"
check_eq "one outbox entry per message (copies folded)" "$n_acc" "$n_entries"

pf_stop
check "dvmilter and its worker stop cleanly" dv_stop
tap_done
