#!/bin/bash
# test_postfix_dedup.sh - deduplication never loses content, through a
# real Postfix on 127.0.0.1 (issue 12, item 2). The attack: a case mail
# to support@, then a 5-byte mail to bob@ that reuses its Message-ID.
# Both become activities; the second names the first as collided_with;
# the first keeps its content, recipients and case; replies still find
# the first. And the same message in two SMTP transactions (the way a
# relay splits recipients, or a client retries) still folds into one
# entry, Postfix's own Received headers notwithstanding.
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
for a in support@example.com bob@example.com alice@example.com; do
	ctl mailbox add "$a" >/dev/null && ctl mailbox approve "$a" >/dev/null ||
	    bail "cannot set up mailboxes"
done
ctl mailbox set support@example.com --queue >/dev/null
ctl mailbox set bob@example.com --filter all >/dev/null
ctl mailbox set alice@example.com --filter all >/dev/null
# Cases, without acknowledgements (not what this tests).
ctl caserule set support@example.com --auto-reply no >/dev/null ||
    bail "caserule set failed"
dv_start || bail "dvmilter did not start"

# send FILE TO[,TO]: the message in FILE as it is (headers and body), in
# one SMTP transaction from outside.
send() {
	swaks --server 127.0.0.1 --port "$PF_PORT" --local-interface 127.0.0.2 \
	    --from "$(sed -n 's/^From: .*<\(.*\)>.*/\1/p' "$1" | head -n 1)" \
	    --to "$2" --helo client.test --timeout 60 --data "$1" \
	    >"$DV_TMP/swaks.out" 2>&1
}
done_all() {
	local i
	dv_stored || return 1
	for i in $(seq 1 150); do
		[ "$(ctl outbox list --json | jq '[.[] | select(.state != "done")] | length')" = 0 ] &&
		    return 0
		sleep 0.1
	done
	return 1
}
acts() {	# acts MSGID JQ: the activities with Message-ID MSGID, sorted by id
	ctl activity list --json |
	    jq -r --arg m "$1" "[.[] | select(.message_id == \$m)] | sort_by(.id) | $2"
}
entries() { ctl outbox list --json | jq '[.[].id] | unique | length'; }

# The customer's case mail, as her mail system wrote it.
cat > "$DV_TMP/case.eml" <<'MAIL'
From: Ann Example <ann@ext.example>
To: support@example.com
Subject: Printer on fire
Date: Tue, 08 Dec 2026 03:00:00 +0000
Message-ID: <case-1@ext.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii

The printer on floor 2 is on fire. Please send someone.
Ann
MAIL
# The attacker has seen that Message-ID (a CC, an archive) and sends 5
# bytes to bob@ with it.
cat > "$DV_TMP/attack.eml" <<'MAIL'
From: Mallory <mallory@evil.example>
To: bob@example.com
Subject: x
Message-ID: <case-1@ext.example>

hello
MAIL

check "the case mail to support@ is accepted" send "$DV_TMP/case.eml" support@example.com
check "and recorded" done_all
first=$(acts case-1@ext.example '.[0].id')
before=$(ctl activity show "$first" --json | jq -cS 'del(.modified)')
check_eq "it is one activity on a new case" "1 CAS-01001" \
    "$(acts case-1@ext.example 'length|tostring') $(ctl case list --json | jq -r '.[0].number')"

check "the 5-byte mail to bob@ with the same Message-ID is accepted" send "$DV_TMP/attack.eml" bob@example.com
check "and recorded" done_all
check_eq "two outbox entries, two activities" "2 2" \
    "$(entries) $(acts case-1@ext.example 'length|tostring')"
second=$(acts case-1@ext.example '.[1].id')
check_eq "the second names the first as collided_with" "$first" \
    "$(ctl activity show "$second" --json | jq -r .collided_with)"
