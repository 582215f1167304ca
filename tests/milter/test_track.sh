#!/bin/bash
# test_track.sh - with plugins configured, mail for an approved,
# server-side-synced mailbox is collected and committed to the outbox at
# end of message; other mail is not; failures tempfail.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/lib/mt.sh"

command -v miltertest >/dev/null || skip_all "miltertest is not installed"
command -v jq >/dev/null || skip_all "jq is not installed"
LUA="$top_srcdir/tests/milter"
dv_tmpdir
dv_spooldir "$DV_TMP/spool"
dv_secret "$DV_TMP/secret" 'track-test-secret-0123456789'
plugin_conf=("PluginDir $top_builddir/plugins/webhook/.libs" "Plugins webhook"
    "Webhook.URL http://127.0.0.1:9/hook" "Webhook.AllowInsecure yes" "Webhook.SecretFile $DV_TMP/secret"
    "SpoolDirectory $DV_TMP/spool")


dv_conf "${plugin_conf[@]}" "MessageMemoryLimit 4096" "MaxMessageSize 64K"
ctl mailbox add support@example.com --queue >/dev/null
ctl mailbox approve support@example.com >/dev/null
ctl mailbox add outlook@example.com --incoming outlook >/dev/null
ctl mailbox approve outlook@example.com >/dev/null
ctl mailbox add out@example.com >/dev/null
ctl mailbox approve out@example.com >/dev/null
dv_start || bail "dvmilter did not start"

mt_check "with plugins, headers and body are negotiated without replies" negotiate_track.lua
mt_check "a message to an approved synced mailbox is collected and kept" \
    track.lua "rcpt=<support@example.com>" data_expect=continue body=100 msgid=t1@ext.example
# The writer gives it its deliveries a few milliseconds after the commit.
for i in $(seq 1 50); do
	q=$(ctl queue list --json)
	[ "$(jq '.[0].deliveries | length' <<<"$q")" != 0 ] && break
	sleep 0.1
done
check_eq "it is in the outbox, pending for the plugin" "1 pending webhook:pending" \
    "$(jq -r '(length|tostring) + " " + .[0].state + " " + ([.[0].deliveries[] | .plugin + ":" + .state] | join(","))' <<<"$q")"
id=$(jq -r '.[0].id' <<<"$q")
s=$(ctl queue show "$id" --json)
check_eq "the envelope is stored without brackets" "ann@ext.example support@example.com" \
    "$(jq -r '.from + " " + .rcpts[0]' <<<"$s")"
check_eq "the Message-ID is indexed" "t1@ext.example" "$(jq -r .message_id <<<"$s")"
check_eq "the decision names the mailbox as a recipient queue" "incoming support@example.com queue recipient" \
    "$(jq -r '.decision.direction + " " + (.decision.mailboxes[0] | .address + " " + .type + " " + .role)' <<<"$s")"
check_eq "headers (30 + 26 + 2 bytes) and 100 body lines are stored whole" "10058" "$(jq -r .size <<<"$s")"
check_eq "content over MessageMemoryLimit spilled and left no file" "0" "$(ls -A "$DV_TMP/spool" | wc -l)"
check_match "the daemon logged the outbox entry" "tracked as outbox entry $id: direction=incoming mailboxes=1 size=10058" "$(cat "$DV_LOG")"

mt_check "a message with no tracked mailbox is accepted at DATA" \
    track.lua "rcpt=<nobody@example.com>" data_expect=accept
mt_check "a mailbox synced by Outlook is not tracked" \
    track.lua "rcpt=<outlook@example.com>" data_expect=accept
check_eq "neither reached the outbox" "1" "$(ctl queue list --json | jq length)"

# The tracking filter of each mailbox.
ctl mailbox add bob@example.com >/dev/null		# a user: responses
ctl mailbox approve bob@example.com >/dev/null
ctl mailbox add nobody-home@example.com --queue --filter none >/dev/null
ctl mailbox approve nobody-home@example.com >/dev/null
ctl mailbox add picky@example.com --filter known-senders >/dev/null
ctl mailbox approve picky@example.com >/dev/null
count() { dv_stored; ctl queue list --json | jq length; }
n=$(count)
mt_check "new mail to a user with the default filter is accepted" \
    track.lua "rcpt=<bob@example.com>" data_expect=continue msgid=new-to-bob@ext.example
