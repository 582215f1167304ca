#!/bin/bash
# test_queue.sh - dvmilterctl queue list|show|retry|drop on a real store,
# with entries put there through the same core API the milter uses.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/daemon.sh"

command -v jq >/dev/null || skip_all "jq is not installed"
SEED="$top_builddir/tests/cli/queue_seed"
dv_tmpdir
dv_conf
ctl mailbox list >/dev/null		# creates the store

check_eq "an empty outbox lists as []" "0" "$(ctl queue list --json | jq length)"
id1=$("$SEED" "$DV_TMP/db" "one@ext.example" local webhook)
id2=$("$SEED" "$DV_TMP/db" "two@ext.example" local)
check "two seeded messages get distinct ids" test "$id1" != "$id2"
json=$(ctl queue list --json)
check_eq "queue list --json shows both" "2" "$(jq length <<<"$json")"
check_eq "a new entry is pending for each plugin" "pending/local:pending,webhook:pending" \
    "$(jq -r --argjson id "$id1" '.[] | select(.id == $id) | .state + "/" + ([.deliveries[] | .plugin + ":" + .state] | join(","))' <<<"$json")"
check_match "queue list prints a table" "^ID +STATE +RECEIVED +FROM +MESSAGE-ID +DELIVERIES" "$(ctl queue list)"
check_eq "queue list --state pending lists both" "2" "$(ctl queue list --state pending --json | jq length)"
check_eq "queue list --state done lists neither" "[]" "$(ctl queue list --state done --json | jq -c .)"
out=$(ctl queue list --state stuck 2>&1); rc=$?
check_eq "an unknown --state is a usage error" 2 "$rc"
check_match "and says which states there are" "--state needs pending, done or dead" "$out"
show=$(ctl queue show "$id1" --json)
check_eq "queue show --json has the envelope" "ann@ext.example support@example.com" \
    "$(jq -r '.from + " " + .rcpts[0]' <<<"$show")"
check_eq "queue show --json carries the decision" "support@example.com" \
    "$(jq -r '.decision.mailboxes[0].address' <<<"$show")"
check_match "queue show prints each delivery" "delivery: +webhook pending, 0 attempts, next at" "$(ctl queue show "$id1")"
ctl queue retry "$id1" >/dev/null; rc=$?
check_eq "queue retry of a pending entry exits 0" 0 "$rc"
out=$(ctl queue retry "$id1" --plugin nosuch 2>&1); rc=$?
check_eq "queue retry for a plugin it has no delivery for exits 1" 1 "$rc"
check_match "and says so" "nothing to retry for nosuch" "$out"
out=$(ctl queue drop "$id2"); rc=$?
check_eq "queue drop exits 0" 0 "$rc"
check_eq "a dropped entry is gone" "1" "$(ctl queue list --json | jq length)"
out=$(ctl queue show "$id2" 2>&1); rc=$?
check_eq "queue show of a dropped id exits 1" 1 "$rc"
check_match "and names it" "no queued message $id2" "$out"
out=$(ctl queue drop 99999 2>&1); check_eq "queue drop of an unknown id exits 1" 1 "$?"
ctl queue show abc >/dev/null 2>&1; check_eq "a bad id exits 1" 1 "$?"
ctl queue show >/dev/null 2>&1; check_eq "a missing id exits 2" 2 "$?"
ctl queue list --bogus >/dev/null 2>&1; check_eq "an unknown option exits 2" 2 "$?"
ctl queue frob >/dev/null 2>&1; check_eq "an unknown queue subcommand exits 2" 2 "$?"
tap_done
