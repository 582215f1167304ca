# tests/lib/sendmail.sh - a throwaway Sendmail 8.17 for system tests
# (sourced after tests/lib/daemon.sh).
#
# Debian's sendmail packages conflict with Postfix, so they are not
# installed: sm_fetch downloads sendmail-bin, sendmail-base and
# sendmail-cf (and the two libraries Postfix hosts lack) with
# "apt-get download" and unpacks them with "dpkg -x" into SM_CACHE, once.
#
# sm_start builds sendmail.cf with m4 from the unpacked cf files: it
# listens only on 127.0.0.1:PORT, relays for everyone (loopback only),
# and hands every message to a test mailer that records its recipients in
# DIR/delivered and drops it, so nothing leaves the machine. Queue, pid
# file, statistics and aliases live under one directory. Sendmail
# qualifies its host name at start and stalls on DNS without one, so it
# runs in a private mount namespace (unshare -m) with /etc/hosts
# bind-mounted to a file that names this host, and a service switch file
# that looks host names up in files only.
#
# Nothing outlives the test: it runs under timeout(1), and the EXIT trap
# of daemon.sh calls _sm_cleanup.
#
# Functions: sm_available, sm_fetch, sm_start, sm_stop. Sets SM_PORT,
# SM_DIR, SM_LOG.

SM_CACHE=${SM_CACHE:-/var/cache/dvmilter-test/sendmail}
SM_TIMEOUT=${SM_TIMEOUT:-${DV_TIMEOUT:-600}}
SM_PKGS="sendmail-bin sendmail-base sendmail-cf liblockfile1 libwrap0"
SM_DIR=
SM_PORT=
SM_LOG=
SM_PIDFILE=
_sm_pid=

# sm_available: 0 if this host can run a test instance.
sm_available() {
	[ "$(id -u)" -eq 0 ] || { echo "not running as root"; return 1; }
	local t
	for t in m4 unshare mount dpkg apt-get timeout; do
		command -v "$t" >/dev/null 2>&1 || { echo "$t is missing"; return 1; }
	done
	unshare -m true 2>/dev/null ||
	    { echo "unshare -m is not permitted here"; return 1; }
	return 0
}

_sm_download() {
	# shellcheck disable=SC2086
	(cd "$1" && apt-get -q -o APT::Sandbox::User=root download \
	    $SM_PKGS >>"$1/apt.log" 2>&1)
}

