#!/bin/bash
# test_daemon.sh - the dvmilter process: flags, config checking, start-up
# in both modes, socket hygiene, privileges, reload and shutdown.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/lib/mt.sh"

command -v miltertest >/dev/null || skip_all "miltertest is not installed"
LUA="$top_srcdir/tests/milter"
dv_tmpdir
dv_conf

mt() {
	local args=() kv
	for kv in "$@"; do args+=(-D "$kv"); done
	miltertest -s "$MT_LUA/session.lua" -D "sock=unix:$DV_SOCK" "${args[@]}" \
	    >"$DV_TMP/mt.out" 2>&1
}

# optneg HOST PORT: send SMFIC_OPTNEG, expect an SMFIC_OPTNEG reply.
optneg() {
	local reply
	exec 3<>"/dev/tcp/$1/$2" || return 1
	printf '\x00\x00\x00\x0dO\x00\x00\x00\x06\x00\x00\x01\xff\x00\x1f\xff\xff' >&3
	reply=$(timeout 5 head -c 5 <&3 | tail -c 1)
	exec 3>&-
	[ "$reply" = "O" ]
}

# --- flags ---------------------------------------------------------------------------
out=$("$DVMILTER" -V 2>&1); rc=$?
check_eq "-V exits 0" 0 "$rc"
check_match "-V prints the version and libraries" "^dvmilter [0-9]+\.[0-9]+\.[0-9]+.*libmilter [0-9.]+, LMDB" "$(echo $out)"
"$DVMILTER" -x >/dev/null 2>&1; check_eq "an unknown flag exits 2" 2 "$?"
"$DVMILTER" -f extra >/dev/null 2>&1; check_eq "a stray argument exits 2" 2 "$?"

out=$("$DVMILTER" -n -c "$DV_CONF" 2>&1); rc=$?
check_eq "-n on a good config exits 0" 0 "$rc"
check_match "-n says the config is OK" "configuration OK" "$out"

nconf() {
	printf '%s\n' "$@" > "$DV_TMP/n.conf"
	out=$("$DVMILTER" -n -c "$DV_TMP/n.conf" 2>&1)
	rc=$?
}
nconf "Socket local:$DV_SOCK" "Sokcet inet:1@127.0.0.1"
check "-n on an unknown key exits non-zero" test "$rc" -ne 0
check_match "-n names file, line and key" "n.conf:2: unknown key \"Sokcet\" \(did you mean \"Socket\"\?\)" "$out"
head -c 3000 /dev/urandom > "$DV_TMP/n.conf"
out=$("$DVMILTER" -n -c "$DV_TMP/n.conf" 2>&1); rc=$?
check "-n on random bytes exits non-zero" test "$rc" -ne 0
check_match "-n on random bytes names the file" "n.conf" "$out"
nconf "UserID no-such-user-dvm"
check "-n on an unknown UserID exits non-zero" test "$rc" -ne 0
check_match "-n names the missing user" "UserID: no such user \"no-such-user-dvm\"" "$out"
nconf "SocketGroup no-such-group-dvm"
check_match "-n names the missing group" "SocketGroup: no such group \"no-such-group-dvm\"" "$out"
nconf "UnapprovedRecipientAction tempfail"
check_match "-n catches a reply code that contradicts the action" "UnapprovedRecipientAction is tempfail but UnapprovedRecipientReply has code 550" "$out"
out=$("$DVMILTER" -n -c "$DV_TMP/absent.conf" 2>&1); rc=$?
check "-n on a missing file exits non-zero" test "$rc" -ne 0
check_match "-n on a missing file names it" "absent.conf: No such file" "$out"

# --- plugins ----------------------------------------------------------------------------
dv_secret "$DV_TMP/secret" 'plugin-test-secret-0123456789'
nconf "PluginDir $top_builddir/plugins/webhook/.libs" "Plugins webhook" \
    "Webhook.URL http://127.0.0.1:9/hook" "Webhook.AllowInsecure yes" "Webhook.SecretFile $DV_TMP/secret"
check_eq "-n with a working plugin exits 0" 0 "$rc"
check_match "-n reports each plugin it loaded" "plugin webhook 1.0 loaded from $top_builddir/plugins/webhook/.libs" "$out"
nconf "PluginDir $top_builddir/plugins/webhook/.libs" "Plugins webhook" \
    "Webhook.URL http://127.0.0.1:9/hook" "Webhook.AllowInsecure yes" "Webhook.SecretFile $DV_TMP/secret" "Webhook.Colour blue"
check "-n with an unknown plugin key exits non-zero" test "$rc" -ne 0
check_match "the unknown plugin key is named with file and line" "n.conf:6: unknown key \"webhook.Colour\"" "$out"
nconf "PluginDir $DV_TMP" "Plugins absent"
check_match "-n names a plugin that cannot be loaded and its path" "plugin absent \($DV_TMP/absent.so\): No such file" "$out"

