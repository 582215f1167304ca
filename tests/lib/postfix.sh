# tests/lib/postfix.sh - a throwaway Postfix instance for system tests and
# benchmarks, and an SMTP client helper (sourced after tests/lib/daemon.sh).
#
# pf_start builds a complete Postfix instance under one directory: its own
# config (DIR/etc), queue (DIR/spool), data directory (DIR/data) and log
# (DIR/maillog). It listens only on 127.0.0.1:PORT, relays for loopback
# clients and discards every message, so nothing ever leaves the machine.
# No chroot, so a unix: milter socket path is used as written.
#
# "postfix -c DIR" refuses a config directory that the default instance's
# main.cf does not list in alternate_config_directories. pf_start adds its
# own directory there (creating a minimal /etc/postfix/main.cf if the host
# has none) and pf_stop takes it out again; edits are serialised with
# flock(1) so parallel tests do not lose each other's entries.
#
# Nothing outlives the test: the EXIT trap of daemon.sh calls _pf_cleanup,
# and a watchdog in its own session stops the instance when the test's
# shell is gone (even after SIGKILL) or after PF_TIMEOUT seconds.
#
# Functions: pf_available, pf_start, pf_stop, pf_wait_queue, smtp_send,
# smtp_reply. Everything is set -u safe.

PF_SYSCONF=/etc/postfix
PF_MARKER="# Created by dvmilter tests/lib/postfix.sh for test instances."
if [ -d /run/lock ] && [ -w /run/lock ]; then
	PF_LOCK=/run/lock/dvmilter-postfix.lock
else
	PF_LOCK=/tmp/dvmilter-postfix.lock
fi
PF_TIMEOUT=${PF_TIMEOUT:-${DV_TIMEOUT:-600}}
_PF_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
PF_DIR=
PF_CONF=
PF_PORT=
PF_LOG=
_pf_running=
_pf_master=
_pf_wd=

# pf_available: 0 if this host can run a test instance (root, Postfix).
pf_available() {
	[ "$(id -u)" -eq 0 ] || { echo "not running as root"; return 1; }
	command -v postfix >/dev/null 2>&1 && command -v postconf >/dev/null 2>&1 ||
	    { echo "postfix is not installed"; return 1; }
	getent passwd postfix >/dev/null ||
	    { echo "no postfix user"; return 1; }
	command -v flock >/dev/null 2>&1 || { echo "flock(1) missing"; return 1; }
	return 0
}

# pf_require TOOL...: skip the whole script (skip_all, tests/lib/tap.sh)
# unless this host can run a test instance and has every TOOL.
pf_require() {
	local why t

	why=$(pf_available) || skip_all "$why"
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || skip_all "$t is not installed"
	done
}

# _pf_age FILE...: backdate files. Postfix refuses to read a table or
# main.cf modified in the last second or so and sleeps until it is older,
# which would cost seconds per start.
_pf_age() {
	touch -d "@$(($(date +%s) - 10))" "$@"
}

# _pf_altdirs add|del DIR: edit alternate_config_directories of the
# default instance under the lock.
_pf_altdirs() {
	local op=$1 dir=$2
	(
		flock -w 60 9 || { echo "# cannot lock $PF_LOCK" >&2; exit 1; }
		local main="$PF_SYSCONF/main.cf" cur new d
		if [ ! -e "$main" ]; then
			[ "$op" = add ] || exit 0
			mkdir -p "$PF_SYSCONF" || exit 1
			printf '%s\n%s\ncompatibility_level = 3.6\n' "$PF_MARKER" \
			    "# It is removed when the last instance stops." \
			    > "$main" || exit 1
		fi
		cur=$(postconf -c "$PF_SYSCONF" -h alternate_config_directories \
		    2>/dev/null) || cur=
		new=
		for d in $(printf '%s' "$cur" | tr ',' ' '); do
			[ "$d" = "$dir" ] || new="$new${new:+, }$d"
		done
		[ "$op" = add ] && new="$new${new:+, }$dir"
		if [ -n "$new" ]; then
			postconf -c "$PF_SYSCONF" -e \
			    "alternate_config_directories = $new" || exit 1
			_pf_age "$main"
		elif head -n 1 "$main" | grep -qxF "$PF_MARKER"; then
			rm -f "$main"
		else
			postconf -c "$PF_SYSCONF" -X alternate_config_directories
		fi
	) 9>>"$PF_LOCK"
}

