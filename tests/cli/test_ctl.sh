#!/bin/bash
# test_ctl.sh - dvmilterctl end to end on a real store: every command,
# every exit status (0 done, 1 bad request, 2 usage), JSON output, CSV
# import (all-or-nothing), and a store that cannot be written.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/daemon.sh"

command -v jq >/dev/null || skip_all "jq is not installed (contrib/install-deps.sh)"
dv_tmpdir
dv_conf

# run EXPECTED_STATUS description command...: checks the exit status and
# that a failure prints exactly one line on stderr.
run() {
	local want=$1 desc=$2
	shift 2
	out=$("$@" 2>"$DV_TMP/err")
	rc=$?
	err=$(cat "$DV_TMP/err")
	if [ "$rc" -ne "$want" ]; then
		not_ok "$desc (exit $rc, want $want)"
		printf '#   stderr: %s\n' "$err"
		return
	fi
	if [ "$want" -eq 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ]; then
		not_ok "$desc (want one error line, got: $err)"
		return
	fi
	ok "$desc"
}

# --- exit 0 ---------------------------------------------------------------
run 0 "mailbox add user with defaults exits 0" ctl mailbox add alice@example.com --owner "Alice Example"
run 0 "mailbox add queue exits 0" ctl mailbox add Support@Example.COM --queue --owner Support
check_eq "add stores the normalised address" "support@example.com" \
    "$(ctl mailbox show support@example.com --json | jq -r .address)"
check_eq "new mailbox starts pending" "pending" \
    "$(ctl mailbox show alice@example.com --json | jq -r .approval)"
check_eq "incoming defaults to server-side-sync" "server-side-sync" \
    "$(ctl mailbox show alice@example.com --json | jq -r .incoming)"
check_eq "outgoing defaults to server-side-sync" "server-side-sync" \
    "$(ctl mailbox show alice@example.com --json | jq -r .outgoing)"
check_eq "queue type recorded" "queue" \
    "$(ctl mailbox show support@example.com --json | jq -r .type)"
run 0 "mailbox set --user exits 0" ctl mailbox set support@example.com --user
check_eq "--user records a user" "user" \
    "$(ctl mailbox show support@example.com --json | jq -r .type)"
ctl mailbox set support@example.com --queue >/dev/null
run 0 "mailbox approve exits 0" ctl mailbox approve alice@example.com
check_eq "approve sets approved" "approved" \
    "$(ctl mailbox show ALICE@example.com --json | jq -r .approval)"
run 0 "mailbox reject exits 0" ctl mailbox reject support@example.com
check_eq "reject sets rejected" "rejected" \
    "$(ctl mailbox show support@example.com --json | jq -r .approval)"
run 0 "mailbox set --approval pending exits 0" ctl mailbox set support@example.com --approval pending
check_eq "set --approval puts a mailbox back to pending" "pending" \
    "$(ctl mailbox show support@example.com --json | jq -r .approval)"
ctl mailbox reject support@example.com >/dev/null
run 0 "profile add exits 0" ctl profile add "Exchange Online" --server-type exchange-online-hybrid --smtp-url smtps://smtp.example.net:465 --tls implicit --auth oauth --username crm@example.com --secret-file /etc/dvmilter/eo.secret
run 0 "mailbox set methods and profile exits 0" ctl mailbox set alice@example.com --incoming outlook --act server-side-sync --profile "Exchange Online" --owner "Alice B"
json=$(ctl mailbox show alice@example.com --json)
check_eq "set changed incoming" "outlook" "$(jq -r .incoming <<<"$json")"
check_eq "set changed act" "server-side-sync" "$(jq -r .act <<<"$json")"
check_eq "set kept outgoing" "server-side-sync" "$(jq -r .outgoing <<<"$json")"
check_eq "set linked the profile" "Exchange Online" "$(jq -r .profile <<<"$json")"
check_eq "set kept approval" "approved" "$(jq -r .approval <<<"$json")"
check_eq "show --json has exactly the documented keys" \
    "act,act_status,address,approval,enabled,filter,incoming,incoming_status,outgoing,outgoing_status,owner,profile,type" \
    "$(jq -r 'keys|join(",")' <<<"$json")"
