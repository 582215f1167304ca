#!/bin/bash
# test_outbox.sh - dvmilterctl outbox list|show|logged|retry|drop on a real
# store, and queue, its old name, doing the same.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/daemon.sh"

command -v jq >/dev/null || skip_all "jq is not installed"
SEED="$top_builddir/tests/cli/queue_seed"
dv_tmpdir
dv_conf
ctl mailbox list >/dev/null		# creates the store

check_match "help lists the outbox commands" "outbox list \[--state" "$(ctl help)"
check_match "and says queue is its other name" "queue is another name for outbox" "$(ctl help)"
check_eq "an empty outbox lists as []" "0" "$(ctl outbox list --json | jq length)"
check_eq "outbox logged counts nothing without a daemon" "0" "$(ctl outbox logged)"
check_eq "outbox logged --json too" '{"logged":0}' "$(ctl outbox logged --json | jq -c .)"
id1=$("$SEED" "$DV_TMP/db" "one@ext.example" local webhook)
id2=$("$SEED" "$DV_TMP/db" "two@ext.example" local)
json=$(ctl outbox list --json)
check_eq "outbox list --json shows both" "2" "$(jq length <<<"$json")"
check_eq "queue list --json shows the same" "$(jq -c . <<<"$json")" \
    "$(ctl queue list --json | jq -c .)"
check_match "outbox list prints a table" "^ID +STATE +RECEIVED +FROM +MESSAGE-ID +DELIVERIES" "$(ctl outbox list)"
check_eq "outbox list --state pending lists both" "2" "$(ctl outbox list --state pending --json | jq length)"
out=$(ctl outbox list --state stuck 2>&1); rc=$?
check_eq "an unknown --state is a usage error" 2 "$rc"
check_match "and names the command" "outbox list: --state needs pending, done or dead" "$out"
check_eq "outbox show --json has the envelope" "ann@ext.example support@example.com" \
    "$(ctl outbox show "$id1" --json | jq -r '.from + " " + .rcpts[0]')"
check_eq "queue show prints what outbox show prints" "$(ctl outbox show "$id1")" \
    "$(ctl queue show "$id1")"
check_match "outbox show prints each delivery" "delivery: +webhook pending, 0 attempts, next at" "$(ctl outbox show "$id1")"
ctl outbox retry "$id1" >/dev/null; rc=$?
check_eq "outbox retry of a pending entry exits 0" 0 "$rc"
out=$(ctl outbox retry "$id1" --plugin nosuch 2>&1); rc=$?
check_eq "outbox retry for a plugin it has no delivery for exits 1" 1 "$rc"
check_match "and says so" "nothing to retry for nosuch" "$out"
out=$(ctl outbox drop "$id2"); rc=$?
check_eq "outbox drop exits 0" 0 "$rc"
check_eq "and says so" "dropped $id2" "$out"
check_eq "a dropped entry is gone" "1" "$(ctl outbox list --json | jq length)"
out=$(ctl outbox show "$id2" 2>&1); rc=$?
check_eq "outbox show of a dropped id exits 1" 1 "$rc"
check_match "and names it" "no queued message $id2" "$out"
out=$(ctl outbox show abc 2>&1); rc=$?
check_eq "a bad id exits 1" 1 "$rc"
check_match "and says what an id is" "\"abc\" is not an outbox entry id" "$out"
ctl outbox show >/dev/null 2>&1; check_eq "a missing id exits 2" 2 "$?"
out=$(ctl outbox frob 2>&1); rc=$?
check_eq "an unknown outbox subcommand exits 2" 2 "$rc"
check_match "and names the command as typed" "unknown outbox subcommand \"frob\"" "$out"
out=$(ctl queue frob 2>&1)
check_match "also under its old name" "unknown queue subcommand \"frob\"" "$out"
tap_done
