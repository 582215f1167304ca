#!/bin/bash
# test_postfix.sh - end to end: a real Postfix on 127.0.0.1 with a real
# dvmilter as its smtpd milter, driven over SMTP with swaks. Every check
# asserts a reply that Postfix actually sent, so this is what a mail
# client would see.
#
# Needs root (a Postfix instance must be started as root) and Postfix and
# swaks installed; skips otherwise. Mail is discarded, never delivered.
set -u
. "$top_srcdir/tests/lib/tap.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root to start a Postfix instance"
command -v postfix >/dev/null || skip_all "postfix is not installed"
command -v swaks >/dev/null || skip_all "swaks is not installed"

. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/lib/postfix.sh"
why=$(pf_available) || skip_all "$why"
[ -x "$DVMILTER" ] && [ -x "$DVMILTERCTL" ] || bail "build dvmilter first"

PENDING_TEXT="mailbox is not approved"
SENDER_TEXT="sender mailbox is not approved for outgoing mail"
FROM=someone@ext.example

dv_tmpdir
# Postfix's smtpd runs as postfix: it reaches the socket through the group.
dv_conf "SocketMode 0660" "SocketGroup postfix" "InternalHosts 127.0.0.1/32"

ctl mailbox add approved@example.com >/dev/null &&
ctl mailbox approve approved@example.com >/dev/null &&
ctl mailbox add pending@example.com >/dev/null &&
ctl mailbox add rejected@example.com >/dev/null &&
ctl mailbox reject rejected@example.com >/dev/null &&
ctl mailbox add later@example.com >/dev/null &&
ctl mailbox add sender@example.com --outgoing server-side-sync >/dev/null ||
    bail "cannot set up mailboxes"

# 1,000 numbered recipients: every 10th has a pending mailbox, every 10th
# (offset 5) an approved one, the other 800 have none.
{
	echo "address,approval"
	for i in $(seq 1 1000); do
		case $((i % 10)) in
		0) echo "n$i@example.com,pending" ;;
		5) echo "n$i@example.com,approved" ;;
		esac
	done
} > "$DV_TMP/many.csv"
ctl mailbox import "$DV_TMP/many.csv" >/dev/null || bail "import failed"

dv_start || bail "dvmilter did not start"
pf_start "$DV_TMP/postfix" auto "unix:$DV_SOCK" ||
    bail "postfix did not start"

# send [smtp_send args]: one transaction; every reply is kept in
# $SMTP_LOG too, so the log checks can count what was sent.
SMTP_LOG="$DV_TMP/smtp.log"
send() {
	smtp_send "$@" | tee -a "$SMTP_LOG"
}

rcpt() { smtp_reply "$1" "RCPT TO:<$2>"; }
final() { smtp_reply "$1" "."; }

# --- single recipients -------------------------------------------------------
out=$(send "$FROM" approved@example.com)
check_match "rcpt to approved mailbox accepted 250" "^250 " \
    "$(rcpt "$out" approved@example.com)"
check_match "message to approved mailbox queued 250" "^250 .*queued as" \
    "$(final "$out")"

out=$(send "$FROM" pending@example.com)
check_eq "rcpt to pending mailbox refused 550 5.7.1 with the default text" \
    "550 5.7.1 <pending@example.com>: $PENDING_TEXT" \
    "$(rcpt "$out" pending@example.com)"
check_eq "no DATA when the only recipient is refused" "" "$(final "$out")"

out=$(send "$FROM" rejected@example.com)
check_eq "rcpt to rejected mailbox refused 550 5.7.1" \
    "550 5.7.1 <rejected@example.com>: $PENDING_TEXT" \
    "$(rcpt "$out" rejected@example.com)"

out=$(send "$FROM" nobody@example.com)
check_match "rcpt without a mailbox accepted 250 by default" "^250 " \
    "$(rcpt "$out" nobody@example.com)"
check_match "message to an address without a mailbox queued 250" \
    "^250 .*queued as" "$(final "$out")"

# --- several recipients in one transaction --------------------------------------
out=$(send "$FROM" approved@example.com pending@example.com \
    stranger@example.com)
check_match "mixed: approved recipient accepted 250" "^250 " \
    "$(rcpt "$out" approved@example.com)"
check_eq "mixed: pending recipient refused 550 5.7.1" \
    "550 5.7.1 <pending@example.com>: $PENDING_TEXT" \
    "$(rcpt "$out" pending@example.com)"
check_match "mixed: recipient without a mailbox accepted 250" "^250 " \
    "$(rcpt "$out" stranger@example.com)"
check_match "mixed: message still queued 250 for the accepted recipients" \
    "^250 .*queued as" "$(final "$out")"
