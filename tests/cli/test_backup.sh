#!/bin/bash
# test_backup.sh - dvmilterctl backup copies a running daemon's store while
# mail flows, without blocking it; the copy, restored as the manual says
# (dvmilterctl(8)), holds every mailbox and every message stored before
# the backup, and only messages the live store has; FILE is never
# overwritten without --force; a bad path fails naming it.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/lib/mt.sh"

command -v miltertest >/dev/null || skip_all "miltertest is not installed"
command -v jq >/dev/null || skip_all "jq is not installed"
dv_tmpdir
dv_conf
ctl mailbox add support@example.com --queue >/dev/null
ctl mailbox approve support@example.com >/dev/null
ctl mailbox add pending@example.com >/dev/null
dv_start || bail "dvmilter did not start"

check_match "help lists backup" "backup \[--force\] FILE" "$(ctl help)"
for i in 1 2 3 4 5; do
	mt track.lua "rcpt=<support@example.com>" data_expect=continue \
	    "msgid=before$i@ext.example" "from=before$i@ext.example" || bail "message before$i: $(cat "$DV_TMP/mt.out")"
done
dv_stored || bail "the daemon did not store the first messages"

# Mail flows while the backup runs: a loop of messages in the background
# (each from its own sender: CaseRateLimit counts new cases per sender).
(
	for i in $(seq 1 40); do
		miltertest -s "$MT_LUA/track.lua" -D "sock=unix:$DV_SOCK" \
		    -D "rcpt=<support@example.com>" -D data_expect=continue \
		    -D "msgid=during$i@ext.example" -D "from=during$i@ext.example" \
		    >"$DV_TMP/loop.out" 2>&1 || exit 1
		echo "$i" >>"$DV_TMP/sent"
	done
) &
loop=$!
for i in $(seq 1 100); do [ -s "$DV_TMP/sent" ] && break; sleep 0.05; done
mkdir "$DV_TMP/backups"
# What LMDB holds before the backup starts: the copy has at least that.
stored_before=$(ctl outbox list --json | jq length)
out=$(ctl backup "$DV_TMP/backups/store.mdb" 2>&1); rc=$?
check_eq "backup of a running daemon's store exits 0" 0 "$rc"
check_match "and says what it wrote" "^backup $DV_TMP/backups/store.mdb: [0-9]+ bytes" "$out"
sent_at_backup=$(wc -l <"$DV_TMP/sent")
# The daemon is not blocked: a message right after the backup is taken.
start=$(date +%s%N)
mt_check "a message during the loop, right after the backup, is accepted" \
    track.lua "rcpt=<support@example.com>" data_expect=continue \
    msgid=after@ext.example from=after@ext.example
check_eq "and answered within a second" 1 "$(( ($(date +%s%N) - start) < 1000000000 ))"
wait "$loop"; rc=$?
check_eq "every message of the loop was accepted (the backup blocked none)" "0 40" \
    "$rc $(wc -l <"$DV_TMP/sent")" || sed 's/^/#   /' "$DV_TMP/loop.out"
dv_stored || bail "the daemon did not store the loop's messages"
live=$(ctl outbox list --json)
check_eq "the live store has all 46 messages" 46 "$(jq length <<<"$live")"
check_eq "the backup file is the owner's only (0600)" 600 \
    "$(stat -c %a "$DV_TMP/backups/store.mdb")"
check_eq "it left no temporary file" "store.mdb" "$(ls -A "$DV_TMP/backups")"

# Restore as dvmilterctl(8) says, into a new store directory.
R="$DV_TMP/restored"
mkdir -m 750 "$R"
cp "$DV_TMP/backups/store.mdb" "$R/data.mdb"
chmod 660 "$R/data.mdb"
if [ "$(id -u)" -eq 0 ]; then
	chgrp dvmilter "$R"
	chown dvmilter:dvmilter "$R/data.mdb"
fi
rm -f "$R/lock.mdb"
sed "s|^Database .*|Database $R|" "$DV_CONF" >"$DV_TMP/restored.conf"
rctl() { "$DVMILTERCTL" -c "$DV_TMP/restored.conf" "$@"; }
check_eq "the restored store lists the same mailboxes" \
    "$(ctl mailbox list --json | jq -c .)" "$(rctl mailbox list --json | jq -c .)"
copy=$(rctl outbox list --json); rc=$?
check_eq "its outbox lists" 0 "$rc"
n=$(jq length <<<"$copy")
check_eq "it holds every message stored before the backup, none accepted after it" \
    "yes" "$( [ "$n" -ge "$stored_before" ] && [ "$n" -le $((5 + sent_at_backup)) ] &&
    echo yes || echo "no ($n; $stored_before stored before, $sent_at_backup sent)")"
