#!/bin/bash
# test_protocol.sh - drive the real dvmilter over the milter protocol with
# Debian's miltertest: negotiation, RCPT and MAIL decisions, bad input,
# a 1,000-recipient transaction, probes, aborts, and store failures.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/lib/mt.sh"

command -v miltertest >/dev/null || skip_all "miltertest is not installed"
LUA="$top_srcdir/tests/milter"
dv_tmpdir
dv_conf "MaxRecipients 1000" "Plugins none"	# envelope only


ctl mailbox add approved@example.com >/dev/null
ctl mailbox approve approved@example.com >/dev/null
ctl mailbox add pending@example.com >/dev/null
ctl mailbox add rejected@example.com >/dev/null
ctl mailbox reject rejected@example.com >/dev/null
ctl mailbox add support@example.com --queue >/dev/null
ctl mailbox add "carol@bücher.example" >/dev/null
ctl mailbox add sender@example.com --incoming none >/dev/null
ctl mailbox add outlooker@example.com --outgoing outlook >/dev/null
{
	echo "address,approval"
	for i in $(seq 1 1000); do
		if [ $((i % 10)) -eq 0 ]; then echo "bulk$i@bulk.example,pending"
		else echo "bulk$i@bulk.example,approved"; fi
	done
} > "$DV_TMP/bulk.csv"
ctl mailbox import "$DV_TMP/bulk.csv" >/dev/null || bail "import failed"

dv_start || bail "dvmilter did not start"

mt_check "negotiation skips HELO, headers, body, EOH and unknown; requests only SETSYMLIST" \
    negotiate.lua
mt_check "rcpt to approved mailbox continues; data accepted without content" \
    session.lua rcpts="<approved@example.com>" expect=continue
# A connection that ended must close only its own descriptors: once it
# closed fd 0 (its never-used spool's zeroed fd), and the next accepted
# connection, given fd 0, was reset under Postfix by the one after.
check_eq "closing connections leaves the daemon's standard input open" "/dev/null" \
    "$(readlink "/proc/$DV_DAEMON_PID/fd/0")"
mt_check "rcpt to pending mailbox refused" \
    session.lua rcpts="<pending@example.com>" expect=reply
mt_check "rcpt to rejected mailbox refused" \
    session.lua rcpts="<rejected@example.com>" expect=reply
mt_check "rcpt to unknown address continues" \
    session.lua rcpts="<nobody@example.com>" expect=continue
mt_check "mixed transaction refuses only the unapproved recipients" \
    session.lua rcpts="<approved@example.com>,<pending@example.com>,<nobody@example.com>,<rejected@example.com>" \
    expect=continue,reply,continue,reply
mt_check "subaddress, case and IDN U-label find the stored mailbox" \
    session.lua rcpts="<Support+Acme@EXAMPLE.com>,<carol@BÜCHER.example>" expect=reply,reply
mt_check "unapproved outgoing sender from an internal host refused at MAIL FROM" \
    session.lua client=127.0.0.1 from="<sender@example.com>" from_expect=reply
mt_check "authenticated unapproved sender refused at MAIL FROM" \
    session.lua client=192.0.2.9 auth=sender@example.com from="<sender@example.com>" from_expect=reply
mt_check "unapproved sender from an outside host is not checked" \
    session.lua client=192.0.2.9 from="<sender@example.com>" rcpts="<approved@example.com>" expect=continue
mt_check "sender whose outgoing method is outlook is not checked" \
    session.lua client=127.0.0.1 from="<outlooker@example.com>" rcpts="<approved@example.com>" expect=continue
mt_check "null sender from an internal host passes" \
    session.lua client=127.0.0.1 from="<>" rcpts="<approved@example.com>" expect=continue
mt_check "IPv6 internal client is recognised" \
    session.lua client=::1 from="<sender@example.com>" from_expect=reply
long=$(printf 'x%.0s' $(seq 1 600))
mt_check "malformed and overlong recipients refused, the transaction goes on" \
    session.lua rcpts="<bad@@example.com>,<$long@example.com>,<no-domain>,<approved@example.com>" \
    expect=reply,reply,reply,continue
mt_check "1,000 recipients each get their own decision; the 1,001st is refused" \
    many.lua count=1000
mt_check "probe connections, aborts and several transactions per connection" \
    lifecycle.lua
mt_check "queue id macro is used in the log once the MTA sends it" \
    session.lua qid=4XyZ12abc rcpts="<pending@example.com>" expect=reply

log=$(cat "$DV_LOG")
check_match "pending recipient logged with reason and reply" \
    'NOQUEUE: rcpt=<pending@example.com> mailbox=pending@example.com approval=pending reason=approval-pending action=reject reply="550 5.7.1 <pending@example.com>: mailbox is not approved" client=192.0.2.1' "$log"
check_match "decision line carries the queue id" \
    '4XyZ12abc: rcpt=<pending@example.com> .*action=reject' "$log"
check_match "sender refusal logged" \
    'from=<sender@example.com> mailbox=sender@example.com approval=pending reason=approval-pending action=reject reply="550 5.7.1 <sender@example.com>: sender mailbox is not approved for outgoing mail"' "$log"
check_match "malformed recipient logged with the parse error" \
    'rcpt=<bad@@example.com> .*reason=malformed-address action=reject reply="553 5.1.3 .*error=' "$log"
check_match "recipient over MaxRecipients tempfailed 452 4.5.3" \
    'rcpt=<bulk1001@bulk.example> .*reason=too-many-recipients action=tempfail reply="452 4.5.3' "$log"
check_eq "one decision line per recipient of the 1,000-recipient transaction" \
    1001 "$(grep -c 'rcpt=<bulk[0-9]*@bulk.example>' "$DV_LOG")"

# A change made with dvmilterctl applies to the next transaction.
ctl mailbox approve pending@example.com >/dev/null
mt_check "approval by dvmilterctl applies to the next transaction without reload" \
    session.lua rcpts="<pending@example.com>" expect=continue
ctl mailbox remove approved@example.com >/dev/null
mt_check "a removed mailbox is unknown at the next transaction" \
    session.lua rcpts="<approved@example.com>" expect=continue

# A damaged record: the lookup fails, the recipient is tempfailed, the
# daemon goes on. mdb_load writes the raw bytes behind dvmilter's back.
if command -v mdb_load >/dev/null; then
	printf 'VERSION=3\nformat=print\ntype=btree\nHEADER=END\n broken@example.com\n \\01\\02\n DATA=END\n' |
	    mdb_load -s mailbox "$DV_TMP/db" 2>"$DV_TMP/load.err" ||
	    printf 'broken@example.com\n\\01\\02\n' | mdb_load -T -s mailbox "$DV_TMP/db" 2>>"$DV_TMP/load.err"
	mt_check "a damaged store record tempfails that recipient only" \
	    session.lua rcpts="<broken@example.com>,<pending@example.com>" expect=reply,continue
	check_match "store failure logged with 451 4.3.0 and the error" \
	    'rcpt=<broken@example.com> .*reason=store-error action=tempfail reply="451 4.3.0 .*error=mailbox broken@example.com: stored record is corrupt' "$(cat "$DV_LOG")"
else
	not_ok "mdb_load (lmdb-utils) is needed for the damaged-record test"
fi

check "daemon stops cleanly on SIGTERM with no sanitizer reports" dv_stop
check "socket removed on exit" test ! -e "$DV_SOCK"
check "pid file removed on exit" test ! -e "$DV_PIDFILE"
tap_done