# sm_fetch: unpack the packages into $SM_CACHE/root unless done already.
sm_fetch() {
	local bin="$SM_CACHE/root/usr/libexec/sendmail/sendmail" dl deb
	[ -x "$bin" ] && [ -f "$SM_CACHE/root/usr/share/sendmail/cf/m4/cf.m4" ] &&
	    return 0
	mkdir -p "$SM_CACHE" || return 1
	dl=$(mktemp -d "$SM_CACHE/dl.XXXXXX") || return 1
	# Download as root into a directory _apt cannot write to; on a fresh
	# machine whose package lists are missing, read them first.
	if ! _sm_download "$dl" && ! { apt-get update -qq >>"$dl/apt.log" 2>&1 &&
	    _sm_download "$dl"; }; then
		echo "# apt-get download $SM_PKGS failed:"
		sed 's/^/#   /' "$dl/apt.log"
		rm -rf "$dl"
		return 1
	fi
	rm -rf "$SM_CACHE/root.new" && mkdir "$SM_CACHE/root.new" || return 1
	for deb in "$dl"/*.deb; do
		dpkg -x "$deb" "$SM_CACHE/root.new" || { rm -rf "$dl"; return 1; }
	done
	# Not setgid smmsp: the loader would ignore LD_LIBRARY_PATH.
	chmod -R g-s "$SM_CACHE/root.new/usr/libexec/sendmail" || return 1
	rm -rf "$dl" "$SM_CACHE/root" &&
	    mv "$SM_CACHE/root.new" "$SM_CACHE/root"
}

# sm_start DIR PORT|auto MILTER_SOCKET: build the instance and start it
# with dvmilter as its INPUT_MAIL_FILTER (F=T, as the README says).
sm_start() {
	local dir=$1 port=$2 sock=$3 root="$SM_CACHE/root" i h
	sm_fetch || return 1
	[ "$port" = auto ] && { port=$(free_port) || return 1; }
	SM_DIR=$dir SM_PORT=$port SM_LOG="$dir/sendmail.log"
	SM_PIDFILE="$dir/sendmail.pid"
	mkdir -p "$dir/queue" && chmod 700 "$dir/queue" || return 1
	: > "$dir/aliases"
	printf 'hosts\tfiles\naliases\tfiles\n' > "$dir/service.switch"
	h=$(uname -n)
	printf '127.0.0.1\t%s sm.test localhost\n127.0.0.2\tclient.test\n::1\tlocalhost\n' \
	    "$h" > "$dir/hosts"
	cat > "$dir/sendmail.mc" <<EOF
divert(-1)
include(\`$root/usr/share/sendmail/cf/m4/cf.m4')
divert(0)dnl
OSTYPE(\`linux')dnl
define(\`confCF_VERSION', \`dvmilter-test')dnl
define(\`confDOMAIN_NAME', \`sm.test')dnl
define(\`QUEUE_DIR', \`$dir/queue')dnl
define(\`STATUS_FILE', \`$dir/statistics')dnl
define(\`ALIAS_FILE', \`$dir/aliases')dnl
define(\`confPID_FILE', \`$SM_PIDFILE')dnl
define(\`confHELP_FILE', \`$dir/helpfile')dnl
define(\`confSERVICE_SWITCH_FILE', \`$dir/service.switch')dnl
define(\`confHOSTS_FILE', \`$dir/hosts')dnl
define(\`confDONT_PROBE_INTERFACES', \`true')dnl
define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit')dnl
define(\`confLOG_LEVEL', \`14')dnl
define(\`confMILTER_LOG_LEVEL', \`2')dnl
define(\`confTO_IDENT', \`0s')dnl
define(\`confDELIVERY_MODE', \`interactive')dnl
FEATURE(\`no_default_msa')dnl
FEATURE(\`promiscuous_relay')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`accept_unqualified_senders')dnl
DAEMON_OPTIONS(\`Port=$port, Addr=127.0.0.1, Name=MTA')dnl
INPUT_MAIL_FILTER(\`dvmilter', \`S=local:$sock, F=T, T=C:30s;S:10s;R:10s;E:5m')dnl
MAILER(\`local')dnl
MAILER(\`smtp')dnl
MAILER_DEFINITIONS
Mtestbox, P=$dir/deliver, F=lsDFMqS, S=EnvFromL, R=EnvToL, A=deliver \$u@\$h
LOCAL_RULE_0
R\$+ < @ \$+ . > \$*	\$#testbox \$@ \$2 \$: \$1
R\$+ < @ \$+ > \$*	\$#testbox \$@ \$2 \$: \$1
R\$*			\$#testbox \$@ sm.test \$: \$1
EOF
	# The mailer: every recipient, one line each, in $dir/delivered.
	printf '#!/bin/sh\ncat >/dev/null\nprintf "%%s\\n" "$@" >> "%s/delivered"\n' \
	    "$dir" > "$dir/deliver" && chmod 755 "$dir/deliver" || return 1
	m4 "$dir/sendmail.mc" > "$dir/sendmail.cf" 2>"$dir/m4.err" ||
	    { echo "# m4 failed:"; sed 's/^/#   /' "$dir/m4.err"; return 1; }
	# -bD: a daemon in the foreground. Its log goes to syslog, which a
	# test may not have, so -X traces the SMTP sessions to a file.
	LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
	    timeout -s TERM "$SM_TIMEOUT" unshare -m sh -c \
	    'mount --bind "$1" /etc/hosts && exec "$2" -bD -C "$3" -X "$4"' \
	    sh "$dir/hosts" "$root/usr/libexec/sendmail/sendmail" \
	    "$dir/sendmail.cf" "$dir/smtp.trace" >"$SM_LOG" 2>&1 &
	_sm_pid=$!
	for i in $(seq 1 100); do
		if [ -s "$SM_PIDFILE" ] && ss -Htln "sport = :$port" | grep -q .; then
			return 0
		fi
		kill -0 "$_sm_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "# sendmail did not start; its output:"
	sed 's/^/#   /' "$SM_LOG"
	return 1
}

# sm_stop: SIGTERM the daemon (it stops its children) and wait.
sm_stop() {
	local p i
	[ -n "$_sm_pid" ] || return 0
	p=$(head -n 1 "$SM_PIDFILE" 2>/dev/null)
	[ -n "$p" ] && kill -TERM "$p" 2>/dev/null
	for i in $(seq 1 50); do
		kill -0 "$_sm_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -TERM "$_sm_pid" 2>/dev/null
	wait "$_sm_pid" 2>/dev/null
	_sm_pid=
	return 0
}

_sm_cleanup() {
	sm_stop
}
