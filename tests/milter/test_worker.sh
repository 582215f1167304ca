#!/bin/bash
# test_worker.sh - the outbox worker: tracked mail reaches the webhook
# plugin off the SMTP path; failures are retried or dead-lettered; a
# worker killed in the middle of a delivery is restarted by the daemon
# and the delivery is made again, once, under the same idempotency key.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/daemon.sh"

command -v miltertest >/dev/null || skip_all "miltertest is not installed"
command -v jq >/dev/null || skip_all "jq is not installed"
LUA="$top_srcdir/tests/milter"
HOOKD="$top_builddir/tests/plugins/hookd"
dv_tmpdir
mkdir "$DV_TMP/req"; dv_spooldir "$DV_TMP/spool"
"$HOOKD" "$DV_TMP/port" "$DV_TMP/req" 201 '{"activity_id":"act-7","case_id":"CAS-01001"}' 120 &
HOOKD_PID=$!
trap 'kill $HOOKD_PID 2>/dev/null; _dv_cleanup' EXIT
for _ in $(seq 1 50); do [ -s "$DV_TMP/port" ] && break; sleep 0.1; done
port=$(cat "$DV_TMP/port")
dv_secret "$DV_TMP/secret" 'worker-test-secret-0123456789'
dv_conf "PluginDir $top_builddir/plugins/webhook/.libs" "Plugins webhook" \
    "Webhook.URL http://127.0.0.1:$port/hook" "Webhook.AllowInsecure yes" "Webhook.SecretFile $DV_TMP/secret" \
    "Webhook.Timeout 10" "SpoolDirectory $DV_TMP/spool"
ctl mailbox add support@example.com --queue >/dev/null
ctl mailbox approve support@example.com >/dev/null
ctl mailbox add alice@example.com --filter all >/dev/null
ctl mailbox approve alice@example.com >/dev/null
dv_start || bail "dvmilter did not start"

send() {	# send MSGID: one tracked message
	miltertest -s "$LUA/track.lua" -D "sock=unix:$DV_SOCK" \
	    -D "rcpt=<support@example.com>" -D data_expect=continue \
	    -D "msgid=$1" >"$DV_TMP/mt.out" 2>&1
}
state_of() {	# state_of MSGID: "state attempts activity"
	ctl queue list --json | jq -r --arg m "$1" '.[] | select(.message_id == $m) |
	    .deliveries[0] | .state + " " + (.attempts|tostring) + " " + (.activity_id // "-")'
}
wait_state() {	# wait_state MSGID STATE
	for _ in $(seq 1 100); do
		case "$(state_of "$1")" in "$2"*) return 0 ;; esac
		sleep 0.1
	done
	return 1
}
worker_pid() {
	pgrep -f -- "dvmilter-[w]orker -c $DV_CONF" | head -n 1
}

check "the daemon started an outbox worker" bash -c "for i in \$(seq 50); do pgrep -f -- 'dvmilter-[w]orker -c $DV_CONF' >/dev/null && exit 0; sleep 0.1; done; exit 1"
check "a tracked message is accepted" send ok1@ext.example
check "the worker delivers it to the webhook" wait_state ok1@ext.example done
check_eq "the delivery records the ids the receiver returned" "done 1 act-7" "$(state_of ok1@ext.example)"
for _ in $(seq 1 30); do [ -s "$DV_TMP/req/1.headers" ] && break; sleep 0.1; done
body=$(cat "$DV_TMP/req/1.json" 2>/dev/null)
check_eq "the receiver got the parsed message" "Printer on fire support@example.com ok1@ext.example" \
    "$(jq -r '.subject + " " + .mailboxes[0].address + " " + .message_id' <<<"$body")"
check_match "the request carries an idempotency key: the store's identity and the entry id" "Idempotency-Key: [0-9a-f]{32}-[0-9a-f]{16}" "$(cat "$DV_TMP/req/1.headers")"
check_match "the worker logged the delivery" "outbox [0-9]+: delivered to webhook: activity=act-7 case=CAS-01001" "$(cat "$DV_LOG")"