qid=$(final "$out" | sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p')

# --- senders -------------------------------------------------------------------------
out=$(send sender@example.com approved@example.com)
check_eq "unapproved outgoing sender from internal 127.0.0.1 refused 550 5.7.1" \
    "550 5.7.1 <sender@example.com>: $SENDER_TEXT" \
    "$(smtp_reply "$out" "MAIL FROM:<sender@example.com>")"
check_eq "no RCPT after the sender was refused" "" \
    "$(rcpt "$out" approved@example.com)"

out=$(send -s 127.0.0.2 sender@example.com approved@example.com)
check_match "same sender from 127.0.0.2 (not in InternalHosts) not checked" \
    "^250 " "$(smtp_reply "$out" "MAIL FROM:<sender@example.com>")"
check_match "message from the external client queued 250" \
    "^250 .*queued as" "$(final "$out")"

out=$(send -s 127.0.0.2 "$FROM" pending@example.com)
check_eq "pending recipient refused for an external client too" \
    "550 5.7.1 <pending@example.com>: $PENDING_TEXT" \
    "$(rcpt "$out" pending@example.com)"

# --- approval takes effect without a reload ---------------------------------------
out=$(send "$FROM" later@example.com)
check_match "rcpt to later@ refused while pending" "^550 5.7.1 " \
    "$(rcpt "$out" later@example.com)"
ctl mailbox approve later@example.com >/dev/null
check_eq "dvmilterctl mailbox approve succeeds while both daemons run" 0 "$?"
out=$(send "$FROM" later@example.com)
check_match "rcpt to later@ accepted 250 on the next transaction, no reload" \
    "^250 " "$(rcpt "$out" later@example.com)"
check_match "message to the newly approved mailbox queued 250" \
    "^250 .*queued as" "$(final "$out")"
check_eq "dvmilter was not reloaded" 0 \
    "$(grep -c "reload" "$DV_LOG")"

# --- 1,000 recipients in one transaction ------------------------------------------
rcpts=()
for i in $(seq 1 1000); do rcpts+=("n$i@example.com"); done
t0=$(date +%s)
out=$(send "$FROM" "${rcpts[@]}")
t1=$(date +%s)
echo "# 1,000-recipient transaction took $((t1 - t0)) s"
printf '%s\n' "$out" > "$DV_TMP/many.out"
# For every numbered recipient, the reply it should get.
bad=$(printf '%s\n' "$out" | awk '
	/^RCPT TO:<n[0-9]+@example.com> => / {
		n = substr($0, 11) + 0
		seen++
		reply = $0
		sub(/^[^>]*> => /, "", reply)
		if (n % 10 == 0)
			want = "550 5.7.1 <n" n "@example.com>: mailbox is not approved"
		else
			want = "250 2.1.5 Ok"
		if (reply != want && ++wrong <= 5)
			printf "n%d got \"%s\"; ", n, reply
	}
	END {
		if (wrong > 0)
			printf "%d wrong replies", wrong
		if (seen != 1000)
			printf "saw %d of 1000 RCPT replies", seen
	}')
check_eq "1,000 recipients: each gets its own reply (100 pending refused, 900 accepted)" \
    "" "$bad"
check_eq "1,000 recipients: exactly 100 refused" 100 \
    "$(printf '%s\n' "$out" | grep -c '^RCPT TO:.* => 550 5\.7\.1 ')"
check_match "1,000 recipients: message queued 250" "^250 .*queued as" \
    "$(final "$out")"
bigqid=$(final "$out" | sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p')

# --- logs --------------------------------------------------------------------------------
# Postfix logs through postlogd; give it a moment.
for i in $(seq 1 50); do
	grep -q "$bigqid: from=.*nrcpt=900" "$PF_LOG" 2>/dev/null && break
	sleep 0.1
done
check "postfix log: milter-reject for the pending recipient" \
    grep -Eq "milter-reject: RCPT from [^ ]+\[127\.0\.0\.1\]: 550 5\.7\.1 <pending@example\.com>: $PENDING_TEXT;.* to=<pending@example\.com>" \
    "$PF_LOG"
check "postfix log: milter-reject at MAIL FROM for the unapproved sender" \
    grep -Eq "milter-reject: MAIL from [^ ]+\[127\.0\.0\.1\]: 550 5\.7\.1 <sender@example\.com>: $SENDER_TEXT" \
    "$PF_LOG"
check "postfix log: the mixed message queued with 2 of 3 recipients" \
    grep -q "$qid: from=<$FROM>.* nrcpt=2 " "$PF_LOG"
check "postfix log: the 1,000-recipient message queued with 900 recipients" \
    grep -q "$bigqid: from=<$FROM>.* nrcpt=900 " "$PF_LOG"

check_eq "dvmilter log: one decision line per RCPT sent" \
    "$(grep -c '^RCPT TO:' "$SMTP_LOG")" \
    "$(grep -c ': rcpt=<' "$DV_LOG")"
check_eq "dvmilter log: each RCPT to pending@ logged reason=approval-pending action=reject" \
    3 "$(grep -c 'rcpt=<pending@example.com> mailbox=pending@example.com approval=pending reason=approval-pending action=reject reply="550 5.7.1 ' "$DV_LOG")"
check_eq "dvmilter log: 100 numbered recipients logged reason=approval-pending" \
    100 "$(grep -c 'rcpt=<n[0-9]*@example.com> .* reason=approval-pending action=reject' "$DV_LOG")"
check_eq "dvmilter log: rejected@ logged reason=approval-rejected" \
    1 "$(grep -c 'rcpt=<rejected@example.com> .* reason=approval-rejected action=reject' "$DV_LOG")"
check_match "dvmilter log: refused rcpt carries the client address" \
    "rcpt=<pending@example.com> .* client=127\.0\.0\.2" "$(cat "$DV_LOG")"
check_eq "dvmilter log: sender from 127.0.0.2 not looked up (no from= line)" \
    1 "$(grep -c 'from=<sender@example.com>' "$DV_LOG")"
check_eq "dvmilter logged no warnings or errors" "" \
    "$(grep -E '\[(warning|error)\]' "$DV_LOG")"

# --- shutdown ------------------------------------------------------------------------
pf_stop
check "dvmilter exits cleanly on SIGTERM with no sanitizer report" dv_stop

tap_done