check_eq "the second is the attacker's, for bob@ only" "mallory@evil.example bob@example.com hello" \
    "$(ctl activity show "$second" --json | jq -r '[.from, (.mailboxes | join(",")), (.text | rtrimstr("\n") | rtrimstr("\r"))] | join(" ")')"
check_eq "the first activity is unchanged: content, recipients, case" "$before" \
    "$(ctl activity show "$first" --json | jq -cS 'del(.modified)')"
check_eq "the first has no collided_with" "null" \
    "$(ctl activity show "$first" --json | jq -r .collided_with)"
check_match "activity show prints the collision" \
    "collided: +Message-ID first used by activity $first" "$(ctl activity show "$second")"
check_eq "outbox show names the earlier entry, and each has its own digest" \
    "null $((16#$first)) 2" \
    "$(ctl outbox show "$((16#$first))" --json | jq .collided_with) $(ctl outbox show "$((16#$second))" --json | jq .collided_with) $(ctl outbox list --json | jq -r '.[].id' | while read -r e; do ctl outbox show "$e" --json | jq -r .digest; done | sort -u | grep -c '^[0-9a-f]\{64\}$')"
check_match "and its text view says so" "collided: +another message reused the Message-ID of entry $((16#$first))" \
    "$(ctl outbox show "$((16#$second))")"
check_eq "the case still has only the first activity" "1" \
    "$(ctl case show CAS-01001 --json | jq '.activities | length')"
check_match "the daemon logged it with the queue id and both entries" \
    ": Message-ID <case-1@ext.example> is that of outbox entry $((16#$first)), with other content: stored as outbox entry $((16#$second)), collided_with=$((16#$first))" \
    "$(cat "$DV_LOG")"
check_match "the log line has the queue id Postfix gave" \
    "dvmilter\[warning\]: [0-9A-F]{6,}: Message-ID <case-1@ext.example> is that of" "$(cat "$DV_LOG")"

# The customer replies to her own mail: it joins her case, not the
# attacker's activity.
cat > "$DV_TMP/reply.eml" <<'MAIL'
From: Ann Example <ann@ext.example>
To: support@example.com
Subject: Re: Printer on fire
Date: Tue, 08 Dec 2026 03:10:00 +0000
Message-ID: <case-2@ext.example>
In-Reply-To: <case-1@ext.example>

Still burning.
MAIL
check "her reply is accepted" send "$DV_TMP/reply.eml" support@example.com
check "and recorded" done_all
check_eq "it correlates with the first activity and joins its case" "in-reply-to $first CAS-01001" \
    "$(acts case-2@ext.example '.[0] | .correlation + " " + .correlated_activity') $(ctl case list --json | jq -r --arg c "$(acts case-2@ext.example '.[0].case')" '.[] | select(.id == $c) | .number')"

# The same message in two transactions: one to support@, one to alice@
# (a relay splitting the recipients; a client retrying is the same).
cat > "$DV_TMP/both.eml" <<'MAIL'
From: Carl Example <carl@ext.example>
To: support@example.com, alice@example.com
Subject: For you both
Date: Tue, 08 Dec 2026 03:20:00 +0000
Message-ID: <both-1@ext.example>

One message, two transactions.
MAIL
n=$(entries)
check "the first transaction is accepted" send "$DV_TMP/both.eml" support@example.com
check "the second transaction of the same message is accepted" send "$DV_TMP/both.eml" alice@example.com
check "and recorded" done_all
check_eq "they fold into one entry and one activity for both mailboxes" \
    "$((n + 1)) 1 alice@example.com,support@example.com null" \
    "$(entries) $(acts both-1@ext.example 'length|tostring') $(acts both-1@ext.example '.[0].mailboxes | sort | join(",")') $(acts both-1@ext.example '.[0].collided_with')"
check_eq "no collision was logged for it" "0" "$(grep -c 'Message-ID <both-1@ext.example> is that of' "$DV_LOG")"

pf_stop
check "dvmilter and its worker stop cleanly" dv_stop
tap_done
