#!/bin/bash
# test_postfix_cases.sh - the local plugin end to end, through a real
# Postfix on 127.0.0.1: mail to support@ becomes a case, replies land on
# it by In-Reply-To or by the tracking token alone, a forged token does
# not attach, one message for two mailboxes is one activity, the
# acknowledgement goes out once through Postfix and never to
# Auto-Submitted mail, outgoing mail gets the token in its subject, a
# resolved case reopens, and a worker killed again and again while mail
# arrives loses and duplicates nothing.
set -u
. "$top_srcdir/tests/lib/tap.sh"

. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/lib/postfix.sh"
pf_require swaks jq

dv_tmpdir
dv_spooldir "$DV_TMP/spool"
# Postfix logs every subject, and every subject a milter changes.
printf '/^Subject:/ WARN\n' > "$DV_TMP/subjects"
dv_conf "SocketMode 0660" "SocketGroup postfix" "InternalHosts 127.0.0.1/32" \
    "PluginDir $top_builddir/plugins/local/.libs" "Plugins local" \
    "SpoolDirectory $DV_TMP/spool"
pf_start "$DV_TMP/postfix" auto "unix:$DV_SOCK" \
    "header_checks = regexp:$DV_TMP/subjects" \
    "milter_header_checks = regexp:$DV_TMP/subjects" ||
    bail "postfix did not start"
# The acknowledgements are submitted to this very Postfix.
printf 'Local.SubmissionURL smtp://127.0.0.1:%s\nLocal.SubmissionAllowPlain yes\n' \
    "$PF_PORT" >> "$DV_CONF"
for a in support@example.com alice@example.com; do
	ctl mailbox add "$a" >/dev/null && ctl mailbox approve "$a" >/dev/null ||
	    bail "cannot set up mailboxes"
done
ctl mailbox set support@example.com --queue >/dev/null
ctl mailbox set alice@example.com --filter all >/dev/null
ctl caserule set support@example.com --auto-reply yes --reopen-days 7 >/dev/null ||
    bail "caserule set failed"
dv_start || bail "dvmilter did not start"