run 0 "mailbox set test status exits 0" ctl mailbox set alice@example.com --outgoing-status failure --status-message "535 authentication failed" --enabled no
json=$(ctl mailbox show alice@example.com --json)
check_eq "test status recorded" "failure" "$(jq -r .outgoing_status <<<"$json")"
check_eq "enabled recorded" "false" "$(jq -r .enabled <<<"$json")"
check_match "human show prints the status message" \
    "outgoing_status: +failure at .*: 535 authentication failed" "$(ctl mailbox show alice@example.com)"
check_eq "list --json is an array of every mailbox" "2" "$(ctl mailbox list --json | jq length)"
list=$(ctl mailbox list)
check_match "list prints a header row" "^ADDRESS +TYPE +APPROVAL +INCOMING" "$list"
check_match "list aligns columns" "alice@example.com    user   approved" "$list"
check_eq "profile list --json" "Exchange Online" "$(ctl profile list --json | jq -r '.[0].name')"
check_eq "profile show --json keeps no secret, only its file" "/etc/dvmilter/eo.secret" \
    "$(ctl profile show "Exchange Online" --json | jq -r .secret_file)"
run 0 "profile set exits 0" ctl profile set "Exchange Online" --tls starttls
check_eq "profile set changed tls" "starttls" "$(ctl profile show "Exchange Online" --json | jq -r .tls)"
run 0 "mailbox set --no-profile exits 0" ctl mailbox set alice@example.com --no-profile
check_eq "profile unlinked" "null" "$(ctl mailbox show alice@example.com --json | jq -r .profile)"
run 0 "profile remove of an unused profile exits 0" ctl profile remove "Exchange Online"
run 0 "mailbox add with IDN domain exits 0" ctl mailbox add "jörg@bücher.example"
check_eq "IDN domain stored as A-label" "jörg@xn--bcher-kva.example" \
    "$(ctl mailbox show 'jörg@xn--bcher-kva.example' --json | jq -r .address)"
run 0 "mailbox remove exits 0" ctl mailbox remove "jörg@bücher.example"
run 0 "help exits 0" "$DVMILTERCTL" help
empty=$(mktemp -d /tmp/dvmilter-test.XXXXXX); _dv_cleanup_dirs="$_dv_cleanup_dirs $empty"
printf 'Database %s/db\n' "$empty" > "$empty/c.conf"
check_eq "list --json of an empty store is []" "0" \
    "$("$DVMILTERCTL" -c "$empty/c.conf" mailbox list --json | jq length)"

# --- exit 1: bad requests ------------------------------------------------------
run 1 "unknown mailbox exits 1" ctl mailbox approve nobody@example.com
check_match "unknown mailbox error names it" "no such mailbox: nobody@example.com" "$err"
run 1 "invalid address exits 1" ctl mailbox add 'bad@@example.com'
check_match "invalid address error says why" "invalid address .*not allowed" "$err"
run 1 "overlong address exits 1" ctl mailbox add "$(printf 'a%.0s' $(seq 1 70))@example.com"
run 1 "address without domain exits 1" ctl mailbox add postmaster
run 1 "bad method exits 1" ctl mailbox add bob@example.com --incoming exchange
check_match "bad method error lists the methods" "unknown method \"exchange\"" "$err"
run 1 "duplicate add exits 1" ctl mailbox add alice@example.com
check_match "duplicate add says it exists" "already exists" "$err"
run 1 "subaddress add exits 1" ctl mailbox add support+acme@example.com
check_match "subaddress error names the base mailbox" "subaddress of support@example.com" "$err"
run 1 "unknown profile on add exits 1" ctl mailbox add carol@example.com --profile nope
check_match "unknown profile error names it" "no such profile: nope" "$err"
ctl profile add P1 >/dev/null && ctl mailbox set alice@example.com --profile P1 >/dev/null
run 1 "removing a profile in use exits 1" ctl profile remove P1
check_match "profile in use error names a mailbox" "used by 1 mailbox \(alice@example.com\)" "$err"
run 1 "bad smtp url exits 1" ctl profile add P2 --smtp-url http://x.example/
run 1 "bad --enabled exits 1" ctl mailbox set alice@example.com --enabled perhaps
run 1 "bad status exits 1" ctl mailbox set alice@example.com --incoming-status great
run 1 "an empty profile name exits 1" ctl mailbox set alice@example.com --profile ''
check_match "the profile error quotes the name" 'bad profile name ""' "$err"
run 1 "a status message with a control character exits 1" \
    ctl mailbox set alice@example.com --incoming-status success --status-message "$(printf 'a\tb')"