# _pf_instance_pids CONF: every process of the instance with config
# directory CONF, found by the MAIL_CONFIG that postfix(1) hands down to
# master and master to all its children.
_pf_instance_pids() {
	local conf=$1 e pid
	{
		for e in /proc/[0-9]*/environ; do
			pid=${e#/proc/}
			pid=${pid%/environ}
			if tr '\0' '\n' < "$e" |
			    grep -qxF "MAIL_CONFIG=$conf"; then
				echo "$pid"
			fi
		done
	} 2>/dev/null
}

# _pf_kill_instance CONF MASTER_PID: "postfix stop", then SIGKILL for
# whatever is left, then unregister CONF. Works even when the instance's
# directory is already gone.
_pf_kill_instance() {
	local conf=$1 master=$2 i left
	if [ -n "$master" ] && kill -0 "$master" 2>/dev/null; then
		[ -d "$conf" ] && postfix -c "$conf" stop >/dev/null 2>&1
		for i in $(seq 1 50); do
			kill -0 "$master" 2>/dev/null || break
			sleep 0.1
		done
		# master runs in its own session: take its group down too.
		kill -KILL -- "-$master" 2>/dev/null
		kill -KILL "$master" 2>/dev/null
	fi
	left=$(_pf_instance_pids "$conf")
	[ -z "$left" ] || kill -KILL $left 2>/dev/null
	_pf_altdirs del "$conf"
}

# _pf_watch OWNER CONF MASTER LIMIT: the watchdog. Runs in a session of
# its own, so it outlives a test that is killed outright, and stops the
# instance when OWNER exits or after LIMIT seconds, like timeout(1) does
# for dvmilter in daemon.sh.
_pf_watch() {
	local owner=$1 conf=$2 master=$3 limit=$4 i
	for ((i = 0; i < limit; i++)); do
		kill -0 "$owner" 2>/dev/null || break
		sleep 1
	done
	_pf_kill_instance "$conf" "$master"
}

# pf_start DIR PORT MILTER [extra main.cf lines...]
#   PORT "auto" (or "") picks a free port with free_port and, should
#   another process take it first, tries again with another one.
#   MILTER is what smtpd_milters takes ("unix:/path", "inet:127.0.0.1:N")
#   or "" for none. Sets PF_DIR, PF_CONF, PF_PORT and PF_LOG (the maillog).
#   An extra line that starts with "master.cf:" goes to master.cf instead,
#   e.g. "master.cf: 127.0.0.1:2526 inet n - n - - smtpd -o smtpd_milters="
#   for a second listener with other settings.
pf_start() {
	local dir=$1 port=$2 milter=$3 line i d auto= attempt
	local main_extra=() master_extra=()
	shift 3
	for line in "$@"; do
		case $line in
		master.cf:*)
			# A leading blank would continue the previous entry.
			line=${line#master.cf:}
			master_extra+=("${line#"${line%%[![:space:]]*}"}")
			;;
		*) main_extra+=("$line") ;;
		esac
	done
	[ -z "$_pf_running" ] || { echo "# pf_start: $PF_DIR still runs"; return 1; }
	case "$dir" in
	/*) ;;
	*) dir="$(pwd)/$dir" ;;
	esac
	case "$port" in
	""|auto) auto=1 ;;
	esac
	PF_DIR=$dir
	PF_CONF=$dir/etc
	PF_PORT=$port
	PF_LOG=$dir/maillog
	mkdir -p "$PF_CONF" "$dir/spool" "$dir/data" || return 1
	chmod 755 "$dir" "$PF_CONF" "$dir/spool"
	chown postfix: "$dir/data" && chmod 700 "$dir/data" || return 1
	# Every parent must be traversable by the postfix user.
	d=$dir
	while [ "$d" != / ] && [ -n "$d" ]; do
		if ! su -s /bin/sh postfix -c "test -x '$d'" 2>/dev/null; then
			echo "# pf_start: $d is not traversable by postfix"
			return 1
		fi
		d=$(dirname "$d")
	done

	{
		echo "# Test instance written by tests/lib/postfix.sh."
		echo "compatibility_level = 3.6"
		echo "queue_directory = $dir/spool"
		echo "data_directory = $dir/data"
		echo "myhostname = dvmilter-test.localdomain"
		echo "mydomain = localdomain"
		echo "mydestination ="
		echo "inet_interfaces = 127.0.0.1"
		echo "inet_protocols = ipv4"
		echo "mynetworks = 127.0.0.0/8"
		echo "smtpd_relay_restrictions = permit_mynetworks, reject"
		echo "smtpd_recipient_restrictions ="
		echo "default_transport = discard"
		echo "local_transport = discard"
		echo "relay_transport = discard"
		echo "alias_maps ="
		echo "alias_database ="
		echo "smtpd_milters = $milter"
		echo "milter_default_action = tempfail"
		echo "maillog_file = $PF_LOG"
		echo "maillog_file_prefixes = $dir"
		echo "smtpd_recipient_limit = 2000"
		# Refused recipients count as client errors; a test that is
		# refused on purpose must not be slowed down or cut off.
		echo "smtpd_soft_error_limit = 5000"
		echo "smtpd_hard_error_limit = 5000"
		echo "smtpd_error_sleep_time = 0"
		echo "smtpd_banner = \$myhostname ESMTP"
		echo "biff = no"
		for line in ${main_extra[@]+"${main_extra[@]}"}; do
			echo "$line"
		done
	} > "$PF_CONF/main.cf"

	_pf_altdirs add "$PF_CONF" || { echo "# pf_start: cannot register $PF_CONF"; return 1; }
	_pf_running=1
	_pf_master=
	for ((attempt = 1; ; attempt++)); do
		if [ -n "$auto" ]; then
			port=$(free_port) || { echo "# pf_start: no free port"; pf_stop; return 1; }
		fi
		PF_PORT=$port
		{
			echo "127.0.0.1:$port inet n - n - - smtpd"
			echo "pickup    unix n - n 60 1 pickup"
			echo "cleanup   unix n - n - 0 cleanup"
			echo "qmgr      unix n - n 300 1 qmgr"
			echo "rewrite   unix - - n - - trivial-rewrite"
			echo "bounce    unix - - n - 0 bounce"
			echo "defer     unix - - n - 0 bounce"
			echo "trace     unix - - n - 0 bounce"
			echo "verify    unix - - n - 1 verify"
			echo "flush     unix n - n 1000? 0 flush"
			echo "proxymap  unix - - n - - proxymap"
			echo "showq     unix n - n - - showq"
			echo "error     unix - - n - - error"
			echo "retry     unix - - n - - error"
			echo "discard   unix - - n - - discard"
			echo "anvil     unix - - n - 1 anvil"
			echo "scache    unix - - n - 1 scache"
			echo "postlog   unix-dgram n - n - 1 postlogd"
			for line in ${master_extra[@]+"${master_extra[@]}"}; do
				echo "$line"
			done
		} > "$PF_CONF/master.cf"
		_pf_age "$PF_CONF/main.cf" "$PF_CONF/master.cf"
		: > "$PF_LOG"
		postfix -c "$PF_CONF" start >"$dir/start.out" 2>&1 && break
		if [ -n "$auto" ] && [ "$attempt" -lt 5 ] &&
		    grep -q "port $port: Address already in use" "$PF_LOG"; then
			continue
		fi
		echo "# postfix -c $PF_CONF start failed:"
		sed 's/^/#   /' "$dir/start.out" "$PF_LOG"
		pf_stop
		return 1
	done
	_pf_master=$(tr -dc '0-9' < "$dir/spool/pid/master.pid" 2>/dev/null)
	setsid bash -c 'echo $$ > "$2/watchdog.pid"; . "$1"; shift 2; _pf_watch "$@"' \
	    pf-watchdog "$_PF_LIB" "$dir" "$$" "$PF_CONF" "$_pf_master" \
	    "$PF_TIMEOUT" </dev/null >/dev/null 2>&1 &
	_pf_wd=$!
	for i in $(seq 1 100); do
		if ss -Htln "sport = :$port" 2>/dev/null | grep -q "127.0.0.1:$port"; then
			return 0
		fi
		sleep 0.1
	done
	echo "# postfix did not listen on 127.0.0.1:$port; its log:"
	sed 's/^/#   /' "$PF_LOG"
	pf_stop
	return 1
}

# pf_stop: stop the instance, kill whatever is left of it, and take its
# directory out of alternate_config_directories. Safe to call twice.
pf_stop() {
	local w
	[ -n "$_pf_running" ] || return 0
	for w in ${_pf_wd:-} $(cat "$PF_DIR/watchdog.pid" 2>/dev/null); do
		kill "$w" 2>/dev/null
	done
	_pf_wd=
	[ -n "$_pf_master" ] ||
	    _pf_master=$(tr -dc '0-9' < "$PF_DIR/spool/pid/master.pid" 2>/dev/null)
	_pf_kill_instance "$PF_CONF" "$_pf_master"
	_pf_running=
	_pf_master=
	return 0
}

# pf_wait_queue [SECONDS]: wait until the instance's queue is empty
# (every message discarded). Fails on timeout.
pf_wait_queue() {
	local limit=${1:-60} i n
	for i in $(seq 1 $((limit * 10))); do
		n=$(find "$PF_DIR/spool/incoming" "$PF_DIR/spool/active" \
		    "$PF_DIR/spool/deferred" "$PF_DIR/spool/maildrop" \
		    -type f 2>/dev/null | wc -l)
		[ "$n" -eq 0 ] && return 0
		sleep 0.1
	done
	return 1
}

_pf_cleanup() {
	pf_stop
}

# smtp_send [-s SOURCE_ADDR] [-p PORT] FROM RCPT[,RCPT...] [RCPT...]
#
# One SMTP transaction with swaks against 127.0.0.1:PORT (default
# $PF_PORT), from SOURCE_ADDR (e.g. 127.0.0.2) if given. Prints one line
# per command and the final line of the server's reply to it:
#   CONNECT => 220 dvmilter-test.localdomain ESMTP
#   MAIL FROM:<a@ext.example> => 250 2.1.0 Ok
#   RCPT TO:<x@example.com> => 550 5.7.1 <x@example.com>: mailbox is not approved
#   DATA => 354 End data with <CR><LF>.<CR><LF>
#   . => 250 2.0.0 Ok: queued as 4Xyz
# swaks goes on to DATA when at least one recipient was accepted. The
# exit status is swaks' (0 only if every step succeeded).
smtp_send() {
	local port=${PF_PORT:-} src= from rcpts opt rc
	OPTIND=1
	while getopts "s:p:" opt; do
		case $opt in
		s) src=$OPTARG ;;
		p) port=$OPTARG ;;
		*) echo "usage: smtp_send [-s ADDR] [-p PORT] FROM RCPT..." >&2
		   return 2 ;;
		esac
	done
	shift $((OPTIND - 1))
	from=$1
	shift
	rcpts=$(IFS=,; printf '%s' "$*")
	local args=(--server 127.0.0.1 --port "$port" --from "$from"
	    --to "$rcpts" --helo client.test --suppress-data
	    --timeout 60 --header "Subject: dvmilter test")
	[ -z "$src" ] || args+=(--local-interface "$src")
	swaks "${args[@]}" 2>&1 | awk '
		/^=== Connected/ { cmd = "CONNECT"; next }
		/^ [-~]> [0-9]+ lines sent$/ { cmd = "."; next }
		/^ [-~]> / { cmd = substr($0, 5); next }
		/^<[-~*]+ +[0-9][0-9][0-9] / {
			sub(/^<[-~*]+ +/, "")
			print cmd " => " $0
			next
		}
		/^<[-~*]+ +[0-9][0-9][0-9]-/ { next }
		/^\*\*\* / { print "ERROR => " substr($0, 5) }
	'
	rc=${PIPESTATUS[0]}
	return "$rc"
}

# smtp_reply OUTPUT COMMAND: the server's reply to COMMAND in the output
# of smtp_send, e.g. smtp_reply "$out" "RCPT TO:<x@example.com>" or
# smtp_reply "$out" "." for the reply to the message itself.
smtp_reply() {
	printf '%s\n' "$1" | awk -v c="$2" '
		index($0, c " => ") == 1 { print substr($0, length(c) + 5); exit }'
}
