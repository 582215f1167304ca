#!/bin/bash
# demo.sh - the quick start's demonstration (run by "quickstart.sh demo").
#
# Starts dvmilter with a scratch LMDB store and a throwaway Postfix on
# 127.0.0.1 wired to it, creates a few mailboxes, sends sample mail, and
# shows which recipients were accepted or refused and why. Everything it
# starts is stopped when it ends, whatever happens.
set -u
SRC=${1:?usage: demo.sh SRCDIR BUILDDIR}
BUILD=${2:?usage: demo.sh SRCDIR BUILDDIR}
export top_srcdir=$SRC top_builddir=$BUILD

bail() { echo "demo: $*" >&2; exit 1; }
. "$SRC/tests/lib/daemon.sh"
. "$SRC/tests/lib/postfix.sh"

why=$(pf_available) || bail "cannot run a test Postfix here: $why"

B=$(tput bold 2>/dev/null || true); N=$(tput sgr0 2>/dev/null || true)
step() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }

dv_tmpdir
# Postfix's smtpd runs as "postfix": give that group the socket. The
# local plugin (the default) submits acknowledgements to that Postfix,
# on loopback and without TLS, which must be allowed explicitly.
port=$(free_port) || bail "no free port"
dv_conf "InternalHosts 127.0.0.1/32" "SocketGroup postfix" \
    "Local.SubmissionURL smtp://127.0.0.1:$port" \
    "Local.SubmissionAllowPlain yes"
# Postfix logs each subject it sees, to show the acknowledgement.
printf '/^Subject:/ WARN\n' > "$DV_TMP/subjects"
step "Mailboxes, as dvmilterctl creates them (store: $DV_TMP/db)"
set -e
ctl mailbox add support@demo.example --queue --owner "Support queue" >/dev/null
ctl mailbox add alice@demo.example --owner "Alice Adams" >/dev/null
ctl mailbox approve alice@demo.example >/dev/null
ctl mailbox add bob@demo.example --owner "Bob Brown" >/dev/null
ctl mailbox reject bob@demo.example >/dev/null
ctl mailbox add carol@demo.example --owner "Carol Clark" --incoming none >/dev/null
set +e
ctl mailbox list | sed 's/^/   /'

step "Starting dvmilter and a throwaway Postfix on 127.0.0.1"
dv_start || bail "dvmilter did not start"
pf_start "$DV_TMP/postfix" "$port" "unix:$DV_SOCK" \
    "header_checks = regexp:$DV_TMP/subjects" || bail "Postfix did not start"
echo "   dvmilter on $DV_SOCK, Postfix on 127.0.0.1:$port (smtpd_milters = unix:$DV_SOCK)"

# show TITLE [-s SRC] FROM RCPT...: one transaction, reply and reason
# for each recipient.
show() {
	local title=$1 out line addr reason
	shift
	step "$title"
	out=$(smtp_send "$@")
	sleep 0.2	# let the decision lines reach the log
	printf '%s\n' "$out" | while IFS= read -r line; do
		case $line in
		"MAIL FROM:"*|"RCPT TO:"*|". =>"*)
			addr=$(printf '%s' "$line" | sed -n 's/^[A-Z ]*[A-Z]*:\(<[^>]*>\).*/\1/p')
			reason=""
			if [ -n "$addr" ]; then
				reason=$(grep -F "=$addr " "$DV_LOG" | tail -n 1 |
				    sed -n 's/.* approval=\([^ ]*\) reason=\([^ ]*\) action=\([^ ]*\).*/approval=\1, \2 -> \3/p')
			fi
			case $line in
			*"=> 2"*) mark="accepted" ;;
			*"=> 4"*) mark="deferred" ;;
			*"=> 5"*) mark="REFUSED " ;;
			*) mark="        " ;;
			esac
			[ "${line#. =>}" != "$line" ] && line="message ${line#. }"
			printf '   %-8s %s\n' "$mark" "$line"
			[ -z "$reason" ] || printf '            dvmilter: %s\n' "$reason"
			;;
		esac
	done
}

show "1. Mail to an approved mailbox" \
    -s 127.0.0.2 customer@outside.example alice@demo.example
show "2. Mail to a mailbox still pending approval (support@ is a queue)" \
    -s 127.0.0.2 customer@outside.example support@demo.example
show "3. One message, four recipients: approved, rejected, no mailbox, subaddress of a pending queue" \
    -s 127.0.0.2 customer@outside.example alice@demo.example bob@demo.example nobody@demo.example support+billing@demo.example
show "4. An internal client sends as bob@ (outgoing server-side sync, rejected)" \
    bob@demo.example customer@outside.example

step "An administrator approves support@ while everything runs"
ctl mailbox approve support@demo.example | sed 's/^/   dvmilterctl: /'
show "5. The same mail to support@ again: no reload needed" \
    -s 127.0.0.2 customer@outside.example support@demo.example

# mail FROM TO MSGID SUBJECT [swaks args]: one message from outside.
mail() {
	local from=$1 to=$2 mid=$3 subj=$4
	shift 4
	swaks --server 127.0.0.1 --port "$port" --local-interface 127.0.0.2 \
	    --from "$from" --to "$to" --helo client.demo --header "Subject: $subj" \
	    --header "Message-Id: <$mid>" "$@" >/dev/null 2>&1
}
# settle: wait until the daemon has moved what it accepted from its
# outbox log into the outbox, and the worker has handed everything over.
settle() {
	local i
	for i in $(seq 1 100); do
		[ "$(ctl queue logged)" = 0 ] &&
		    [ "$(ctl queue list --json | jq '[.[] | select(.state != "done")] | length')" = 0 ] &&
		    return 0
		sleep 0.1
	done
}

step "6. Cases: support@ routes new mail into cases, and acknowledges it"
ctl caserule set support@demo.example --auto-reply yes | sed 's/^/   dvmilterctl: /'
mail customer@outside.example support@demo.example m1@outside.example "The printer is on fire" &&
    echo "   accepted: customer@outside.example -> support@demo.example \"The printer is on fire\""
settle
ctl case list | sed 's/^/   /'
sleep 0.5
echo "   the acknowledgement, as Postfix received it from the outbox worker:"
grep -o 'header Subject: \[CAS-.*from=<> to=<[^>]*>' "$PF_LOG" | sed 's/^/     /'

token=$(ctl case show CAS-01001 --json | jq -r .tracking_token)
step "7. The customer replies (In-Reply-To), then writes again with only the token ($token)"
mail customer@outside.example support@demo.example m2@outside.example "Re: The printer is on fire" \
    --header "In-Reply-To: <m1@outside.example>"
mail customer@outside.example support@demo.example m3@outside.example "Still smoking $token"
settle
ctl case show CAS-01001 | sed 's/^/   /'

step "The decisions as dvmilter logged them"
grep -E ' (rcpt|from)=|track mailbox=|: case ' "$DV_LOG" | sed 's/^[^ ]* /   /'
step "What Postfix logged for the refusals"
grep -E 'milter-reject' "$PF_LOG" | sed 's/^/   /' | head -n 10

step "Stopping dvmilter and Postfix"
pf_stop
dv_stop && echo "   dvmilter stopped cleanly"
echo "   done; the scratch directory $DV_TMP is removed"