check_match "the status message error says why" "status message must be at most [0-9]+ bytes without control" "$err"
check_eq "a user tracks responses by default" "responses" "$(ctl mailbox show alice@example.com --json | jq -r .filter)"
check_eq "a queue tracks all mail by default" "all" "$(ctl mailbox show support@example.com --json | jq -r .filter)"
run 0 "mailbox set --filter exits 0" ctl mailbox set alice@example.com --filter known-senders
check_eq "the filter is stored" "known-senders" "$(ctl mailbox show alice@example.com --json | jq -r .filter)"
ctl mailbox set alice@example.com --filter default >/dev/null
check_eq "--filter default goes back to the type's default" "responses" "$(ctl mailbox show alice@example.com --json | jq -r .filter)"
run 1 "a bad filter exits 1" ctl mailbox set alice@example.com --filter some
run 1 "bad approval exits 1" ctl mailbox set alice@example.com --approval maybe
run 1 "an owner that is not UTF-8 exits 1" ctl mailbox set alice@example.com --owner "$(printf 'Ren\xe9')"
check_match "the owner error says UTF-8" "owner must be UTF-8" "$err"
printf 'address,owner\nlatin@example.com,Ren\xe9\n' > "$DV_TMP/latin1.csv"
run 1 "a Latin-1 CSV exits 1" ctl mailbox import "$DV_TMP/latin1.csv"
check_match "the Latin-1 CSV error names line and column" "latin1.csv:2: column owner: not UTF-8" "$err"
run 1 "missing config file exits 1" "$DVMILTERCTL" -c "$DV_TMP/absent.conf" mailbox list
check_match "missing config error names the file" "absent.conf: No such file" "$err"
printf 'Sokcet x\n' > "$DV_TMP/bad.conf"
run 1 "bad config exits 1" "$DVMILTERCTL" -c "$DV_TMP/bad.conf" mailbox list
check_match "bad config error is file:line" "bad.conf:1: unknown key" "$err"
run 1 "reload without a running daemon exits 1" ctl reload

# --- exit 2: usage -------------------------------------------------------------------
run 2 "no command exits 2" "$DVMILTERCTL" -c "$DV_CONF"
run 2 "unknown command exits 2" ctl frobnicate
run 2 "unknown subcommand exits 2" ctl mailbox frobnicate
run 2 "unknown option exits 2" ctl mailbox add x@example.com --bogus
run 2 "option without value exits 2" ctl mailbox add x@example.com --owner
run 2 "missing address exits 2" ctl mailbox add
run 2 "extra argument exits 2" ctl mailbox show a@example.com b@example.com
run 2 "option not taken by the subcommand exits 2" ctl mailbox approve alice@example.com --incoming none
run 2 "conflicting profile options exit 2" ctl mailbox set alice@example.com --profile P1 --no-profile
run 2 "import without a file exits 2" ctl mailbox import
run 2 "import with an option exits 2" ctl mailbox import --json "$DV_TMP/none.csv"
check_match "and names the option" "mailbox import does not take --json" "$err"

