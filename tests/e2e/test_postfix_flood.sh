#!/bin/bash
# test_postfix_flood.sh - the backscatter attack replayed through a real
# Postfix on 127.0.0.1: a flood of new-case mail to support@ from forged
# victim+N@ senders and from many addresses of one domain. Past
# CaseRateLimit the SMTP client gets 451 4.7.1 at end of message (nothing
# is accepted and then dropped), a reply on a conversation still gets
# in, and the cases and the acknowledgements (counted at an SMTP sink)
# stay within the configured limits.
set -u
. "$top_srcdir/tests/lib/tap.sh"

. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/lib/postfix.sh"
pf_require swaks jq
SINKD="$top_builddir/tests/plugins/smtpsinkd"

dv_tmpdir
mkdir "$DV_TMP/sink"
dv_spooldir "$DV_TMP/spool"
"$SINKD" "$DV_TMP/sinkport" "$DV_TMP/sink" 300 &
SINK_PID=$!
trap 'kill $SINK_PID 2>/dev/null; _dv_cleanup' EXIT
for _ in $(seq 1 50); do [ -s "$DV_TMP/sinkport" ] && break; sleep 0.1; done
[ -s "$DV_TMP/sinkport" ] || bail "the SMTP sink did not start"

# 3 new cases per sender an hour, 8 per queue a minute; one
# acknowledgement per address, two per domain, five in all.
dv_conf "SocketMode 0660" "SocketGroup postfix" "InternalHosts 127.0.0.1/32" \
    "Plugins local" "SpoolDirectory $DV_TMP/spool" "CaseRateLimit 3 8" \
    "Local.SubmissionURL smtp://127.0.0.1:$(cat "$DV_TMP/sinkport")" \
    "Local.SubmissionAllowPlain yes" "Local.AutoReplyLimit 1" \
    "Local.AutoReplyDomainLimit 2" "Local.AutoReplyGlobalLimit 5"
ctl mailbox add support@example.com --queue >/dev/null &&
    ctl mailbox approve support@example.com >/dev/null &&
    ctl caserule set support@example.com --auto-reply yes >/dev/null &&
    ctl mailbox add sales@example.com --queue >/dev/null &&
    ctl mailbox approve sales@example.com >/dev/null &&
    ctl caserule set sales@example.com --auto-reply no >/dev/null ||
    bail "cannot set up support@ and sales@"
dv_start || bail "dvmilter did not start"
pf_start "$DV_TMP/postfix" auto "unix:$DV_SOCK" || bail "postfix did not start"

# send FROM MSGID [swaks args]: one message to support@ from outside;
# prints the server's reply to the end of the message.
send() {
	local from=$1 mid=$2
	shift 2
	swaks --server 127.0.0.1 --port "$PF_PORT" --local-interface 127.0.0.2 \
	    --from "$from" --to "${TO:-support@example.com}" --helo attacker.test \
	    --timeout 60 --header "Subject: URGENT $mid" \
	    --header "Message-Id: <$mid>" "$@" 2>&1 |
	    sed -n 's/^<[*~-]* *\(2[0-9][0-9] .*queued.*\|[45][0-9][0-9] [0-9]\.[0-9]\.[0-9] .*\)$/\1/p' |
	    tail -n 1
}
done_all() {
	local i
	dv_stored || return 1
	for i in $(seq 1 150); do
		[ "$(ctl queue list --json | jq '[.[] | select(.state != "done")] | length')" = 0 ] &&
		    return 0
		sleep 0.1
	done
	return 1
}
sink_count() { cat "$DV_TMP/sink/count"; }

# 1. One victim, forged as victim+1@ ... victim+5@: one allowance.
replies=""
for i in 1 2 3 4 5; do
	replies="$replies$(send "victim+$i@target.example" "v$i@attacker.test" | cut -c1-9)|"
done
check_eq "victim+1..3 are accepted, victim+4 and +5 get 451 4.7.1" \
    "250 2.0.0|250 2.0.0|250 2.0.0|451 4.7.1|451 4.7.1|" "$replies"
check_match "the client is told why" "451 4.7.1 too many new cases from this sender" \
    "$(send "VICTIM+6@Target.Example" v6@attacker.test)"
