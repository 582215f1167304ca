#!/bin/bash
# test_postfix_track.sh - end to end tracking: mail sent through a real
# Postfix on 127.0.0.1 to an approved mailbox is committed to the outbox
# by dvmilter and delivered by its worker to a webhook receiver on
# 127.0.0.1, with the message as Postfix passed it; untracked mail is not.
set -u
. "$top_srcdir/tests/lib/tap.sh"

. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/lib/postfix.sh"
pf_require swaks jq
HOOKD="$top_builddir/tests/plugins/hookd"

dv_tmpdir
mkdir "$DV_TMP/req"; dv_spooldir "$DV_TMP/spool"
"$HOOKD" "$DV_TMP/port" "$DV_TMP/req" 201 '{"activity_id":"act-1"}' 120 &
HOOKD_PID=$!
trap 'kill $HOOKD_PID 2>/dev/null; _dv_cleanup' EXIT
for _ in $(seq 1 50); do [ -s "$DV_TMP/port" ] && break; sleep 0.1; done
dv_secret "$DV_TMP/secret" 'e2e-track-secret-0123456789'
dv_conf "SocketMode 0660" "SocketGroup postfix" "InternalHosts 127.0.0.1/32" \
    "PluginDir $top_builddir/plugins/webhook/.libs" "Plugins webhook" \
    "Webhook.URL http://127.0.0.1:$(cat "$DV_TMP/port")/hook" "Webhook.AllowInsecure yes" \
    "Webhook.SecretFile $DV_TMP/secret" "SpoolDirectory $DV_TMP/spool"
for a in support@example.com alice@example.com; do
	ctl mailbox add "$a" >/dev/null && ctl mailbox approve "$a" >/dev/null ||
	    bail "cannot set up mailboxes"
done
ctl mailbox set support@example.com --queue >/dev/null
ctl mailbox set alice@example.com --filter all >/dev/null
ctl mailbox add outlook@example.com --incoming outlook >/dev/null
ctl mailbox approve outlook@example.com >/dev/null
dv_start || bail "dvmilter did not start"
pf_start "$DV_TMP/postfix" auto "unix:$DV_SOCK" || bail "postfix did not start"

wait_requests() {	# wait_requests N
	for _ in $(seq 1 100); do
		[ "$(ls "$DV_TMP/req"/*.headers 2>/dev/null | wc -l)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

out=$(smtp_send -s 127.0.0.2 ann@ext.example support@example.com alice@example.com)
check_match "mail to two approved mailboxes is queued by Postfix" "^250 " "$(smtp_reply "$out" .)"
qid=$(smtp_reply "$out" . | sed -n 's/.*queued as \([0-9A-F]*\).*/\1/p')
check "the webhook receives it from the worker" wait_requests 1
sleep 0.2
body=$(cat "$DV_TMP/req/1.json")
check_eq "one delivery lists both mailboxes" "alice@example.com support@example.com" \
    "$(jq -r '[.mailboxes[].address] | sort | join(" ")' <<<"$body")"
check_eq "it carries the subject and the envelope" "dvmilter test ann@ext.example" \
    "$(jq -r '.subject + " " + .envelope.from' <<<"$body")"
check_eq "it carries Postfix's queue id" "$qid" "$(jq -r .queue_id <<<"$body")"
check_match "the body is the message text swaks sent" "This is a test mailing" "$(jq -r .text <<<"$body")"
for _ in $(seq 1 50); do
	[ "$(ctl queue list --json | jq -r '.[0].state')" = done ] && break; sleep 0.1
done
check_eq "the outbox entry is done with the receiver's activity id" "done act-1" \
    "$(ctl queue list --json | jq -r '.[0].state + " " + .[0].deliveries[0].activity_id')"

out=$(smtp_send -s 127.0.0.2 ann@ext.example nobody@example.com outlook@example.com)
check_match "untracked mail is queued by Postfix" "^250 " "$(smtp_reply "$out" .)"
sleep 1
check_eq "untracked mail never reaches the outbox" "1" "$(ctl queue list --json | jq length)"
check_eq "nor the webhook" "1" "$(ls "$DV_TMP/req"/*.headers | wc -l)"

out=$(smtp_send alice@example.com customer@ext.example)
check_match "outgoing mail from an approved synced sender is queued" "^250 " "$(smtp_reply "$out" .)"
check "outgoing mail is delivered too" wait_requests 2
sleep 0.2
check_eq "marked outgoing, for the sender's mailbox" "outgoing alice@example.com" \
    "$(jq -r '.direction + " " + .mailboxes[0].address' < "$DV_TMP/req/2.json")"

pf_stop
check "dvmilter and its worker stop cleanly" dv_stop
tap_done
