#!/bin/bash
# test_postfix_auth.sh - sender authenticity end to end, through a real
# Postfix on 127.0.0.1 with a verifier milter (tests/e2e/armilter.py, a
# stand-in for OpenDMARC) before dvmilter in smtpd_milters: dvmilter sees
# the Authentication-Results header the milter before it adds; under
# CaseJoinPolicy participant a reply from a non-participant with a valid
# In-Reply-To becomes a new case linked to the one it named, and a
# participant's reply joins; a header sent by the client with an
# untrusted id is ignored; one that claims the trusted id is removed
# before dvmilter sees it, by the verifier (RFC 8601 section 5) on one
# listener and by Postfix header_checks on another (and when nothing
# strips it, the verifier's own header above it wins); a trusted dmarc=fail
# From is neither a case participant, nor acknowledged, nor a known
# sender.
set -u
. "$top_srcdir/tests/lib/tap.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root to start a Postfix instance"
command -v postfix >/dev/null || skip_all "postfix is not installed"
command -v swaks >/dev/null || skip_all "swaks is not installed"
command -v jq >/dev/null || skip_all "jq is not installed"
# Debian's python3-milter is for Debian's python3, whatever is first in PATH.
PY=/usr/bin/python3
"$PY" -c "import Milter" 2>/dev/null ||
    skip_all "python3-milter is not installed (contrib/install-deps.sh)"

. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/lib/postfix.sh"
why=$(pf_available) || skip_all "$why"

verifiers=""
# Each runs under timeout(1) in a process group of its own; libmilter
# takes a moment to stop on SIGTERM, so the group is then killed.
stop_verifiers() {
	local v i
	[ -n "$verifiers" ] || return 0
	kill -TERM $verifiers 2>/dev/null
	for i in $(seq 1 20); do
		kill -0 $verifiers 2>/dev/null || break
		sleep 0.1
	done
	for v in $verifiers; do kill -KILL -- "-$v" 2>/dev/null; done
	verifiers=""
}
trap 'stop_verifiers; _dv_cleanup' EXIT
dv_tmpdir
dv_spooldir "$DV_TMP/spool"
RESULTS=$DV_TMP/results
# What the verifier finds, by envelope sender; anyone else: dmarc=none.
cat > "$RESULTS" <<'EOF'
ann@ext.example dmarc=pass (p=none dis=none) header.from=ext.example
forger@ext.example dmarc=fail (p=reject dis=none) header.from=ext.example
EOF
# The verifier: strips forged headers with its id (first listener), or
# leaves that to Postfix's header_checks (second listener).
start_verifier() {	# start_verifier NAME [args...]
	local sock=$DV_TMP/$1.sock i
	shift
	(umask 0; exec timeout -s TERM "$DV_TIMEOUT" "$PY" \
	    "$top_srcdir/tests/e2e/armilter.py" --socket "unix:$sock" \
	    --authserv-id mx.test --results "$RESULTS" "$@" \
	    >>"$DV_TMP/armilter.log" 2>&1) &
	verifiers="$verifiers $!"
	for i in $(seq 1 100); do
		[ -S "$sock" ] && return 0
		sleep 0.1
	done
	return 1
}
start_verifier strip --strip || bail "the verifier milter did not start"
start_verifier plain || bail "the second verifier milter did not start"
printf '/^Authentication-Results:[[:space:]]*mx\\.test[[:space:];]/ IGNORE\n' \
    > "$DV_TMP/authres_checks"

dv_conf "SocketMode 0660" "SocketGroup postfix" "InternalHosts 127.0.0.1/32" \
    "PluginDir $top_builddir/plugins/local/.libs" "Plugins local" \
    "SpoolDirectory $DV_TMP/spool" "TrustedAuthservIDs mx.test" \
    "CaseJoinPolicy participant"
port2=$(free_port) || bail "no free port"
port3=$(free_port) || bail "no free port"
[ "$port3" != "$port2" ] || port3=$(free_port) || bail "no free port"
pf_start "$DV_TMP/postfix" auto "unix:$DV_TMP/strip.sock, unix:$DV_SOCK" \
    "master.cf: 127.0.0.1:$port2 inet n - n - - smtpd -o smtpd_milters=unix:$DV_TMP/plain.sock,unix:$DV_SOCK -o cleanup_service_name=cleanup2" \
    "master.cf: cleanup2 unix n - n - 0 cleanup -o header_checks=regexp:$DV_TMP/authres_checks" \
    "master.cf: 127.0.0.1:$port3 inet n - n - - smtpd -o smtpd_milters=unix:$DV_TMP/plain.sock,unix:$DV_SOCK" ||
    bail "postfix did not start"