check_eq "but not tracked: users track only responses by default" "$n" "$(count)"
check_match "the filter decision is logged" "track mailbox=bob@example.com filter=responses tracked=no folder=- regarding=- reason=not a response to tracked mail" "$(cat "$DV_LOG")"
mt_check "a reply to tracked mail is accepted" \
    track.lua "rcpt=<bob@example.com>" data_expect=continue msgid=reply-to-bob@ext.example in_reply_to=t1@ext.example
check_eq "and tracked for the user" "$((n + 1))" "$(count)"
check_match "as a response" "track mailbox=bob@example.com filter=responses tracked=yes folder=- regarding=- reason=a response to tracked mail" "$(cat "$DV_LOG")"
mt_check "mail to a mailbox with filter none is accepted" \
    track.lua "rcpt=<nobody-home@example.com>" data_expect=continue msgid=none@ext.example
check_eq "and never tracked" "$((n + 1))" "$(count)"
mt_check "mail from an unknown sender to a known-senders mailbox is accepted" \
    track.lua "rcpt=<picky@example.com>" data_expect=continue msgid=stranger@ext.example
check_eq "and not tracked" "$((n + 1))" "$(count)"
ctl mailbox add ann@ext.example >/dev/null
mt_check "mail from a sender with a mailbox is accepted" \
    track.lua "rcpt=<picky@example.com>" data_expect=continue msgid=colleague@ext.example
check_eq "and tracked for the known-senders mailbox" "$((n + 2))" "$(count)"

# Folder-tracking rules: first match wins, before the filter.
decision() { dv_stored; ctl queue show "$(ctl queue list --json | jq -r --arg m "$1" '.[] | select(.message_id == $m) | .id')" --json | jq -c "$2"; }
ctl rule add bob@example.com --sender ext.example --subject invoice --folder Customers --regarding account:EXT >/dev/null
ctl rule add bob@example.com --sender ext.example --no-track >/dev/null
ctl rule add support@example.com --header 'X-Spam-Flag: YES' --no-track >/dev/null
ctl rule add support@example.com --subaddress acme --folder ACME >/dev/null
n=$(count)
mt_check "a rule tracks new mail into a folder for a responses-only user" \
    track.lua "rcpt=<bob@example.com>" data_expect=continue msgid=rule1@ext.example "subject=Invoice 42"
check_eq "with its folder and regarding record" '{"folder":"Customers","regarding_type":"account","regarding_id":"EXT"}' \
    "$(decision rule1@ext.example '.decision.mailboxes[0] | {folder, regarding_type, regarding_id}')"
check_match "the rule decision is logged" "track mailbox=bob@example.com filter=responses tracked=yes folder=Customers regarding=account:EXT reason=rule 1" "$(cat "$DV_LOG")"
mt_check "the next rule keeps the same sender's other mail out" \
    track.lua "rcpt=<bob@example.com>" data_expect=continue msgid=rule2@ext.example in_reply_to=t1@ext.example
check_eq "even a response: the rule comes before the filter" "$((n + 1))" "$(count)"
check_match "logged as the rule's" "track mailbox=bob@example.com filter=responses tracked=no folder=- regarding=- reason=rule 2: do not track" "$(cat "$DV_LOG")"
mt_check "a header rule keeps spam to a queue out" \
    track.lua "rcpt=<support@example.com>" data_expect=continue msgid=spam@ext.example "xheader=X-Spam-Flag: YES"
check_eq "it is not tracked" "$((n + 1))" "$(count)"
mt_check "a subaddress rule files support+acme@ mail" \
    track.lua "rcpt=<support+acme@example.com>" data_expect=continue msgid=acme@ext.example
check_eq "into its folder" '"ACME"' "$(decision acme@ext.example '.decision.mailboxes[0].folder')"
mt_check "mail that no rule matches falls to the filter" \
    track.lua "rcpt=<support@example.com>" data_expect=continue msgid=plain@ext.example
check_eq "and is tracked without a folder" 'null' "$(decision plain@ext.example '.decision.mailboxes[0].folder')"

# Copies of a message without a Message-ID are matched by content.
ctl mailbox add all@example.com --filter all >/dev/null
ctl mailbox approve all@example.com >/dev/null
n=$(count)
mt_check "a message without a Message-ID is tracked" \
    track.lua "rcpt=<support@example.com>" data_expect=continue msgid=none body=5 "subject=No id"
check_eq "under a content digest" "$((n + 1)) digest sha256:" \
    "$(count) $(ctl queue list --json | jq -r '.[-1].message_id' | cut -c1-14)"
mt_check "the same content in another transaction is accepted" \
    track.lua "rcpt=<all@example.com>" data_expect=continue msgid=none body=5 "subject=No id"
