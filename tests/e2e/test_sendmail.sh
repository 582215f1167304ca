#!/bin/bash
# test_sendmail.sh - end to end through Debian's Sendmail 8.17 with dvmilter
# as its INPUT_MAIL_FILTER, as the README attaches it: mail for a mailbox
# that is not approved is refused at RCPT, mixed recipients lose only the
# unapproved one, a message to a queue mailbox with a case rule becomes a
# case, and a reply joins it by In-Reply-To. With dvmilter down, F=T makes
# Sendmail tempfail. Sendmail is unpacked from its packages, not installed
# (tests/lib/sendmail.sh); every reply checked is one Sendmail sent.
set -u
. "$top_srcdir/tests/lib/tap.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root to start a Sendmail instance"
command -v swaks >/dev/null || skip_all "swaks is not installed"
command -v jq >/dev/null || skip_all "jq is not installed"

. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/lib/sendmail.sh"
why=$(sm_available) || skip_all "$why"
[ -x "$DVMILTER" ] && [ -x "$DVMILTERCTL" ] || bail "build dvmilter first"

# Sendmail puts "<rcpt>... " before a milter's RCPT reply text, and
# dvmilter's text names the recipient itself (Postfix adds nothing), so
# the address appears twice.
PENDING_TEXT="<pending@example.com>: mailbox is not approved"

dv_tmpdir
dv_conf "InternalHosts 127.0.0.1/32" \
    "PluginDir $top_builddir/plugins/local/.libs" "Plugins local"
ctl mailbox add support@example.com >/dev/null &&
ctl mailbox approve support@example.com >/dev/null &&
ctl mailbox set support@example.com --queue >/dev/null &&
ctl caserule set support@example.com --auto-reply no >/dev/null &&
ctl mailbox add pending@example.com >/dev/null ||
    bail "cannot set up mailboxes"
dv_start || bail "dvmilter did not start"
sm_start "$DV_TMP/sendmail" auto "$DV_SOCK" || bail "sendmail did not start"
DELIVERED="$SM_DIR/delivered"

# send TO[,TO] MSGID SUBJECT [extra swaks args]: from outside (127.0.0.2).
send() {
	local to=$1 mid=$2 subj=$3
	shift 3
	swaks --server 127.0.0.1 --port "$SM_PORT" --local-interface 127.0.0.2 \
	    --from ann@ext.example --to "$to" --helo client.test --timeout 60 \
	    --header "Subject: $subj" --header "Message-Id: <$mid>" "$@" 2>&1
}
# rcpt OUTPUT ADDR: Sendmail's reply to RCPT TO:<ADDR>.
rcpt() {
	printf '%s\n' "$1" | sed -n "/^ -> RCPT TO:<$2>/{n;s/^<[*-]* *//p;}" | head -n 1
}
# final OUTPUT: the reply to the end of DATA, if there was one.
final() {
	printf '%s\n' "$1" | sed -n '/^ -> \.$/{n;s/^<[*-]* *//p;}' | head -n 1
}
# delivered ADDR: how many times the test mailer got ADDR.
delivered() {
	grep -cxF "$1" "$DELIVERED" 2>/dev/null || :
}
# wait_delivered ADDR N
wait_delivered() {
	local i
	for i in $(seq 1 100); do
		[ "$(delivered "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
act_by_mid() {	# act_by_mid MSGID JQ
	ctl activity list --json | jq -r --arg m "$1" ".[] | select(.message_id == \$m) | $2"
}

check_match "Sendmail greets as the host name it was given" "^220 sm.test ESMTP Sendmail 8\.17" \
    "$(swaks --server 127.0.0.1 --port "$SM_PORT" --quit-after CONNECT 2>&1 | sed -n 's/^<- *//p' | head -n 1)"

out=$(send pending@example.com s1@ext.example "For nobody yet")
check_eq "RCPT to a mailbox not approved is refused 550 5.7.1 by the milter" \
    "550 5.7.1 <pending@example.com>... $PENDING_TEXT" "$(rcpt "$out" pending@example.com)"
check_eq "no DATA when the only recipient is refused" "" "$(final "$out")"
check_match "dvmilter logged the refusal with Sendmail's queue id" \
    "[0-9A-Za-z]{14}: rcpt=<pending@example.com> .*reason=approval-pending action=reject" "$(cat "$DV_LOG")"

out=$(send support@example.com,pending@example.com,nobody@example.com s2@ext.example "Mixed")
check_match "mixed: the approved recipient is accepted" "^250 " "$(rcpt "$out" support@example.com)"
check_eq "mixed: the unapproved recipient is refused 550 5.7.1" \
    "550 5.7.1 <pending@example.com>... $PENDING_TEXT" "$(rcpt "$out" pending@example.com)"
check_match "mixed: a recipient without a mailbox is accepted" "^250 " "$(rcpt "$out" nobody@example.com)"
check_match "mixed: the message is accepted for the others" "^250 2\.0\.0 .* Message accepted" "$(final "$out")"
check "mixed: Sendmail delivers it to support@" wait_delivered support@example.com 1
check "mixed: and to the recipient without a mailbox" wait_delivered nobody@example.com 1
check_eq "mixed: and never to the refused one" "0" "$(delivered pending@example.com)"
check "the worker records it" dv_deliveries_done

out=$(send support@example.com m1@ext.example "Printer on fire")
check_match "a new mail to the queue mailbox is accepted" "^250 2\.0\.0 " "$(final "$out")"
check "and recorded" dv_deliveries_done
check_eq "it became a case for the customer, on the queue" \
    "active support@example.com ann@ext.example Printer on fire" \
    "$(ctl case list --json | jq -r '.[] | select(.title == "Printer on fire") | [.status, .queue, .customer, .title] | join(" ")')"
case_id=$(act_by_mid m1@ext.example .case)
check_match "its activity is incoming and on the case" "^incoming [^ ]+$" \
    "$(act_by_mid m1@ext.example '.direction + " " + .case')"

out=$(send support@example.com m2@ext.example "Re: Printer on fire" --header "In-Reply-To: <m1@ext.example>")
check_match "the customer's reply is accepted" "^250 2\.0\.0 " "$(final "$out")"
check "and recorded" dv_deliveries_done
check_eq "it joins the same case by In-Reply-To" "in-reply-to $case_id" \
    "$(act_by_mid m2@ext.example '.correlation + " " + .case')"
check_eq "the case has both activities" "2" \
    "$(ctl case list --json | jq --arg id "$case_id" '.[] | select(.id == $id) | .activities | length')"

# F=T: with dvmilter down, Sendmail tempfails instead of accepting.
check "dvmilter stops cleanly" dv_stop
out=$(send support@example.com m3@ext.example "While down")
check_match "with dvmilter down, Sendmail tempfails the mail (F=T)" "^4[0-9][0-9] " \
    "$(printf '%s\n' "$out" | sed -n 's/^<\*\* *//p' | head -n 1)"
sleep 1
check_eq "and delivers nothing" "3" "$(delivered support@example.com)"

sm_stop
tap_done