# --- import ------------------------------------------------------------------------------
before=$(ctl mailbox list --json)
cat > "$DV_TMP/good.csv" <<'CSV'
address,type,owner,incoming,outgoing,act,approval,enabled
sales@example.com,queue,"Sales, EMEA",server-side-sync,none,,approved,yes
dave@example.com,,Dave,,,,,
alice@example.com,,,,,,rejected,
CSV
run 0 "import of a good CSV exits 0" ctl mailbox import "$DV_TMP/good.csv"
check_match "import reports added and updated" "imported 3 mailboxes .*\(2 added, 1 updated\)" "$out"
check_eq "import keeps quoted commas" "Sales, EMEA" "$(ctl mailbox show sales@example.com --json | jq -r .owner)"
check_eq "import applies approval" "approved" "$(ctl mailbox show sales@example.com --json | jq -r .approval)"
check_eq "import defaults a new row to pending" "pending" "$(ctl mailbox show dave@example.com --json | jq -r .approval)"
check_eq "import updates only given columns" "rejected/Alice B" \
    "$(ctl mailbox show alice@example.com --json | jq -r '.approval + "/" + .owner')"
printf 'Owner,ADDRESS\r\nMixed Case,mixed@example.com\r\n' > "$DV_TMP/case.csv"
run 0 "import matches column names in any case and order" ctl mailbox import "$DV_TMP/case.csv"
check_eq "the owner went to the owner column" "Mixed Case" \
    "$(ctl mailbox show mixed@example.com --json | jq -r .owner)"

before=$(ctl mailbox list --json)
import_fails() {
	local desc=$1 pattern=$2 file=$3
	run 1 "$desc exits 1" ctl mailbox import "$file"
	check_match "$desc: error names line and column" "$pattern" "$err"
	check_eq "$desc: store unchanged" "$before" "$(ctl mailbox list --json)"
}
printf 'address,incoming\nnew1@example.com,none\nnew2@example.com,carrier-pigeon\n' > "$DV_TMP/badrow.csv"
import_fails "CSV with a bad method" "badrow.csv:3: column incoming: invalid value \"carrier-pigeon\"" "$DV_TMP/badrow.csv"
printf 'address,approval\nnew1@example.com,approved\nnot-an-address,approved\n' > "$DV_TMP/badaddr.csv"
import_fails "CSV with a bad address" "badaddr.csv:3: column address: invalid address" "$DV_TMP/badaddr.csv"
printf 'address,colour\nnew1@example.com,blue\n' > "$DV_TMP/badcol.csv"
import_fails "CSV with an unknown column" "badcol.csv:1: unknown column \"colour\"" "$DV_TMP/badcol.csv"
printf 'owner\nNobody\n' > "$DV_TMP/noaddr.csv"
import_fails "CSV without an address column" "noaddr.csv:1: no \"address\" column" "$DV_TMP/noaddr.csv"
printf 'address\nnew1@example.com\nNEW1@example.com\n' > "$DV_TMP/dup.csv"
import_fails "CSV with a repeated address" "dup.csv:3: column address: new1@example.com repeats line 2" "$DV_TMP/dup.csv"
printf 'address,owner\nnew1@example.com\n' > "$DV_TMP/short.csv"
import_fails "CSV with a short row" "short.csv:2: 1 fields, but the header names 2" "$DV_TMP/short.csv"
printf 'address,owner\n"new1@example.com,x\n' > "$DV_TMP/quote.csv"
import_fails "CSV with an open quote" "quote.csv: line 2: quoted field is not closed" "$DV_TMP/quote.csv"
printf 'address,profile\nnew1@example.com,ghost\n' > "$DV_TMP/prof.csv"
import_fails "CSV naming a missing profile" "prof.csv:2: no such profile: ghost" "$DV_TMP/prof.csv"
: > "$DV_TMP/empty.csv"
import_fails "empty CSV" "empty.csv: empty file" "$DV_TMP/empty.csv"
printf 'address,Address\nnew1@example.com,new1@example.com\n' > "$DV_TMP/twice.csv"
import_fails "CSV naming a column twice" 'twice.csv:1: column "address" appears twice' "$DV_TMP/twice.csv"
printf 'address\nnew1@example.com\nsupport+acme@example.com\n' > "$DV_TMP/sub.csv"
import_fails "CSV with a subaddress" "sub.csv:3: column address: support\\+acme@example.com is a subaddress of support@example.com" "$DV_TMP/sub.csv"
printf 'address,profile\nnew1@example.com,"a\tb"\n' > "$DV_TMP/badprof.csv"
import_fails "CSV with a bad profile name" "badprof.csv:2: column profile: bad name" "$DV_TMP/badprof.csv"
printf '"address\nnew1@example.com\n' > "$DV_TMP/openhead.csv"
import_fails "CSV with an open quote in the header" "openhead.csv: line 1: quoted field is not closed" "$DV_TMP/openhead.csv"
mkdir "$DV_TMP/dir.csv"
import_fails "a directory given as the CSV" "dir.csv: Is a directory; nothing was imported" "$DV_TMP/dir.csv"
run 1 "import of a missing file exits 1" ctl mailbox import "$DV_TMP/absent.csv"

