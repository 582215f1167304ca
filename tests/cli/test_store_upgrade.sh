#!/bin/bash
# test_store_upgrade.sh - stores written by earlier dvmilters open in this
# one, with dvmilterctl and with the daemon, and keep every record:
#   tests/data/store-57ce808.mdb.gz  the first release (0.1.0 as first
#     released, commit 57ce808): a profile and four mailboxes;
#   tests/data/store-0b8d915.mdb.gz  the main branch before backups
#     (0b8d915): the same, two rules and an outbox entry (queue_seed).
# Each is a compacted data.mdb (mdb_copy -c; dvmilterctl backup), gzipped,
# put in place as dvmilterctl(8) says a backup is restored.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/lib/mt.sh"

command -v miltertest >/dev/null || skip_all "miltertest is not installed"
command -v jq >/dev/null || skip_all "jq is not installed"
MBOXES='[["alice@example.com","user","approved","Alice Smith",null],["pending@example.com","user","pending","",null],["rejected@example.com","user","rejected","",null],["support@example.com","queue","approved","Support Team","Exchange Online"]]'

# restore NAME: tests/data/store-NAME.mdb.gz as the store of a new $DV_TMP.
restore() {
	dv_tmpdir
	dv_conf
	mkdir -m 750 "$DV_TMP/db"
	gzip -dc "$top_srcdir/tests/data/store-$1.mdb.gz" >"$DV_TMP/db/data.mdb" ||
	    bail "cannot unpack store-$1.mdb.gz"
	chmod 640 "$DV_TMP/db/data.mdb"
	if [ "$(id -u)" -eq 0 ]; then
		chgrp dvmilter "$DV_TMP/db"
		chown dvmilter "$DV_TMP/db/data.mdb"
	fi
}

# opens NAME: the checks both stores pass, with dvmilterctl and the daemon.
opens() {
	local name=$1 n
	check_eq "$name: dvmilterctl lists its mailboxes" "$MBOXES" \
	    "$(ctl mailbox list --json | jq -c '[.[] | [.address, .type, .approval, .owner, .profile]]')"
	check_eq "$name: and its profile" "Exchange Online smtps://smtp.example.net:465 crm@example.com" \
	    "$(ctl profile show "Exchange Online" --json | jq -r '.name + " " + .smtp_url + " " + .username')"
	n=$(ctl outbox list --json | jq length)
	dv_start || bail "$name: dvmilter did not start on the store"
	ok "$name: the daemon starts on it"
	mt_check "$name: it tracks mail for the approved queue" track.lua \
	    "rcpt=<support@example.com>" data_expect=continue "msgid=$name@ext.example"
	dv_stored || not_ok "$name: the message was not stored"
	check_eq "$name: the message is in its outbox, after what was there" "$((n + 1)) $name@ext.example" \
	    "$(ctl outbox list --json | jq -r '(length | tostring) + " " + .[-1].message_id')"
	dv_stop; check_eq "$name: the daemon stops cleanly" 0 "$?"
	check_eq "$name: the mailboxes are unchanged after" "$MBOXES" \
	    "$(ctl mailbox list --json | jq -c '[.[] | [.address, .type, .approval, .owner, .profile]]')"
}

restore 57ce808
opens 57ce808

restore 0b8d915
check_eq "0b8d915: its rules are kept" "do-not-track List-Id track acme ACME account:ACME" \
    "$(ctl rule list --json | jq -r '[.[] | .action, (.match.header.name // .match.subaddress), (.folder // empty), (.regarding // empty | .type + ":" + .id)] | join(" ")')"
check_eq "0b8d915: and its outbox entry" "1 seed1@ext.example pending local:pending" \
    "$(ctl outbox list --json | jq -r '.[0] | (.id | tostring) + " " + .message_id + " " + .state + " " + ([.deliveries[] | .plugin + ":" + .state] | join(","))')"
opens 0b8d915
tap_done