for a in support@example.com picky@example.com; do
	ctl mailbox add "$a" >/dev/null && ctl mailbox approve "$a" >/dev/null ||
	    bail "cannot set up mailboxes"
done
ctl mailbox set support@example.com --queue >/dev/null
ctl mailbox set picky@example.com --filter known-senders >/dev/null
ctl caserule set support@example.com --auto-reply yes --reopen-days 7 >/dev/null ||
    bail "caserule set failed"
dv_start || bail "dvmilter did not start"

# mail PORT ENVFROM MSGID SUBJECT [swaks args]: from outside (127.0.0.2).
mail() {
	local port=$1 from=$2 mid=$3 subj=$4
	shift 4
	swaks --server 127.0.0.1 --port "$port" --local-interface 127.0.0.2 \
	    --from "$from" --to support@example.com --helo client.test \
	    --timeout 60 --header "Subject: $subj" \
	    --header "Message-Id: <$mid>" "$@" >"$DV_TMP/swaks.out" 2>&1
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
act() {	# act MSGID JQ
	ctl activity list --json | jq -r --arg m "$1" ".[] | select(.message_id == \$m) | $2"
}
number_of() {	# the number of the case of message MSGID
	local id
	id=$(act "$1" .case)
	ctl case list --json | jq -r --arg id "$id" '.[] | select(.id == $id) | .number'
}
show() {	# the "auth:" and "case join:" lines of activity MSGID
	ctl activity show "$(act "$1" .id)" | grep -E '^(auth|case join):'
}

check "ann's new mail is accepted" mail "$PF_PORT" ann@ext.example m1@ext.example "Printer on fire"
check "and recorded" done_all
check_eq "it is case CAS-01001" "CAS-01001" "$(number_of m1@ext.example)"
check_match "dvmilter saw the header the milter before it added" \
    "authentication dmarc=pass dkim=none authserv-id=mx.test trusted=1 ignored=0" "$(cat "$DV_LOG")"
check_match "the activity records the verdict" "^auth: +dmarc=pass dkim=none authserv-id=mx.test" \
    "$(show m1@ext.example)"

check "a stranger's reply with a valid In-Reply-To is accepted" \
    mail "$PF_PORT" mallory@evil.example m2@evil.example "Re: Printer on fire" \
    --header "In-Reply-To: <m1@ext.example>"
check "and recorded" done_all
check_eq "it is a new case" "CAS-01002" "$(number_of m2@evil.example)"
check_match "its activity says why" \
    "case join: +refused CAS-01001 \(policy participant\): the sender mallory@evil.example is not a participant of CAS-01001" \
    "$(show m2@evil.example)"
check_match "case show links the new case to the one it named" \
    "parent case: +$(ctl case show CAS-01001 --json | jq -r .id)" "$(ctl case show CAS-01002)"
check_match "and the named case to the new one" "linked cases: +CAS-01002" "$(ctl case show CAS-01001)"
check_eq "the named case did not get the message" "1" \
    "$(ctl case show CAS-01001 --json | jq '.activities | length')"

check "the customer's reply is accepted" mail "$PF_PORT" ann@ext.example m3@ext.example "Re: Printer on fire" \
    --header "In-Reply-To: <m1@ext.example>"
check "and recorded" done_all
check_eq "it joins her case" "CAS-01001" "$(number_of m3@ext.example)"
check_match "as a participant" "case join: +joined CAS-01001 \(policy participant\): the sender ann@ext.example is a participant of CAS-01001, authenticated" \
    "$(show m3@ext.example)"

token=$(ctl case show CAS-01001 --json | jq -r .tracking_token)
check "a client's header with an untrusted id is accepted" \
    mail "$PF_PORT" mallory@evil.example m4@evil.example "Re: Printer on fire $token" \
    --header "In-Reply-To: <m1@ext.example>" \
    --header "Authentication-Results: evil.test; dmarc=pass header.from=evil.example"
check "and recorded" done_all
check_match "it is ignored" "authentication dmarc=none dkim=none authserv-id=mx.test trusted=1 ignored=1" \
    "$(cat "$DV_LOG")"
check_eq "so the stranger's token does not get in: a new case" "CAS-01003" "$(number_of m4@evil.example)"

# A header claiming the trusted id: removed before dvmilter, by the
# verifier on the first listener and by header_checks on the second.
forged="mx.test; dkim=pass header.d=evil.example; dmarc=pass header.from=evil.example"
check "a client's header with the trusted id is accepted (verifier strips)" \
    mail "$PF_PORT" mallory@evil.example m5@evil.example "Re: Printer on fire $token" \
    --header "Authentication-Results: $forged"
check "a client's header with the trusted id is accepted (header_checks strip)" \
    mail "$port2" mallory@evil.example m6@evil.example "Re: Printer on fire $token" \
    --header "Authentication-Results: $forged"
check "and recorded" done_all
for m in m5@evil.example m6@evil.example; do
	check_eq "$m: dvmilter was never shown the forged header" "" \
	    "$(act "$m" .headers | grep -F 'dkim=pass header.d=evil.example')"
	check_match "$m: so its token does not get in" "case join: +refused CAS-01001 .* not authenticated" \
	    "$(show "$m")"
done
check_eq "the second listener's verifier did add its header" "1" \
    "$(act m6@evil.example .headers | grep -c '^Authentication-Results: mx.test; dmarc=none')"

# Not stripped (a misconfigured border): the verifier's own header is
# above the client's, and for each method the topmost trusted one counts.
check "a forged trusted dmarc=pass that nothing strips is accepted" \
    mail "$port3" mallory@evil.example m10@evil.example "Re: Printer on fire $token" \
    --header "Authentication-Results: mx.test; dmarc=pass header.from=evil.example"
check "and recorded" done_all
check_match "dvmilter saw both and believed the verifier's, on top" \
    "authentication dmarc=none dkim=none authserv-id=mx.test trusted=2 ignored=0" "$(cat "$DV_LOG")"
check_match "so the token does not get in" "case join: +refused CAS-01001 .* not authenticated" \
    "$(show m10@evil.example)"

# A From of the customer that fails DMARC.
check "mail with the customer's From failing DMARC is accepted" \
    mail "$PF_PORT" forger@ext.example m7@ext.example "Re: Printer on fire" \
    --header "In-Reply-To: <m1@ext.example>" --header "From: ann@ext.example"
check "and recorded" done_all
check_match "it may not join her case" "case join: +refused CAS-01001 .*: the sender ann@ext.example fails DMARC" \
    "$(show m7@ext.example)"
check_eq "and its new case is not acknowledged" "not sent: the sender fails DMARC (trusted dmarc=fail)" \
    "$(ctl case show "$(number_of m7@ext.example)" --json | jq -r .auto_reply)"
check "ann's own mail to a known-senders mailbox is accepted" \
    swaks --server 127.0.0.1 --port "$PF_PORT" --local-interface 127.0.0.2 \
    --from ann@ext.example --to picky@example.com --helo client.test \
    --header "Message-Id: <m9@ext.example>" --timeout 60 --silent 3
check "and recorded" done_all
check_match "she is a known sender (the case rule made her a contact)" \
    "track mailbox=picky@example.com filter=known-senders tracked=yes .*reason=known sender" \
    "$(cat "$DV_LOG")"
check "a forger's, with her address in From, is accepted" \
    swaks --server 127.0.0.1 --port "$PF_PORT" --local-interface 127.0.0.2 \
    --from forger@ext.example --to picky@example.com --helo client.test \
    --header "From: ann@ext.example" --header "Message-Id: <m8@ext.example>" \
    --timeout 60 --silent 3
check "and decided" dv_stored
check_match "a DMARC fail is not a known sender" \
    "track mailbox=picky@example.com filter=known-senders tracked=no .*reason=unknown sender: trusted dmarc=fail" \
    "$(cat "$DV_LOG")"

pf_stop
stop_verifiers
check "dvmilter and its worker stop cleanly" dv_stop
tap_done
