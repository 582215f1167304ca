#!/bin/bash
# test_ctl_escape.sh - a message whose Subject and Message-ID carry
# terminal escape sequences (ESC, BEL, a UTF-8 C1 CSI, DEL) goes through
# the daemon and the worker into the outbox and the local plugin's case
# and activity; every dvmilterctl text view then shows them as \xNN,
# with no raw control byte, and the JSON views stay valid JSON.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/daemon.sh"

command -v miltertest >/dev/null || skip_all "miltertest is not installed"
command -v jq >/dev/null || skip_all "jq is not installed"
LUA="$top_srcdir/tests/milter"
dv_tmpdir
dv_spooldir "$DV_TMP/spool"
dv_conf "SpoolDirectory $DV_TMP/spool"
ctl mailbox add support@example.com --queue >/dev/null
ctl mailbox approve support@example.com >/dev/null
ctl caserule set support@example.com >/dev/null	# mail there opens a case
dv_start || bail "dvmilter did not start"

SUBJ=$'Invoice \e[2J\e]0;owned\a \xc2\x9b31m red \x7f end'
MID=$'evil\e[8m@ext.example'
miltertest -s "$LUA/track.lua" -D "sock=unix:$DV_SOCK" \
    -D "rcpt=<support@example.com>" -D data_expect=continue \
    -D "msgid=$MID" -D "subject=$SUBJ" >"$DV_TMP/mt.out" 2>&1
check "the message is accepted" test $? -eq 0
state() { ctl queue list --json | jq -r '.[0].state'; }
check_eq "the worker delivers it" done "$(eventually done state)"
check_eq "the local plugin opened a case for it" 1 \
    "$(eventually 1 sh -c "\"$DVMILTERCTL\" -c \"$DV_CONF\" case list --json | jq length")"

# raw_controls FILE: the control bytes in FILE other than newline and tab.
raw_controls() {
	LC_ALL=C tr -d '\n\t' < "$1" | LC_ALL=C tr -dc '\000-\037\177\200-\237' | od -An -c | tr -s ' \n' ' '
}
valid_json() { jq -e . "$1" >/dev/null; }
id=$(ctl queue list --json | jq -r '.[0].id')
case_no=$(ctl case list --json | jq -r '.[0].number')
act=$(ctl activity list --json | jq -r '.[0].id')
views=("queue list" "queue show $id" "case list" "case show $case_no"
    "activity list" "activity show $act" "contact list")
for v in "${views[@]}"; do
	# shellcheck disable=SC2086
	ctl $v > "$DV_TMP/out" 2>&1
	check_eq "dvmilterctl $v prints no raw control byte" "" \
	    "$(raw_controls "$DV_TMP/out" | sed 's/^ *$//')"
done
ctl activity show "$act" > "$DV_TMP/out" 2>&1
check_match "the subject is shown, its controls as \\xNN" \
    'Invoice \\x1b\[2J\\x1b\]0;owned\\x07 \\xc2\\x9b31m red \\x7f end' "$(cat "$DV_TMP/out")"
ctl queue show "$id" > "$DV_TMP/out" 2>&1
check_match "the Message-ID too" 'evil\\x1b\[8m@ext.example' "$(cat "$DV_TMP/out")"
for v in "queue list" "case list" "activity list"; do
	# shellcheck disable=SC2086
	ctl $v --json > "$DV_TMP/out"
	check "dvmilterctl $v --json is valid JSON" valid_json "$DV_TMP/out"
	check_eq "dvmilterctl $v --json prints no raw C1 control either" "0" \
	    "$(LC_ALL=C grep -c $'\xc2[\x80-\x9f]' "$DV_TMP/out")"
done
check_eq "and keeps the text exactly (JSON escapes it)" "$SUBJ" \
    "$(ctl activity list --json | jq -r '.[0].subject')"
# An error message naming mail text is escaped too (stderr).
out=$(ctl queue show "$MID" 2>&1)
check "errors carry no raw control byte either" test "$(printf '%s' "$out" | LC_ALL=C tr -dc '\033' | wc -c)" -eq 0
check "stops cleanly" dv_stop
tap_done