# --- foreground run, socket mode, stale socket -------------------------------------------
dv_conf "SocketMode 0600"
check "daemon starts in the foreground" dv_start
check_eq "unix socket gets SocketMode" "600" "$(stat -c %a "$DV_SOCK")"
check_eq "pid file holds the daemon pid" "$DV_DAEMON_PID" "$(cat "$DV_PIDFILE")"
second=$("$DVMILTER" -f -c "$DV_CONF" 2>&1); rc=$?
check "a second daemon on the same socket refuses to start" test "$rc" -ne 0
check_match "the refusal says the socket is in use" "is in use by another process" "$second"
check "the first daemon still answers" mt rcpts="<a@example.com>" expect=continue
kill -KILL "$DV_DAEMON_PID"; wait "$DV_PID" 2>/dev/null; DV_DAEMON_PID=
check "a killed daemon leaves its socket behind" test -S "$DV_SOCK"
: > "$DV_LOG"
check "restart after a crash removes the stale socket" dv_start
check_match "stale socket removal is logged" "removed stale socket $DV_SOCK" "$(cat "$DV_LOG")"
check "restarted daemon answers" mt rcpts="<a@example.com>" expect=continue
check "SIGTERM stops the daemon cleanly" dv_stop
check "the socket is gone after SIGTERM" test ! -e "$DV_SOCK"
echo "not a socket" > "$DV_SOCK"
out=$("$DVMILTER" -f -c "$DV_CONF" 2>&1); rc=$?
check "a regular file at the socket path is not removed" test "$rc" -ne 0 -a -f "$DV_SOCK"
check_match "and the refusal says why" "exists and is not a socket" "$out"
rm -f "$DV_SOCK"

# --- background start ---------------------------------------------------------------------------
dv_conf
"$DVMILTER" -c "$DV_CONF" 2>>"$DV_LOG"; rc=$?
check_eq "background start exits 0 once listening" 0 "$rc"
check "background daemon listens at once" test -S "$DV_SOCK"
DV_DAEMON_PID=$(cat "$DV_PIDFILE")
check "background daemon answers" mt rcpts="<a@example.com>" expect=continue
# gone PID: the process has exited (a zombie counts: our parent reaps it).
gone() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null)
	[ -z "$st" ] || [ "${st#Z}" != "$st" ]
}
kill -TERM "$DV_DAEMON_PID"
for _ in $(seq 1 50); do gone "$DV_DAEMON_PID" && break; sleep 0.1; done
check "background daemon stops on SIGTERM" gone "$DV_DAEMON_PID"
check_match "background daemon logged its clean stop" "dvmilter stopping" "$(cat "$DV_LOG")"
DV_DAEMON_PID=
dv_conf
sed -i "s|^Socket .*|Socket local:$DV_TMP/no/such/dir/s.sock|" "$DV_CONF"
"$DVMILTER" -c "$DV_CONF" >/dev/null 2>&1; rc=$?
check "background start that cannot listen exits non-zero" test "$rc" -ne 0

# --- inet sockets -------------------------------------------------------------------------------
dv_conf
port=$(free_port)
sed -i "s|^Socket .*|Socket inet:$port@127.0.0.1|" "$DV_CONF"
check "daemon listens on inet:PORT@127.0.0.1" dv_start
if miltertest -s "$LUA/session.lua" -D "sock=inet:$port@127.0.0.1" \
    -D 'rcpts=<a@example.com>' -D expect=continue >"$DV_TMP/mt.out" 2>&1; then
	ok "inet socket answers"
else
	not_ok "inet socket answers"; sed 's/^/#   /' "$DV_TMP/mt.out"
fi
check "inet daemon stops cleanly" dv_stop
port=$(free_port)
sed -i "s|^Socket .*|Socket inet6:$port@[::1]|" "$DV_CONF"
: > "$DV_LOG"
if dv_start; then
	ok "daemon listens on inet6:PORT@[::1]"
	# Debian's miltertest cannot connect over IPv6; speak the first
	# protocol step (option negotiation) through bash's /dev/tcp.
	check "inet6 socket answers option negotiation" optneg "::1" "$port"
	check "inet6 daemon stops cleanly" dv_stop
else
	not_ok "daemon listens on inet6:PORT@[::1]"
fi

