#!/bin/bash
# test_poison.sh - a message that kills the worker never blocks the
# others: a plugin that abort()s on one message (tests/plugins/crashy.c)
# kills the worker each time it is handed it; the daemon restarts the
# worker, the deliveries queued behind the poison keep flowing, and after
# DeliveryCrashLimit deaths during it alone the poison is dead-lettered
# with the reason. A message that needs more memory than
# WorkerMemoryLimit (RLIMIT_DATA) fails or kills the worker, and ends dead
# as well, not retried for ever.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/daemon.sh"

command -v miltertest >/dev/null || skip_all "miltertest is not installed"
command -v jq >/dev/null || skip_all "jq is not installed"
LUA="$top_srcdir/tests/milter"
dv_tmpdir
trap '_dv_cleanup' EXIT
mkdir "$DV_TMP/plugins"
dv_spooldir "$DV_TMP/spool"
cp "$top_builddir/tests/plugins/.libs/crashy.so" "$DV_TMP/plugins/"
dv_conf "PluginDir $DV_TMP/plugins" "Plugins crashy" "SpoolDirectory $DV_TMP/spool" \
    "DeliveryCrashLimit 3" "WorkerMemoryLimit 8M" "RetryBaseDelay 1s" \
    "RetryMaxDelay 2s" "RetryMaxAttempts 3" "CaseRateLimit none"
ctl mailbox add support@example.com --queue >/dev/null
ctl mailbox approve support@example.com >/dev/null
dv_start || bail "dvmilter did not start"

send() {	# send MSGID [BODY_LINES]: one tracked message
	miltertest -s "$LUA/track.lua" -D "sock=unix:$DV_SOCK" \
	    -D "rcpt=<support@example.com>" -D data_expect=continue \
	    -D "msgid=$1" -D "body=${2:-3}" >"$DV_TMP/mt.out" 2>&1
}
states() {	# states: "MSGID state attempts" lines
	ctl queue list --json | jq -r '.[] | .message_id + " " +
	    .deliveries[0].state + " " + (.deliveries[0].attempts|tostring)'
}
state_of() { states | awk -v m="$1" '$1 == m { print $2, $3 }'; }
error_of() {
	ctl queue list --json | jq -r --arg m "$1" '.[] | select(.message_id == $m) |
	    .deliveries[0].last_error // .deliveries[0].error // ""'
}
settled() {	# settled: nothing pending any more
	for _ in $(seq 1 600); do
		states | grep -q " pending " || return 0
		sleep 0.1
	done
	return 1
}

# The poison first, then 20 normal messages behind it.
check "the poison message is accepted" send poison@ext.example
for i in $(seq 1 20); do send "normal$i@ext.example" || echo "# send $i failed"; done
check "every message is stored" dv_stored
check "the worker kills itself on the poison and is restarted until all is settled" settled
n_done=$(states | grep -c "^normal.* done 1$")
deaths=$(grep -c "outbox worker [0-9]* killed by signal" "$DV_LOG")
echo "# poison: $(state_of poison@ext.example), normal messages done once: $n_done of 20, worker deaths: $deaths"
check_eq "all 20 normal messages are delivered, each at its first attempt" "20" "$n_done"
check_eq "the poison is dead-lettered after its third crash" "dead 3" "$(state_of poison@ext.example)"
check_eq "with the reason" "the worker died 3 times delivering it" "$(error_of poison@ext.example)"
check_match "the worker was killed three times" "^[3-9]" "$deaths"
check_match "the suspect batch and the blame are logged" \
    "making it again alone.*|the worker died delivering it \\(1 of 3\\)" "$(cat "$DV_LOG")"
check_match "the dead letter is logged with the reason" \
    "outbox [0-9]+: crashy gave up: the worker died 3 times delivering it" "$(cat "$DV_LOG")"
counts=$(ctl queue list --json | jq -r '.[] | .deliveries[0].activity_id // empty' | sort | uniq -d | wc -l)
check_eq "no normal message was recorded twice" "0" "$counts"

# A message that needs more memory than WorkerMemoryLimit allows: a
# 10 MB text body with the worker's data (RLIMIT_DATA) limited to 8 MB more
# than it had at start.
if grep -q "WorkerMemoryLimit ignored" "$DV_LOG"; then
	check "a sanitizer build logs that the memory limit is ignored" true
	check "the large message is accepted" send hog@ext.example 100000
	check "and delivered" settled
	check_eq "done" "done 1" "$(state_of hog@ext.example)"
else
	check_match "the memory limit is logged" "worker data limited to" "$(cat "$DV_LOG")"
	check "the large message is accepted" send hog@ext.example 100000
	check "a normal message behind it is accepted" send after-hog@ext.example
	check "the large message is not retried for ever" settled
	echo "# hog: $(state_of hog@ext.example): $(error_of hog@ext.example)"
	check_match "it is dead, out of memory or having killed the worker" \
	    "^dead" "$(state_of hog@ext.example)"
	check_match "with the reason" "out of memory|the worker died" "$(error_of hog@ext.example)"
	check_eq "the message behind it is delivered" "done 1" "$(state_of after-hog@ext.example)"
fi
check "the daemon stops cleanly" dv_stop
tap_done