echo "503" > "$DV_TMP/req/status"; sleep 0.3
check "a message sent while the receiver fails is still accepted" send fail@ext.example
check "a 503 leaves the delivery pending for a retry" wait_state fail@ext.example "pending 1"
check_match "the retry is logged with the reason" "webhook failed \(attempt 1\), retrying in [0-9]+ s: .*HTTP 503" "$(cat "$DV_LOG")"
echo "400" > "$DV_TMP/req/status"; sleep 0.3
check "a message the receiver refuses is accepted" send dead@ext.example
check "a 400 dead-letters the delivery" wait_state dead@ext.example "dead 1"
check_match "queue show gives the dead delivery's reason" "delivery: +webhook dead, 1 attempt: .*HTTP 400" \
    "$(ctl queue show "$(ctl queue list --json | jq -r '.[] | select(.message_id == "dead@ext.example") | .id')")"

# Correlation: replies find the message they answer.
echo "201" > "$DV_TMP/req/status"; sleep 0.3
first=$(ctl queue list --json | jq -r '.[] | select(.message_id == "ok1@ext.example") | .id')
first_hex=$(printf '%016x' "$first")
token=$(jq -r .tracking_token "$DV_TMP/req/1.json")
check_match "a new conversation gets a signed tracking token" "^CRM:$first-[0-9A-Z]{8}$" "$token"
latest() { ls -t "$DV_TMP/req"/*.json | head -n 1; }
n=$(ls "$DV_TMP/req"/*.json | wc -l)
miltertest -s "$LUA/track.lua" -D "sock=unix:$DV_SOCK" -D "rcpt=<support@example.com>" \
    -D data_expect=continue -D msgid=reply1@ext.example -D in_reply_to=ok1@ext.example \
    -D "subject=RE: Printer on fire" >/dev/null 2>&1
check "a reply is delivered" wait_state reply1@ext.example done
sleep 0.3
check_eq "a reply is correlated by In-Reply-To to the first message" "in-reply-to $first_hex $token" \
    "$(jq -r '.correlation + " " + .correlated_id + " " + .tracking_token' "$(latest)")"
miltertest -s "$LUA/track.lua" -D "sock=unix:$DV_SOCK" -D "rcpt=<support@example.com>" \
    -D data_expect=continue -D msgid=tok1@ext.example \
    -D "subject=New question $token" >/dev/null 2>&1
check "a message with only the token is delivered" wait_state tok1@ext.example done
sleep 0.3
check_eq "it is correlated by its tracking token" "tracking-token $first_hex" \
    "$(jq -r '.correlation + " " + .correlated_id' "$(latest)")"
forged="CRM:$first-AAAAAAAA"
[ "$forged" = "$token" ] && forged="CRM:$first-BBBBBBBB"
miltertest -s "$LUA/track.lua" -D "sock=unix:$DV_SOCK" -D "rcpt=<support@example.com>" \
    -D data_expect=continue -D msgid=forged@ext.example \
    -D "subject=Hijack $forged" >/dev/null 2>&1
check "a message with a forged token is delivered" wait_state forged@ext.example done
sleep 0.3
check_eq "a forged token correlates with nothing" "none null" \
    "$(jq -r '.correlation + " " + (.correlated_id // "null")' "$(latest)")"
check_match "the forged token is logged" "invalid tracking token in subject ignored" "$(cat "$DV_LOG")"
# track.lua sends no queue id: the milter logs NOQUEUE in its place.
check_eq "it is logged once, by the milter, with the queue id" "1 1" \
    "$(grep -c 'invalid tracking token' "$DV_LOG") $(grep -c 'dvmilter[^-].*NOQUEUE: invalid tracking token in subject ignored' "$DV_LOG")"
miltertest -s "$LUA/track.lua" -D "sock=unix:$DV_SOCK" -D "rcpt=<support@example.com>" \
    -D data_expect=continue -D msgid=bogus-after@ext.example \
    -D "subject=Re: $token $forged" >/dev/null 2>&1
check "a message with a bogus token after a valid one is delivered" wait_state bogus-after@ext.example done
sleep 0.3
check_eq "the bogus token does not hide the valid one" "tracking-token $first_hex" \
    "$(jq -r '.correlation + " " + .correlated_id' "$(latest)")"
check "the token key was created beside the store, mode 0600" test "$(stat -c %a "$DV_TMP/db/token.key")" = 600

# The same message in two transactions (to two tracked mailboxes).
for r in support alice; do
	miltertest -s "$LUA/track.lua" -D "sock=unix:$DV_SOCK" -D "rcpt=<$r@example.com>" \
	    -D data_expect=continue -D msgid=twice@ext.example >/dev/null 2>&1
done
check_eq "a message received twice is one outbox entry" "1" \
    "$(dv_stored; ctl queue list --json | jq '[.[] | select(.message_id == "twice@ext.example")] | length')"
check "it is delivered with every mailbox" bash -c "for i in \$(seq 100); do
    f=\$(ls -t '$DV_TMP/req'/*.json | head -n 1); \
    jq -e '.message_id == \"twice@ext.example\" and ([.mailboxes[].address] | sort) == [\"alice@example.com\",\"support@example.com\"]' \"\$f\" >/dev/null && exit 0; sleep 0.1; done; exit 1"

# Kill the worker in the middle of a delivery.
echo "200 3000" > "$DV_TMP/req/status"; sleep 0.3
n_before=$(ls "$DV_TMP/req"/*.json | wc -l)
w1=$(worker_pid)
check "a message is accepted before the crash" send crash@ext.example
for _ in $(seq 1 50); do [ "$(ls "$DV_TMP/req"/*.json | wc -l)" -gt "$n_before" ] && break; sleep 0.1; done
kill -KILL "$w1"
check "the killed delivery was still pending" wait_state crash@ext.example "pending 0"
for _ in $(seq 1 50); do w2=$(worker_pid); [ -n "$w2" ] && [ "$w2" != "$w1" ] && break; sleep 0.1; done
check "the daemon restarted the worker" test -n "$w2" -a "$w2" != "$w1"
check_match "the crash and the restart are logged" "outbox worker $w1 killed by signal 9" "$(cat "$DV_LOG")"
check "after the restart the delivery completes, the crash counted as an attempt" wait_state crash@ext.example "done 2"
check_match "the new worker blamed the delivery it died in" "outbox [0-9]+: webhook: the worker died delivering it \\(1 of 3\\)" "$(cat "$DV_LOG")"
sleep 0.3	# hookd saves requests every 100 ms
crash_key=$(printf '%016x' "$(ctl queue list --json | jq -r '.[] | select(.message_id == "crash@ext.example") | .id')")
n_req=$(grep -il "^Idempotency-Key: [0-9a-f]\{32\}-$crash_key" "$DV_TMP/req"/*.headers | wc -l)
echo "# worker killed mid-delivery: $n_req requests under one idempotency key, state $(state_of crash@ext.example)"
check_eq "the delivery was made twice under one idempotency key, no more" "2" "$n_req"
check_eq "the outbox holds each message once" "9" "$(ctl queue list --json | jq length)"

# A configuration broken since the daemon read it: the restarted worker
# says why it cannot start, where the daemon logs (here its stderr).
cp "$DV_CONF" "$DV_TMP/good.conf"
echo "Frobnicate yes" >> "$DV_CONF"
w4=$(worker_pid)
kill -KILL "$w4"
check "a worker that cannot read its configuration says why in the daemon's log" bash -c \
    "for i in \$(seq 100); do grep -Eq 'dvmilter-worker\[error\]: cannot start: .*unknown key \"Frobnicate\"' '$DV_LOG' && exit 0; sleep 0.1; done; exit 1"
cp "$DV_TMP/good.conf" "$DV_CONF"
for _ in $(seq 1 150); do w5=$(worker_pid); [ -n "$w5" ] && [ "$w5" != "$w4" ] && kill -0 "$w5" 2>/dev/null && grep -q "worker started" <(tail -n 5 "$DV_LOG") && break; sleep 0.1; done
check "once the file is fixed the supervisor's next restart works" test -n "$w5" -a "$w5" != "$w4"

kill -USR2 "$DV_DAEMON_PID"; sleep 0.3
check "a stray SIGUSR2 does not stop the daemon" kill -0 "$DV_DAEMON_PID"
check "SIGTERM stops the daemon and its worker" dv_stop
check "no worker is left" bash -c "! pgrep -f -- 'dvmilter-[w]orker -c $DV_CONF' >/dev/null"
: > "$DV_LOG"
dv_start || bail "dvmilter did not restart"
for _ in $(seq 1 50); do w3=$(worker_pid); [ -n "$w3" ] && break; sleep 0.1; done
kill -KILL "$DV_DAEMON_PID"
for _ in $(seq 1 50); do kill -0 "$w3" 2>/dev/null || break; sleep 0.1; done
check "a worker whose daemon was killed stops too" bash -c "! kill -0 $w3 2>/dev/null"
wait "$DV_PID" 2>/dev/null; DV_DAEMON_PID=

# Two plugins: a message goes to them in the order Plugins lists them,
# not in the order of their names.
mkdir "$DV_TMP/both"
ln -s "$top_builddir/plugins/webhook/.libs/webhook.so" "$DV_TMP/both/webhook.so"
ln -s "$top_builddir/plugins/local/.libs/local.so" "$DV_TMP/both/local.so"
dv_conf "PluginDir $DV_TMP/both" "Plugins webhook local" \
    "Webhook.URL http://127.0.0.1:$port/hook" "Webhook.AllowInsecure yes" "Webhook.SecretFile $DV_TMP/secret" \
    "SpoolDirectory $DV_TMP/spool"
: > "$DV_LOG"
dv_start || bail "dvmilter did not start with two plugins"
check "a message for two plugins is accepted" send order@ext.example
order_id=$(dv_stored; ctl queue list --json | jq -r '.[] | select(.message_id == "order@ext.example") | .id')
check "both plugins record it" bash -c \
    "for i in \$(seq 100); do [ \$(grep -Ec 'outbox $order_id: delivered to (webhook|local)' '$DV_LOG') = 2 ] && exit 0; sleep 0.1; done; exit 1"
check_eq "webhook, listed first, gets it first" "webhook local" \
    "$(grep -Eo "outbox $order_id: delivered to [a-z]+" "$DV_LOG" | awk '{ printf "%s%s", sep, $NF; sep = " " }')"
check "the daemon stops" dv_stop

# A daemon that is PID 1 (a container's init) still has a worker: the
# child's check for a daemon that died first must not take PID 1 as one.
# The daemon's PID file says 1 here. A SIGTERM from outside the
# namespace ("docker stop") stops it: the kernel drops a signal to a
# namespace's init that has no handler for it, but not one the init
# blocks, and every thread of the daemon blocks SIGTERM for sigwait().
: > "$DV_LOG"
unshare --pid --fork --kill-child "$DVMILTER" -f -c "$DV_CONF" >>"$DV_LOG" 2>&1 &
NS_PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$DV_LOG" && break; sleep 0.1; done
check "a daemon that is PID 1 starts" grep -q "listening on" "$DV_LOG"
check "a message to a daemon that is PID 1 is accepted" send pid1@ext.example
check "its worker delivers it" bash -c \
    "for i in \$(seq 100); do grep -Eq 'delivered to (webhook|local)' '$DV_LOG' && exit 0; sleep 0.1; done; exit 1"
check "its worker did not exit at start" bash -c "! grep -q 'outbox worker .* exited' '$DV_LOG'"
ns_worker=$(worker_pid)
ns_daemon=$(pgrep -P "$NS_PID")
kill -TERM "$ns_daemon" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$NS_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$NS_PID" 2>/dev/null; then
	not_ok "a SIGTERM from outside its namespace stops a daemon that is PID 1"
	kill -KILL "$ns_daemon" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$NS_PID" 2>/dev/null || break; sleep 0.1; done
else
	ok "a SIGTERM from outside its namespace stops a daemon that is PID 1"
fi
check "it and its worker end with their namespace" bash -c \
    "! kill -0 $NS_PID 2>/dev/null && ! kill -0 ${ns_worker:-0} 2>/dev/null"
wait "$NS_PID" 2>/dev/null
# Root starts the worker: one that another user could replace is not
# run, and the daemon says which file and why instead of starting.
mkdir -m 755 "$DV_TMP/bin"
cp "$DVMILTER" "$DV_TMP/bin/dvmilter"
cp "$(dirname "$DVMILTER")/dvmilter-worker" "$DV_TMP/bin/"
chmod 777 "$DV_TMP/bin/dvmilter-worker"
: > "$DV_LOG"
timeout 20 "$DV_TMP/bin/dvmilter" -f -c "$DV_CONF" >>"$DV_LOG" 2>&1
check_eq "a daemon whose worker others may write exits 1" 1 "$?"
check_match "and names the worker and the reason" \
    "will not run the outbox worker $DV_TMP/bin/dvmilter-worker: writable by group or others" \
    "$(cat "$DV_LOG")"
chmod 755 "$DV_TMP/bin/dvmilter-worker"
chmod 757 "$DV_TMP/bin"
: > "$DV_LOG"
timeout 20 "$DV_TMP/bin/dvmilter" -f -c "$DV_CONF" >>"$DV_LOG" 2>&1
check_match "nor one in a directory others may write" \
    "will not run the outbox worker $DV_TMP/bin/dvmilter-worker: its directory $DV_TMP/bin is writable by group or others" \
    "$(cat "$DV_LOG")"
tap_done