# --- privileges -----------------------------------------------------------------------------------
if [ "$(id -u)" -eq 0 ] && getent passwd nobody >/dev/null; then
	dv_conf "UserID nobody" "SocketGroup nogroup"
	: > "$DV_LOG"
	check "daemon starts with UserID nobody" dv_start
	check_eq "daemon runs as nobody after start-up" "65534" \
	    "$(awk '/^Uid:/ {print $3}' /proc/"$DV_DAEMON_PID"/status)"
	check_eq "socket group set from SocketGroup" "nogroup" "$(stat -c %G "$DV_SOCK")"
	ctl mailbox add held@example.com >/dev/null
	check "unprivileged daemon still reads the store" mt rcpts="<held@example.com>" expect=reply
	check "unprivileged daemon stops cleanly" dv_stop

	# The plugins are loaded as UserID too, as the worker will load them.
	printf 'daemon-test-secret-0123456789\n' > "$DV_TMP/secret"
	chmod 600 "$DV_TMP/secret"		# root's: nobody cannot read it
	wconf=("Socket local:$DV_SOCK" "Database $DV_TMP/db" "Syslog no"
	    "UserID nobody" "PluginDir $top_builddir/plugins/webhook/.libs"
	    "Plugins webhook" "Webhook.URL http://127.0.0.1:9/hook" "Webhook.AllowInsecure yes"
	    "Webhook.SecretFile $DV_TMP/secret")
	nconf "${wconf[@]}"
	check "-n fails when UserID cannot read a plugin's file" test "$rc" -ne 0
	check_match "-n says which user and why" \
	    "as UserID nobody, which the outbox worker runs as: plugin webhook .*init failed: .*Webhook.SecretFile: $DV_TMP/secret: Permission denied" "$out"
	chown nobody "$DV_TMP/secret"
	nconf "${wconf[@]}"
	check_eq "-n passes once UserID can read it" 0 "$rc"
	# The same for the plugin's own file (root may load it; nobody not).
	mkdir -m 755 "$DV_TMP/pl"
	cp "$top_builddir/plugins/webhook/.libs/webhook.so" "$DV_TMP/pl/"
	chmod 600 "$DV_TMP/pl/webhook.so"
	wconf[4]="PluginDir $DV_TMP/pl"
	nconf "${wconf[@]}"
	check_match "-n fails when UserID cannot read the plugin itself" \
	    "as UserID nobody, which the outbox worker runs as: .*webhook.so" "$out"
else
	ok "# SKIP privilege drop needs root"
fi

# --- reload -------------------------------------------------------------------------------------------
dv_conf
: > "$DV_LOG"
ctl mailbox add waiting@example.com >/dev/null
dv_start
check "before reload: unapproved recipient rejected" mt rcpts="<waiting@example.com>" expect=reply
check_match "before reload: the reply is the default 550" 'rcpt=<waiting@example.com> .*action=reject reply="550 5.7.1' "$(cat "$DV_LOG")"
cat >> "$DV_CONF" <<'CONF'
UnapprovedRecipientAction tempfail
UnapprovedRecipientReply 450 4.7.1 <%a> awaits approval
CONF
kill -USR1 "$DV_DAEMON_PID"
for _ in $(seq 1 50); do grep -q "configuration reloaded" "$DV_LOG" && break; sleep 0.1; done
check_match "SIGUSR1 reloads the configuration" "configuration reloaded from $DV_CONF" "$(cat "$DV_LOG")"
: > "$DV_LOG.2"
check "after reload: the recipient still gets a reply" mt rcpts="<waiting@example.com>" expect=reply
check_match "after reload: the new policy and reply apply" 'rcpt=<waiting@example.com> .*action=tempfail reply="450 4.7.1 <waiting@example.com> awaits approval"' "$(cat "$DV_LOG")"
check "daemon survived SIGUSR1" kill -0 "$DV_DAEMON_PID"
cp "$DV_CONF" "$DV_TMP/good.conf"
echo "Frobnicate yes" >> "$DV_CONF"
out=$(ctl reload 2>&1); rc=$?
check_eq "dvmilterctl reload refuses to signal with a broken config" 1 "$rc"
check_match "and names file, line and key" "$DV_CONF:[0-9]+: unknown key \"Frobnicate\"" "$out"
kill -USR1 "$DV_DAEMON_PID"
for _ in $(seq 1 50); do grep -q "reload refused" "$DV_LOG" && break; sleep 0.1; done
check_match "a bad new config is refused by the daemon with file:line" "reload refused, the running configuration stays: $DV_CONF:[0-9]+: unknown key \"Frobnicate\"" "$(cat "$DV_LOG")"
check "the daemon keeps running after a refused reload" kill -0 "$DV_DAEMON_PID"
n_before=$(grep -c 'action=tempfail reply="450' "$DV_LOG")
mt rcpts="<waiting@example.com>" expect=reply
check_eq "the old config stays in force after a refused reload" "$((n_before + 1))" \
    "$(grep -c 'action=tempfail reply="450' "$DV_LOG")"
cp "$DV_TMP/good.conf" "$DV_CONF"
out=$(ctl reload 2>&1); rc=$?
check_eq "dvmilterctl reload with a good config exits 0" 0 "$rc"
for _ in $(seq 1 50); do [ "$(grep -c "configuration reloaded" "$DV_LOG")" -ge 2 ] && break; sleep 0.1; done
check_eq "dvmilterctl reload made the daemon reload" 2 "$(grep -c "configuration reloaded" "$DV_LOG")"
sed -i "s|^Socket .*|Socket inet:1@127.0.0.1|" "$DV_CONF"
kill -USR1 "$DV_DAEMON_PID"
for _ in $(seq 1 50); do grep -q "only a restart applies" "$DV_LOG" && break; sleep 0.1; done
check_match "a reload that changes Socket warns that it needs a restart" "reload: Socket changed; only a restart applies it" "$(cat "$DV_LOG")"
check "the daemon keeps listening on the old socket" mt rcpts="<a@example.com>" expect=continue
check "SIGTERM after reloads stops cleanly" dv_stop

tap_done