# 100,000 rows in one transaction.
{
	echo "address,approval"
	seq 1 100000 | sed 's/.*/bulk&@bulk.example,approved/'
} > "$DV_TMP/bulk.csv"
start=$(date +%s%N)
run 0 "import of 100,000 rows exits 0" ctl mailbox import "$DV_TMP/bulk.csv"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "# imported 100,000 rows in $ms ms"
check_eq "all 100,000 rows landed" "100000" \
    "$(ctl mailbox list --json | jq '[.[] | select(.address | endswith("@bulk.example"))] | length')"

# --- a store that cannot be written ------------------------------------------------------
ro=$(mktemp -d /tmp/dvmilter-test.XXXXXX); _dv_cleanup_dirs="$_dv_cleanup_dirs $ro"
chmod 755 "$ro"
printf 'Database %s/db\n' "$ro" > "$ro/c.conf"
"$DVMILTERCTL" -c "$ro/c.conf" mailbox add keep@example.com >/dev/null
chmod 755 "$ro/db"; chmod 644 "$ro/db"/*.mdb
# --- folder rules ---------------------------------------------------------------
ctl mailbox add rules@example.com --queue >/dev/null
run 0 "rule add appends a rule" ctl rule add rules@example.com --subaddress acme --folder ACME --regarding account:ACME
run 0 "rule add --position inserts" ctl rule add rules@example.com --header 'List-Id: *' --no-track --position 1
run 0 "rule add with two conditions" ctl rule add rules@example.com --sender '*.example.org' --subject refund --folder Refunds
check_eq "rule list --json in order" "do-not-track/List-Id ACME/account:ACME Refunds/-" \
    "$(ctl rule list rules@example.com --json | jq -r 'map(if .action == "track" then .folder + "/" + (if .regarding then .regarding.type + ":" + .regarding.id else "-" end) else .action + "/" + .match.header.name end) | join(" ")')"
run 0 "rule move" ctl rule move rules@example.com 3 1
check_eq "moved to the top" "Refunds" "$(ctl rule list rules@example.com --json | jq -r '.[0].folder')"
run 0 "rule remove" ctl rule remove rules@example.com 2
check_eq "two rules left" "2" "$(ctl rule list --json | jq length)"
check_match "rule list shows a table" "rules@example.com +1 +sender=\*.example.org subject=\"refund\" +folder Refunds" "$(ctl rule list)"
run 1 "a rule without a condition exits 1" ctl rule add rules@example.com --folder X
check_match "and says why" "at least one condition" "$err"
run 2 "a rule without an action exits 2" ctl rule add rules@example.com --subject x
run 2 "both actions exits 2" ctl rule add rules@example.com --subject x --folder X --no-track
run 2 "a bad --header exits 2" ctl rule add rules@example.com --header NoColon --no-track
run 2 "a bad --regarding exits 2" ctl rule add rules@example.com --subject x --folder X --regarding ACME
run 1 "a rule for an unknown mailbox exits 1" ctl rule add ghost@example.com --subject x --folder X
run 1 "removing a rule that is not there exits 1" ctl rule remove rules@example.com 7
run 2 "rule 0 is a usage error" ctl rule move rules@example.com 0 1
run 0 "removing the mailbox" ctl mailbox remove rules@example.com
check_eq "removes its rules" "0" "$(ctl rule list --json | jq length)"

# --- case rules and the local plugin's records ---------------------------------
ctl mailbox add cases@example.com --queue >/dev/null
run 0 "caserule set with defaults" ctl caserule set cases@example.com
check_eq "a new rule creates contacts, reopens for 7 days, does not auto-reply" "true 7 false" \
    "$(ctl caserule list --json | jq -r '.[0] | [.create_contact, .reopen_days, .auto_reply] | map(tostring) | join(" ")')"
run 0 "caserule set changes only what it is given" ctl caserule set cases@example.com --auto-reply yes --reopen-days 0
check_eq "the rule keeps create-contact" "true 0 true" \
    "$(ctl caserule list --json | jq -r '.[0] | [.create_contact, .reopen_days, .auto_reply] | map(tostring) | join(" ")')"
run 1 "a case rule for a user mailbox exits 1" ctl caserule set alice@example.com
check_match "and says case rules belong to queues" "belong to queues" "$err"
run 1 "a case rule for an unknown mailbox exits 1" ctl caserule set ghost@example.com
run 2 "--auto-reply maybe exits 2" ctl caserule set cases@example.com --auto-reply maybe
run 2 "--reopen-days -1 exits 2" ctl caserule set cases@example.com --reopen-days -1
run 0 "caserule remove" ctl caserule remove cases@example.com
run 1 "removing it again exits 1" ctl caserule remove cases@example.com
run 0 "case list of an empty store" ctl case list --json
check_eq "is an empty array" "[]" "$out"
run 1 "case show of an unknown case exits 1" ctl case show CAS-09999
check_match "and names it" "no such case: CAS-09999" "$err"
run 1 "case resolve of an unknown case exits 1" ctl case resolve CAS-09999
run 2 "case list --status bogus exits 2" ctl case list --status bogus
run 1 "activity show of an unknown id exits 1" ctl activity show 00000000000000ff
run 0 "contact list" ctl contact list --json

as_other() {
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
	else
		chmod 555 "$ro/db"; chmod 444 "$ro/db"/*.mdb
		"$@"
	fi
}
run 1 "a store that cannot be written exits 1" as_other "$DVMILTERCTL" -c "$ro/c.conf" mailbox add new@example.com
check_match "unwritable store error names the store" "$ro/db.*(Permission denied|Read-only)" "$err"
printf 'address\nnew@example.com\n' > "$ro/new.csv"
run 1 "an import into a store that cannot be written exits 1" \
    as_other "$DVMILTERCTL" -c "$ro/c.conf" mailbox import "$ro/new.csv"
check_match "and names the store" "$ro/db.*(Permission denied|Read-only)" "$err"
chmod -R u+w "$ro/db" 2>/dev/null
check_eq "the unwritable store kept its data" "keep@example.com" \
    "$("$DVMILTERCTL" -c "$ro/c.conf" mailbox list --json | jq -r '.[].address')"

tap_done