check_eq "and joins the first entry with its mailbox" "$((n + 1)) all@example.com support@example.com" \
    "$(count) $(ctl queue show "$(ctl queue list --json | jq -r '.[-1].id')" --json | jq -r '[.decision.mailboxes[].address] | sort | join(" ")')"
mt_check "other content without a Message-ID is accepted" \
    track.lua "rcpt=<support@example.com>" data_expect=continue msgid=none body=6 "subject=No id"
check_eq "and is an entry of its own" "$((n + 2))" "$(count)"

# Outgoing tracked mail gets the tracking token in its subject.
mt_check "outgoing tracked mail gets a token in its subject" \
    track.lua client=127.0.0.1 from=out@example.com "rcpt=<someone@ext.example>" \
    data_expect=continue msgid=out1@example.com subject_change=yes
check_match "the token is logged" ": tracking token CRM:[0-9]+-[0-9A-Z]{8} added to the subject" "$(cat "$DV_LOG")"
mt_check "incoming mail keeps its subject" \
    track.lua "rcpt=<support@example.com>" data_expect=continue msgid=in-keep@ext.example subject_change=no
sed -i 's/^TrackingTokenInSubject .*//' "$DV_CONF"; echo "TrackingTokenInSubject no" >> "$DV_CONF"
check "a reload turns it off" ctl reload
for _ in $(seq 1 50); do grep -q "configuration reloaded" "$DV_LOG" && break; sleep 0.1; done
mt_check "then outgoing mail keeps its subject" \
    track.lua client=127.0.0.1 from=out@example.com "rcpt=<someone@ext.example>" \
    data_expect=continue msgid=out2@example.com subject_change=no

# A spoofed internal sender: an outside client that names one of our
# mailboxes as its sender is incoming mail, never that mailbox's sent
# mail (direction comes from InternalHosts and SMTP AUTH, not from what
# the client claims), and it gets no token as if we had sent it.
mt_check "an outside client claiming an internal sender is accepted" \
    track.lua client=192.0.2.9 from=out@example.com "rcpt=<support@example.com>" \
    data_expect=continue msgid=spoof@ext.example subject_change=no
s=$(dv_stored; ctl queue list --json | jq -r '.[] | select(.message_id == "spoof@ext.example") | .id')
check_eq "it is incoming mail to the queue, not outgoing mail of out@" \
    "incoming support@example.com:recipient" \
    "$(ctl queue show "$s" --json | jq -r '.decision.direction + " " + ([.decision.mailboxes[] | .address + ":" + .role] | join(","))')"

mt_check "a message over MaxMessageSize is still accepted" \
    track.lua "rcpt=<support@example.com>" data_expect=continue body=1000 msgid=big@ext.example
s=$(dv_stored; ctl queue list --json | jq -r '.[] | select(.message_id == "big@ext.example") | .id')
check_eq "it is kept up to MaxMessageSize and marked truncated" "65536 true" \
    "$(ctl queue show "$s" --json | jq -r '(.size|tostring) + " " + (.truncated|tostring)')"
check "the daemon stops cleanly" dv_stop

# A store that cannot take the message: the sender must retry.
dv_tmpdir
dv_spooldir "$DV_TMP/spool"
dv_secret "$DV_TMP/secret" 'track-test-secret-0123456789'
plugin_conf=("PluginDir $top_builddir/plugins/webhook/.libs" "Plugins webhook"
    "Webhook.URL http://127.0.0.1:9/hook" "Webhook.AllowInsecure yes" "Webhook.SecretFile $DV_TMP/secret"
    "SpoolDirectory $DV_TMP/spool")
dv_conf "${plugin_conf[@]}" "DatabaseMapSize 1M" "MaxMessageSize 4M"
ctl mailbox add support@example.com --queue >/dev/null
ctl mailbox approve support@example.com >/dev/null
dv_start || bail "dvmilter did not start"
mt_check "a message the store cannot hold is tempfailed at end of message" \
    track.lua "rcpt=<support@example.com>" data_expect=continue body=20000 eom_expect=reply
check_match "the tempfail is logged with its reason" "tempfailing: the message could not be stored for tracking: .*store is full" "$(cat "$DV_LOG")"
check_eq "nothing half-written is left in the outbox" "0" "$(ctl queue list --json | jq length)"
mt_check "the next small message is stored again" \
    track.lua "rcpt=<support@example.com>" data_expect=continue body=3
check "the daemon stops cleanly after a failed commit" dv_stop
tap_done
