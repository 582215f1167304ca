#!/bin/bash
# test_fault_store_full.sh - the LMDB store full (DatabaseMapSize 1M):
# tracked mail is refused with 451 and a log line that says what to do,
# never accepted and lost; a reload (SIGUSR1) with a larger
# DatabaseMapSize grows the store without a restart, mail flows again,
# the worker (another process) takes the larger map, and every message
# Postfix accepted becomes one activity. The worker runs under a
# WorkerMemoryLimit far below the growth (16M for 63M more map): the
# limit is on its heap, not on the map, so it survives the remap.
#
# Messages are 200 KB, so they go through the outbox log (up to 512 KB):
# while the store is full the log still takes them, durably, and the
# 451 comes once the log is full too.
set -u
. "$top_srcdir/tests/lib/tap.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root to start a Postfix instance"
command -v postfix >/dev/null || skip_all "postfix is not installed"
command -v python3 >/dev/null || skip_all "python3 is not installed"
command -v jq >/dev/null || skip_all "jq is not installed"

. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/lib/postfix.sh"
. "$top_srcdir/tests/lib/fault.sh"
why=$(pf_available) || skip_all "$why"

dv_tmpdir
dv_spooldir "$DV_TMP/spool"
fault_start "DatabaseMapSize 1M" "WorkerMemoryLimit 16M"
worker_pid() { pgrep -f -- "dvmilter-[w]orker -c $DV_CONF" | head -n 1; }
# send NAME KB: see fault_send.
send() { fault_send "full-$1@client.test" "$2"; }

accepted=()
refused=
for n in $(seq 1 80); do
	code=$(send "$n" 200)
	if [ "$code" = 250 ]; then
		accepted+=("$n")
		continue
	fi
	refused=$n
	break
done
n_full=${#accepted[@]}
check "the store filled, and then a message was refused" test -n "$refused"
check_eq "the refusal is a temporary one" 451 "${code:-}"
check_match "the log says why and what to do" \
    "tempfailing: the message could not be stored for tracking: .*the store is full; raise DatabaseMapSize and reload dvmilter" \
    "$(cat "$DV_LOG")"
check_eq "it is refused again while the store is full" 451 "$(send "$refused" 200)"
n_stored_before=$(ctl queue list --json 2>/dev/null | jq length)
n_logged_before=$(ctl queue logged 2>/dev/null)

# Grow it, without a restart.
pid_before=$DV_DAEMON_PID
worker_before=$(worker_pid)
sed -i 's/^DatabaseMapSize 1M$/DatabaseMapSize 64M/' "$DV_CONF"
kill -USR1 "$DV_DAEMON_PID"
grown() { grep -q "the store's map grew from 1048576 to 67108864 bytes" "$DV_LOG"; }
for _ in $(seq 1 50); do grown && break; sleep 0.1; done
check "a reload with a larger DatabaseMapSize grows the store's map" grown
check_eq "the refused message is accepted when sent again" 250 "$(send "$refused" 200)"
accepted+=("$refused")
for n in $(seq 101 105); do
	code=$(send "$n" 200)
	[ "$code" = 250 ] && accepted+=("$n")
done
check_eq "new mail flows again" $((n_full + 6)) "${#accepted[@]}"
check_eq "without a restart" "$pid_before" "$(cat "$DV_PIDFILE")"

check "the worker delivers every message into the grown store" dv_deliveries_done
check_match "the worker ran with its memory limit (a sanitizer build's ignores it)" \
    "worker data limited to|WorkerMemoryLimit ignored" "$(cat "$DV_LOG")"
check_eq "the worker took the grown map without dying" \
    "${worker_before:-none} 0" \
    "$(worker_pid) $(grep -c "outbox worker .* killed by signal" "$DV_LOG")"
fault_activities > "$DV_TMP/act.ids"
printf 'full-%s@client.test\n' "${accepted[@]}" | sort > "$DV_TMP/acc.ids"
n_act=$(wc -l < "$DV_TMP/act.ids")
n_lost=$(comm -23 "$DV_TMP/acc.ids" <(sort -u "$DV_TMP/act.ids") | wc -l)
n_doubled=$(uniq -d "$DV_TMP/act.ids" | wc -l)
n_tempfailed=$(grep -c "tempfailing: the message could not be stored" "$DV_LOG")
echo "# counts: accepted_before_full_refusal=$n_full stored_when_full=${n_stored_before:-?}" \
    "held_in_log_when_full=${n_logged_before:-?} tempfailed=$n_tempfailed" \
    "accepted_total=${#accepted[@]} activities=$n_act lost=$n_lost doubled=$n_doubled"
check_eq "every accepted message is one activity" "${#accepted[@]} 0 0" \
    "$n_act $n_lost $n_doubled"
check "no refused message became an activity" \
    test "$(comm -13 "$DV_TMP/acc.ids" "$DV_TMP/act.ids" | wc -l)" -eq 0

pf_stop
check "dvmilter and its worker stop cleanly" dv_stop
tap_done