check_eq "every message stored before the backup is in it" \
    "before1 before2 before3 before4 before5" \
    "$(jq -r '[.[] | .message_id | select(startswith("before")) | sub("@.*"; "")] | sort | join(" ")' <<<"$copy")"
check_eq "the copy is the live store up to one commit: its entries are the live store's first $n" \
    "$(jq -c "[.[:$n][] | [.id, .message_id]]" <<<"$live")" \
    "$(jq -c '[.[] | [.id, .message_id]]' <<<"$copy")"
check_eq "message after@ (after the backup) is not in it" 0 \
    "$(jq '[.[] | select(.message_id == "after@ext.example")] | length' <<<"$copy")"
id=$(jq -r '.[0].id' <<<"$copy")
check_eq "an entry's content is whole in the copy" \
    "$(ctl outbox show "$id" --json | jq -c '{size, from, rcpts, message_id}')" \
    "$(rctl outbox show "$id" --json | jq -c '{size, from, rcpts, message_id}')"

# Overwriting and bad paths.
before=$(md5sum <"$DV_TMP/backups/store.mdb")
out=$(ctl backup "$DV_TMP/backups/store.mdb" 2>&1); rc=$?
check_eq "a backup over an existing file exits 1" 1 "$rc"
check_eq "and names it and --force" \
    "dvmilterctl: backup $DV_TMP/backups/store.mdb: exists (--force replaces it)" "$out"
check_eq "the existing file is untouched" "$before" "$(md5sum <"$DV_TMP/backups/store.mdb")"
out=$(ctl backup --force "$DV_TMP/backups/store.mdb" 2>&1); rc=$?
check_eq "--force replaces it" 0 "$rc"
check_eq "with the store as it is now (after@ in it)" 1 \
    "$(rctl outbox list --json >/dev/null; cp "$DV_TMP/backups/store.mdb" "$R/data.mdb"; rm -f "$R/lock.mdb";
       rctl outbox list --json | jq '[.[] | select(.message_id == "after@ext.example")] | length')"
out=$(ctl backup "$DV_TMP/no/such/dir/store.mdb" 2>&1); rc=$?
check_eq "a backup into a missing directory exits 1" 1 "$rc"
check_eq "and names the file and the directory" \
    "dvmilterctl: backup $DV_TMP/no/such/dir/store.mdb: directory $DV_TMP/no/such/dir: No such file or directory" "$out"
out=$(ctl backup --force "$DV_TMP/backups" 2>&1); rc=$?
check_eq "--force does not replace a directory" "1 dvmilterctl: backup $DV_TMP/backups: exists and is not a regular file" "$rc $out"
ln -s "$DV_TMP/elsewhere" "$DV_TMP/backups/link.mdb"
out=$(ctl backup "$DV_TMP/backups/link.mdb" 2>&1); rc=$?
check_eq "nor is a symbolic link followed" "1 dvmilterctl: backup $DV_TMP/backups/link.mdb: exists (--force replaces it)" "$rc $out"
check_eq "and nothing was written through it" no "$([ -e "$DV_TMP/elsewhere" ] && echo yes || echo no)"
out=$(ctl backup 2>&1); rc=$?
check_eq "backup without FILE is a usage error" "2" "$rc"
check_match "that shows the usage" "usage: backup \[--force\] FILE" "$out"
check_eq "no temporary file is left behind" "link.mdb store.mdb" "$(ls -A "$DV_TMP/backups" | sort | xargs)"
dv_stop; check_eq "the daemon stops cleanly" 0 "$?"

# The daemon runs on the restored store (no outbox.log: it makes one).
DV_CONF="$DV_TMP/restored.conf"
n=$(ctl outbox list --json | jq length)
dv_start || bail "dvmilter did not start on the restored store"
mt_check "the daemon on the restored store tracks mail" track.lua \
    "rcpt=<support@example.com>" data_expect=continue msgid=restored@ext.example \
    from=restored@ext.example
dv_stored; check_eq "into the restored store's outbox" "$((n + 1)) restored@ext.example" \
    "$(ctl outbox list --json | jq -r '(length | tostring) + " " + .[-1].message_id')"
dv_stop; check_eq "and stops cleanly" 0 "$?"
check_match "it said the outbox log is new, as dvmilterctl(8) tells" \
    "outbox: the log $R/outbox.log is new" "$(cat "$DV_LOG")"
tap_done
