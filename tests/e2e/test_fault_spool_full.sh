#!/bin/bash
# test_fault_spool_full.sh - the file system of SpoolDirectory full (a
# 1 MB tmpfs, mounted in a private mount namespace so that nothing
# outside the test sees it): a tracked message larger than
# MessageMemoryLimit, which the milter spools to a file there, is
# refused with 451 and a log line naming the directory, never accepted
# untracked; a small one still passes; once space is freed the same
# message is accepted and becomes an activity.
set -u
. "$top_srcdir/tests/lib/tap.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root to start a Postfix instance"
command -v postfix >/dev/null || skip_all "postfix is not installed"
command -v python3 >/dev/null || skip_all "python3 is not installed"
command -v jq >/dev/null || skip_all "jq is not installed"
command -v unshare >/dev/null || skip_all "unshare(1) is missing"

# Everything from here on runs in a mount namespace of its own: the
# tmpfs disappears with the test, whatever way it ends.
if [ -z "${DV_SPOOL_NS:-}" ]; then
	unshare -m --propagation private true 2>/dev/null ||
	    skip_all "cannot make a mount namespace (unshare -m)"
	DV_SPOOL_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi

. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/lib/postfix.sh"
. "$top_srcdir/tests/lib/fault.sh"
why=$(pf_available) || skip_all "$why"

dv_tmpdir
mkdir "$DV_TMP/spool"
mount -t tmpfs -o size=1m,mode=0700 dvmilter-test-spool "$DV_TMP/spool" ||
    bail "cannot mount a tmpfs on $DV_TMP/spool"
chown dvmilter "$DV_TMP/spool"	# UserID writes the spool
trap 'umount -l "$DV_TMP/spool" 2>/dev/null; _dv_cleanup' EXIT
fault_start "MessageMemoryLimit 64K"
# send NAME KB: see fault_send.
send() { fault_send "spool-$1@client.test" "$2"; }

accepted=()
code=$(send before 300)
check_eq "a large message is spooled and accepted while there is room" 250 "$code"
[ "$code" = 250 ] && accepted+=(before)

# Fill the file system to the last block.
dd if=/dev/zero of="$DV_TMP/spool/filler" bs=4k 2>/dev/null
free_kb=$(df -k --output=avail "$DV_TMP/spool" | tail -1 | tr -d ' ')
check_eq "the spool's file system is full" 0 "$free_kb"

n_refused=0
code=$(send big 300)
[ "$code" = 250 ] || n_refused=$((n_refused + 1))
check_eq "a message that must be spooled is refused with 451" 451 "$code"
check_match "the log says why, naming the directory" \
    "tempfailing: the message could not be stored for tracking: spooling the content to a file in SpoolDirectory $DV_TMP/spool: No space left on device" \
    "$(cat "$DV_LOG")"
code=$(send big 300)
[ "$code" = 250 ] || n_refused=$((n_refused + 1))
check_eq "and again, while the file system is full" 451 "$code"
code=$(send small 8)
check_eq "a message that fits in memory still passes" 250 "$code"
[ "$code" = 250 ] && accepted+=(small)

# Free the space: the next try of the same message goes through.
rm -f "$DV_TMP/spool/filler"
code=$(send big 300)
check_eq "once space is freed, the refused message is accepted" 250 "$code"
[ "$code" = 250 ] && accepted+=(big)
code=$(send after 300)
check_eq "and so is the next large one" 250 "$code"
[ "$code" = 250 ] && accepted+=(after)

check "every delivery is done" dv_deliveries_done
fault_activities > "$DV_TMP/act.ids"
printf 'spool-%s@client.test\n' "${accepted[@]}" | sort > "$DV_TMP/acc.ids"
n_act=$(wc -l < "$DV_TMP/act.ids")
n_doubled=$(uniq -d "$DV_TMP/act.ids" | wc -l)
n_lost=$(comm -23 "$DV_TMP/acc.ids" <(sort -u "$DV_TMP/act.ids") | wc -l)
n_left=$(find "$DV_TMP/spool" -mindepth 1 | wc -l)
echo "# counts: accepted=${#accepted[@]} refused_451=$n_refused" \
    "activities=$n_act lost=$n_lost doubled=$n_doubled spool_files_left=$n_left"
check_eq "every accepted message is one activity, the refused one once" \
    "${#accepted[@]} 0 0" "$n_act $n_lost $n_doubled"
check_eq "no spool file is left behind" 0 "$n_left"

pf_stop
check "dvmilter and its worker stop cleanly" dv_stop
tap_done