# mail FROM TO[,TO] MSGID SUBJECT [extra swaks args]: from 127.0.0.2
# (outside) unless FROM is @example.com (then from 127.0.0.1, inside).
mail() {
	local from=$1 to=$2 mid=$3 subj=$4 src=127.0.0.2
	shift 4
	case $from in *@example.com) src=127.0.0.1 ;; esac
	swaks --server 127.0.0.1 --port "$PF_PORT" --local-interface "$src" \
	    --from "$from" --to "$to" --helo client.test --timeout 60 \
	    --header "Subject: $subj" --header "Message-Id: <$mid>" "$@" \
	    >"$DV_TMP/swaks.out" 2>&1
}
# done_all: every outbox delivery finished.
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
act_by_mid() {	# act_by_mid MSGID JQ
	ctl activity list --json | jq -r --arg m "$1" ".[] | select(.message_id == \$m) | $2"
}
ncases() { ctl case list --json | jq length; }
acks_to() {	# how many acknowledgements Postfix took for $1
	grep -c "warning: header Subject: \[CAS-.*from=<> to=<$1>" "$PF_LOG"
}
wait_acks() {	# wait_acks ADDR N
	local i
	for i in $(seq 1 100); do
		[ "$(acks_to "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

check "a new mail to support@ is accepted" mail ann@ext.example support@example.com m1@ext.example "Printer on fire"
check "the worker records it" done_all
check_eq "it became case CAS-01001, active, for the customer" \
    "CAS-01001 active support@example.com ann@ext.example Printer on fire" \
    "$(ctl case show CAS-01001 --json | jq -r '[.number, .status, .queue, .customer, .title] | join(" ")')"
check_eq "the case JSON has the documented keys" "activities customer id number queue status title tracking_token" \
    "$(ctl case show CAS-01001 --json | jq -r '[keys[] | select(IN("id","number","title","status","queue","customer","tracking_token","activities"))] | join(" ")')"
case_id=$(ctl case show CAS-01001 --json | jq -r .id)
token=$(ctl case show CAS-01001 --json | jq -r .tracking_token)
check_eq "its activity is incoming, uncorrelated and on the case" "incoming none $case_id" \
    "$(act_by_mid m1@ext.example '.direction + " " + .correlation + " " + .case')"
check "the acknowledgement went out through Postfix" wait_acks ann@ext.example 1
check_match "with the case number and the tracking token in its subject" \
    "header Subject: \[CAS-01001\] Received: Printer on fire $token from" "$(cat "$PF_LOG")"
check_match "a contact was created for the customer" "ann@ext.example" "$(ctl contact list)"

check "the customer's reply is accepted" mail ann@ext.example support@example.com m2@ext.example "Re: Printer on fire" \
    --header "In-Reply-To: <m1@ext.example>"
check "and recorded" done_all
check_eq "it is attached to the same case by In-Reply-To" "in-reply-to $case_id" \
    "$(act_by_mid m2@ext.example '.correlation + " " + .case')"
check "a reply with only the token in the subject is accepted" \
    mail ann@ext.example support@example.com m3@ext.example "More smoke $token"
check "and recorded" done_all
check_eq "it is attached to the same case by the token" "tracking-token $case_id" \
    "$(act_by_mid m3@ext.example '.correlation + " " + .case')"
check_eq "the case lists its three activities" "3" "$(ctl case show CAS-01001 --json | jq '.activities | length')"

forged="${token%?}$( [ "${token: -1}" = A ] && echo B || echo A)"
check "a message with a forged token is accepted" \
    mail mallory@evil.example support@example.com m4@evil.example "Mine now $forged"
check "and recorded" done_all
check_eq "it does not attach: it is a new case" "none CAS-01002" \
    "$(act_by_mid m4@evil.example .correlation) $(ctl case list --json | jq -r --arg id "$(act_by_mid m4@evil.example .case)" '.[] | select(.id == $id) | .number')"
check_match "the invalid token is logged" "invalid tracking token in subject ignored" "$(cat "$DV_LOG")"

check "one message to support@ and alice@ is accepted" \
    mail bob@ext.example support@example.com,alice@example.com m5@ext.example "For you both"
check "and recorded" done_all
check_eq "it is one activity for both mailboxes" "1 alice@example.com support@example.com" \
    "$(ctl activity list --json | jq -r '[.[] | select(.message_id == "m5@ext.example")] | (length|tostring) + " " + (.[0].mailboxes | sort | join(" "))')"

check "an Auto-Submitted message is accepted" mail robot@ext.example support@example.com m6@ext.example "Delivery report" \
    --header "Auto-Submitted: auto-generated"
check "and recorded" done_all
check_eq "it makes a case that is not acknowledged" "not sent: the message is Auto-Submitted" \
    "$(ctl case list --json | jq -r '.[] | select(.customer == "robot@ext.example") | .auto_reply')"
sleep 1
check_eq "nothing was sent to it" "0" "$(acks_to robot@ext.example)"
check_eq "and ann got exactly one acknowledgement for her three mails" "1" "$(acks_to ann@ext.example)"

# A user who tracks mail from known senders only: the contacts the case
# rule created count.
ctl mailbox add picky@example.com --filter known-senders >/dev/null
ctl mailbox approve picky@example.com >/dev/null
check "mail from a customer with a contact is accepted" mail ann@ext.example picky@example.com p1@ext.example "Hello Picky"
check "mail from a stranger is accepted" mail stranger@ext.example picky@example.com p2@ext.example "Hello Picky"
check "and recorded" done_all
check_eq "only the contact's mail is tracked for the known-senders mailbox" "1 0" \
    "$(ctl activity list --json | jq '[.[] | select(.message_id == "p1@ext.example")] | length') $(ctl activity list --json | jq '[.[] | select(.message_id == "p2@ext.example")] | length')"
check_match "the filter decision is logged" "track mailbox=picky@example.com filter=known-senders tracked=yes .*reason=known sender" "$(cat "$DV_LOG")"
check "a customer writing as a subaddress gets a case" mail Dora+Shop@ext.example support@example.com p3@ext.example "Order 7"
check "and recorded" done_all
check "then writes to the known-senders mailbox" mail Dora+Shop@ext.example picky@example.com p4@ext.example "Hello again"
check "and recorded" done_all
check_eq "the contact, kept under the address as written, is known" "1" \
    "$(ctl activity list --json | jq '[.[] | select(.message_id == "p4@ext.example")] | length')"

# Outgoing: an agent answers; the milter puts the token in the subject.
check "the agent's answer is accepted" mail alice@example.com ann@ext.example o1@example.com "Re: Printer on fire" \
    --header "In-Reply-To: <m2@ext.example>"
check "and recorded" done_all
check_eq "it is an outgoing activity on the case" "outgoing in-reply-to $case_id" \
    "$(act_by_mid o1@example.com '.direction + " " + .correlation + " " + .case')"
out_token=$(sed -n 's/.*: tracking token \(CRM:[0-9]*-[0-9A-Z]*\) added to the subject.*/\1/p' "$DV_LOG" | tail -n 1)
check_match "the milter added a tracking token to its subject" "^CRM:" "$out_token"
check_match "Postfix saw the changed subject" "header Subject: Re: Printer on fire $out_token from .*from=<alice@example.com>" "$(cat "$PF_LOG")"
# A first Subject too long for the milter to keep (8 KB and more, which
# miltertest cannot send) is neither rewritten nor joined by a second
# Subject with the token, and a later short Subject does not stand in.
tokens_before=$(grep -c "tracking token .* added to the subject" "$DV_LOG")
long_subject="New: $(head -c 9000 /dev/zero | tr '\0' 's')"
check "outgoing mail with a 9 KB subject is accepted" mail alice@example.com ann@ext.example o-long@example.com "$long_subject" \
    --add-header "Subject: short"
check "and recorded" done_all
check_eq "the milter added no token to either Subject" "$tokens_before" \
    "$(grep -c "tracking token .* added to the subject" "$DV_LOG")"
check "the customer answers with only that subject" mail ann@ext.example support@example.com m7@ext.example "Re: Re: Printer on fire $out_token"
check "and recorded" done_all
check_eq "and lands on the case" "tracking-token $case_id" "$(act_by_mid m7@ext.example '.correlation + " " + .case')"

# Resolve, reopen.
check "case resolve (numbers in any case)" ctl case resolve cas-01001
check_eq "the case is resolved" "resolved" "$(ctl case show CAS-01001 --json | jq -r .status)"
check "a late reply is accepted" mail ann@ext.example support@example.com m8@ext.example "Re: Printer on fire" \
    --header "In-Reply-To: <m1@ext.example>"
check "and recorded" done_all
check_eq "it reopens the case resolved less than 7 days ago" "active $case_id" \
    "$(ctl case show CAS-01001 --json | jq -r .status) $(act_by_mid m8@ext.example .case)"
check "case reopen of an active case exits 1" bash -c "! '$DVMILTERCTL' -c '$DV_CONF' case reopen CAS-01001 2>/dev/null"
check_match "case list shows it" "CAS-01001 +active +support@example.com +ann@ext.example +6 +Printer on fire" "$(ctl case list)"

# The worker killed again and again while mail arrives.
wpid() { pgrep -f -- "dvmilter-[w]orker -c $DV_CONF" | head -n 1; }
before=$(ncases)
senders=()
for i in $(seq 1 12); do
	mail "c$i@ext.example" support@example.com "k$i@ext.example" "Burst $i" &
	senders+=($!)
	if [ $((i % 3)) = 0 ]; then
		p=$(wpid); [ -n "$p" ] && kill -KILL "$p"
	fi
	sleep 0.1
done
wait "${senders[@]}"	# not the daemon, which is a child too
for _ in $(seq 1 100); do
	[ "$(ctl queue list --json | jq '[.[] | select(.message_id | startswith("k"))] | length')" = 12 ] && break
	sleep 0.1
done
check "after the kills every burst message is recorded" bash -c "for i in \$(seq 1 300); do
	[ \"\$('$DVMILTERCTL' -c '$DV_CONF' queue list --json | jq '[.[] | select(.state != \"done\")] | length')\" = 0 ] && exit 0; sleep 0.1; done; exit 1"
check_eq "twelve activities, twelve new cases, none twice" "12 $((before + 12)) 12" \
    "$(ctl activity list --json | jq '[.[] | select(.message_id | startswith("k"))] | length') $(ncases) $(ctl case list --json | jq '[.[] | select(.title | startswith("Burst")) | .activities[]] | unique | length')"
check_match "the daemon restarted the worker" "worker .*(killed|signal)" "$(cat "$DV_LOG")"

pf_stop
check "dvmilter and its worker stop cleanly" dv_stop
tap_done
