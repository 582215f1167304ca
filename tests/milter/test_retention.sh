#!/bin/bash
# test_retention.sh - OutboxRetention: the worker removes the text of
# delivered messages once they are old enough, keeps the entry, and
# replies to such a message still correlate with it.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/daemon.sh"

command -v miltertest >/dev/null || skip_all "miltertest is not installed"
command -v jq >/dev/null || skip_all "jq is not installed"
LUA="$top_srcdir/tests/milter"
dv_tmpdir
dv_spooldir "$DV_TMP/spool"
dv_conf "SpoolDirectory $DV_TMP/spool" "OutboxRetention 4s"
ctl mailbox add support@example.com --queue >/dev/null
ctl mailbox approve support@example.com >/dev/null
dv_start || bail "dvmilter did not start"

send() {	# send MSGID [miltertest -D args...]
	local mid=$1
	shift
	miltertest -s "$LUA/track.lua" -D "sock=unix:$DV_SOCK" \
	    -D "rcpt=<support@example.com>" -D data_expect=continue \
	    -D "msgid=$mid" "$@" >"$DV_TMP/mt.out" 2>&1
}
entry() { ctl queue list --json | jq -c --arg m "$1" "[.[] | select(.message_id == \$m)] | $2"; }
wait_for() {	# wait_for SECONDS COMMAND...: until COMMAND succeeds
	local n=$(($1 * 10))
	shift
	for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}
is_done() { [ "$(entry "$1" '.[0].state')" = '"done"' ]; }
is_pruned() { [ "$(entry "$1" '.[0].pruned != null')" = true ]; }

check "a tracked message is accepted" send old@ext.example
check "the worker records it" wait_for 10 is_done old@ext.example
check_eq "its text is kept while it is recent" "false" "$(entry old@ext.example '.[0].pruned != null')"
check "after OutboxRetention its text is removed" wait_for 20 is_pruned old@ext.example
id=$(entry old@ext.example '.[0].id')
check_eq "the entry stays, done, with size 0" '["done",0]' "$(entry old@ext.example '[.[0].state, .[0].size]')"
show=$(ctl queue show "$id")
check_match "queue show says why the text is gone" "size: +0 \(the message text was removed at .*OutboxRetention\)" "$show"
check_match "and still lists the delivery with its activity" "delivery: +local done, 1 attempt, activity [0-9a-f]+" "$show"
check_match "the worker logged it" "outbox: removed the text of 1 message done and received more than 4 s ago" "$(cat "$DV_LOG")"

check "a reply to it is accepted" send reply@ext.example -D in_reply_to=old@ext.example -D "subject=Re: Printer on fire"
check "and recorded" wait_for 10 is_done reply@ext.example
check_eq "the reply still correlates with the pruned message (In-Reply-To)" '"in-reply-to"' \
    "$(ctl activity list --json | jq -c '[.[] | select(.message_id == "reply@ext.example")][0].correlation')"
check "the same message again is accepted" send old@ext.example
check_eq "it gets an entry of its own instead of joining the pruned one" 2 "$(dv_stored; entry old@ext.example 'length')"
two_done() { [ "$(entry old@ext.example '[.[] | select(.state == "done")] | length')" = 2 ]; }
check "and is recorded" wait_for 10 two_done

check "the daemon stops cleanly" dv_stop
tap_done
