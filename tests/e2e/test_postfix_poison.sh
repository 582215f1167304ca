#!/bin/bash
# test_postfix_poison.sh - the poison message of issue 12 replayed
# through a real Postfix on 127.0.0.1: an 800 KB message of 100,000 empty
# MIME parts to a tracked queue becomes an activity at the first attempt,
# with what fits and a note of what was left out, and the normal mail
# sent after it is delivered too.
set -u
. "$top_srcdir/tests/lib/tap.sh"

. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/lib/postfix.sh"
pf_require swaks jq

dv_tmpdir
dv_spooldir "$DV_TMP/spool"
dv_conf "SocketMode 0660" "SocketGroup postfix" \
    "PluginDir $top_builddir/plugins/local/.libs" "Plugins local" \
    "SpoolDirectory $DV_TMP/spool"
pf_start "$DV_TMP/postfix" auto "unix:$DV_SOCK" || bail "postfix did not start"
ctl mailbox add support@example.com --queue >/dev/null &&
    ctl mailbox approve support@example.com >/dev/null &&
    ctl caserule set support@example.com >/dev/null || bail "cannot set up the queue"
dv_start || bail "dvmilter did not start"

# The attack: 100,000 empty parts after a short text part (800 KB).
awk 'BEGIN { ORS = "\r\n"
	print "From: attacker@ext.example"; print "To: support@example.com"
	print "Subject: many parts"; print "Message-ID: <poison@ext.example>"
	print "MIME-Version: 1.0"
	print "Content-Type: multipart/mixed; boundary=\"b\""; print ""
	print "--b"; print "Content-Type: text/plain"; print ""; print "Please help."
	for (i = 0; i < 100000; i++) { print "--b"; print "" }
	print "--b--" }' > "$DV_TMP/poison.eml"

check "Postfix accepts the poison message" swaks --server 127.0.0.1 --port "$PF_PORT" \
    --from attacker@ext.example --to support@example.com --timeout 120 \
    --data "@$DV_TMP/poison.eml"
for i in 1 2 3 4 5; do
	swaks --server 127.0.0.1 --port "$PF_PORT" --from "customer$i@ext.example" \
	    --to support@example.com --header "Subject: normal $i" \
	    --header "Message-Id: <normal$i@ext.example>" >/dev/null 2>&1 || echo "# send $i failed"
done
settled() {
	local i
	dv_stored || return 1
	for i in $(seq 1 300); do
		[ "$(ctl queue list --json | jq '[.[] | select(.state == "pending")] | length')" = 0 ] &&
		    return 0
		sleep 0.1
	done
	return 1
}
check "every delivery settles" settled
delivery() {	# delivery MSGID: "state attempts"
	ctl queue list --json | jq -r --arg m "$1" '.[] | select(.message_id == $m) |
	    .deliveries[0] | .state + " " + (.attempts|tostring)'
}
act() {		# act MSGID JQ
	ctl activity list --json | jq -r --arg m "$1" ".[] | select(.message_id == \$m) | $2"
}
echo "# poison: $(delivery poison@ext.example); normal: $(for i in 1 2 3 4 5; do delivery "normal$i@ext.example"; done | sort | uniq -c | tr -s ' \n' ' ')"
check_eq "the poison message is an activity at the first attempt" "done 1" "$(delivery poison@ext.example)"
id=$(act poison@ext.example .id)
shown=$(ctl activity show "$id" 2>&1)
check_match "its text is kept" "Please help\\." "$shown"
check_match "activity show says what was left out" "omitted: +too many MIME parts" "$shown"
check_eq "the attachments listed are capped" "100" \
    "$(ctl activity show "$id" --json | jq '.attachments | length')"
check_eq "the five normal messages after it are delivered" "5" \
    "$(for i in 1 2 3 4 5; do delivery "normal$i@ext.example"; done | grep -c '^done 1$')"
check_match "the worker logged what the caps left out" \
    "outbox [0-9]+: too many MIME parts \\(caps: 1000 parts" "$(cat "$DV_LOG")"
check "the daemon stops cleanly" dv_stop
tap_done