check_match "the refusal is logged with the limit" \
    "case rate limit: refused with 451 4.7.1: a new case from victim@target.example for support@example.com, but the sender had 3 within the hour \(CaseRateLimit 3 8\)" \
    "$(cat "$DV_LOG")"
check "the accepted ones are recorded" done_all
# From the case's customer: under CaseJoinPolicy participant another
# address's reply would become a new, linked case in the worker.
check_eq "a reply on the victim's conversation is not a new case: it gets in" \
    "250 2.0.0" "$(send "victim+1@target.example" v7@attacker.test \
    --header "In-Reply-To: <v1@attacker.test>" | cut -c1-9)"

# 2. Many addresses of one domain: the queue's limit stops them (3 of
# its 8 are used by the victim's cases).
replies=""
for i in 1 2 3 4 5 6 7; do
	replies="$replies$(send "user$i@spray.example" "s$i@attacker.test" | cut -c1-9)|"
done
check_eq "five more new cases get in, then 451 4.7.1 for the queue" \
    "250 2.0.0|250 2.0.0|250 2.0.0|250 2.0.0|250 2.0.0|451 4.7.1|451 4.7.1|" "$replies"
check_match "the client is told the mailbox is flooded" \
    "451 4.7.1 too many new cases for this mailbox" \
    "$(send user8@spray.example s8@attacker.test)"
check "and every accepted one is recorded" done_all

# 3. What it cost: cases and acknowledgements.
check_eq "8 cases: 3 for the victim, 5 for the domain" "8 3 5" \
    "$(ctl case list --json | jq -r '[length, ([.[] | select(.customer | endswith("@target.example"))] | length), ([.[] | select(.customer | endswith("@spray.example"))] | length)] | map(tostring) | join(" ")')"
check_eq "nothing refused was recorded" "0" \
    "$(ctl activity list --json | jq '[.[] | select(.message_id | test("^(v[4-6]|s[6-8])@"))] | length')"
check_eq "the sink got 3 acknowledgements: 1 for the victim, 2 for the domain" \
    "3" "$(eventually 3 sink_count)"
sleep 1
check_eq "and no more" "3" "$(sink_count)"
check_eq "one went to the victim (its first address), two to the domain" \
    "<user1@spray.example> <user2@spray.example> <victim+1@target.example>" \
    "$(for f in "$DV_TMP"/sink/*.eml; do sed -n 2p "$f"; done | sort | tr '\n' ' ' | sed 's/ $//')"
check_eq "the other cases say which limit held their acknowledgement" \
    "not sent: rate limit for the sender:2 not sent: rate limit for the sender's domain:3 sent:3" \
    "$(ctl case list --json | jq -r '[.[] | .auto_reply] | group_by(.) | map(.[0] + ":" + (length|tostring)) | join(" ")')"

# 4. A stranger who has seen one Message-ID: under CaseJoinPolicy
# participant each of their replies becomes a new linked case, so each
# counts as a new case (to sales@, whose own limit is untouched).
replies=""
for i in 1 2 3 4; do
	replies="$replies$(TO=sales@example.com send "mallory@evil.example" "r$i@evil.example" \
	    --header "In-Reply-To: <v1@attacker.test>" | cut -c1-9)|"
done
check_eq "a stranger's replies count: 3 get in, the 4th gets 451 4.7.1" \
    "250 2.0.0|250 2.0.0|250 2.0.0|451 4.7.1|" "$replies"
check "they are recorded" done_all
check_eq "each accepted one is a new case linked to the one it named" "3" \
    "$(ctl case list --json | jq '[.[] | select(.customer == "mallory@evil.example")] | length')"
replies=""
for i in 1 2 3 4; do
	replies="$replies$(TO=sales@example.com send "support@example.com" "f$i@evil.example" \
	    --header "In-Reply-To: <v1@attacker.test>" | cut -c1-9)|"
done
check_eq "nor does forging our own queue, a party to every case: the 4th gets 451 4.7.1" \
    "250 2.0.0|250 2.0.0|250 2.0.0|451 4.7.1|" "$replies"
check_eq "the customer's own replies are not counted: another gets in" \
    "250 2.0.0" "$(TO=sales@example.com send "victim+1@target.example" v8@attacker.test \
    --header "In-Reply-To: <v1@attacker.test>" | cut -c1-9)"

pf_stop
check "dvmilter and its worker stop cleanly" dv_stop
tap_done
