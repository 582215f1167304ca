#!/bin/bash
# test_privileges.sh - the daemon's privileges: it runs as the dvmilter
# account unless told "UserID root" (and then says so), the store
# directory stays root's, files change hands by fchown() on a descriptor
# opened with O_NOFOLLOW, and a symbolic link that the service user
# plants where root opens files (the store's files, the key, the PID
# file) makes the daemon refuse to start, never hands or clobbers the
# link's target. Needs root (as CI runs it): it makes and switches users.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/daemon.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root: it switches users and chowns"
command -v setpriv >/dev/null || skip_all "setpriv (util-linux) is missing"
getent passwd dvmilter >/dev/null || skip_all "no dvmilter account"
dv_tmpdir
DB="$DV_TMP/db"
SVC_UID=$(id -u dvmilter)

# as_svc CMD...: run CMD as the service user, as code that parsed mail
# and was subverted would.
as_svc() {
	setpriv --reuid=dvmilter --regid=dvmilter --init-groups -- "$@"
}

# uid_of PID: the real uid of a process.
uid_of() {
	awk '/^Uid:/ {print $2}' "/proc/$1/status"
}

# A victim: a file only root may change, which an attacker would like.
VICTIM="$DV_TMP/victim"
victim_reset() {
	printf 'ssh-ed25519 AAAA root@host\n' > "$VICTIM"
	chown root:root "$VICTIM"
	chmod 600 "$VICTIM"
}
victim_intact() {
	[ "$(stat -c '%u:%g %a %s' "$VICTIM")" = "0:0 600 27" ] &&
	    [ "$(cat "$VICTIM")" = "ssh-ed25519 AAAA root@host" ]
}

# --- the default account ---------------------------------------------------------------
dv_conf
check "a configuration without UserID starts" dv_start
check_eq "the daemon runs as the dvmilter account by default" "$SVC_UID" \
    "$(uid_of "$DV_DAEMON_PID")"
wk=$(pgrep -P "$DV_DAEMON_PID" -f dvmilter-worker | head -1)
check_eq "and so does the worker, which parses the mail" "$SVC_UID" \
    "$(uid_of "${wk:-0}" 2>/dev/null)"
check_eq "the store directory stays root's, group dvmilter's, mode 750" \
    "root dvmilter 750" "$(stat -c '%U %G %a' "$DB")"
check_eq "LMDB's files are handed to dvmilter" "dvmilter dvmilter" \
    "$(stat -c %U "$DB/data.mdb" "$DB/lock.mdb" | tr '\n' ' ' | sed 's/ $//')"
check_eq "token.key is dvmilter's, mode 600, 32 bytes" "dvmilter 600 32" \
    "$(stat -c '%U %a %s' "$DB/token.key")"
check_eq "the outbox log, made by root, stays root's" "root 600" \
    "$(stat -c '%U %a' "$DB/outbox.log")"
check "the service user cannot plant a link in the store directory" \
    test "$(as_svc ln -s "$VICTIM" "$DB/evil" 2>&1; echo $?)" != 0
check "nor remove a file of its own there" \
    test "$(as_svc rm -f "$DB/data.mdb" 2>&1; echo $?)" != 0
check "stops cleanly" dv_stop

# --- UserID root -------------------------------------------------------------------------
dv_conf "UserID root"
: > "$DV_LOG"
check "UserID root starts" dv_start
check_eq "UserID root keeps root" 0 "$(uid_of "$DV_DAEMON_PID")"
check_match "and warns at start" "running as root \(UserID root\)" "$(cat "$DV_LOG")"
dv_stop

# --- no dvmilter account ----------------------------------------------------------------
# A machine without the account, in a private mount namespace whose
# /etc/passwd lacks it.
grep -v '^dvmilter:' /etc/passwd > "$DV_TMP/passwd"
dv_conf
if unshare -m true 2>/dev/null; then
	out=$(unshare -m sh -c 'mount --bind "$1" /etc/passwd && "$2" -n -c "$3"' \
	    sh "$DV_TMP/passwd" "$DVMILTER" "$DV_CONF" 2>&1); rc=$?
	check "without the account, a configuration without UserID is refused" \
	    test "$rc" -ne 0
	check_match "the error says what to do" \
	    "UserID: no such user \"dvmilter\" \(the default\): create it with 'useradd --system .*', or set UserID" \
	    "$out"
else
	not_ok "without the account, a configuration without UserID is refused # unshare -m is not permitted here"
fi

# --- symbolic links where root opens files -------------------------------------------------
# An older dvmilter gave the store directory to UserID: the service user
# could replace any file there by a link. Each one is refused, its target
# untouched, and the directory is root's again.
dv_conf
for name in data.mdb lock.mdb outbox.log token.key; do
	victim_reset
	chown -R dvmilter "$DB"
	chmod 700 "$DB"
	as_svc sh -c 'rm -f "$1/$2" && ln -s "$3" "$1/$2"' sh "$DB" "$name" "$VICTIM"
	: > "$DV_LOG"
	out=$(timeout 60 "$DVMILTER" -f -c "$DV_CONF" 2>&1); rc=$?
	check "a link planted at $name: the daemon refuses to start" test "$rc" -ne 0
	check_match "and says which file and why" \
	    "$DB/$name is a symbolic link; dvmilter never follows one there" "$out"
	check "the target of $name keeps its owner, mode and content" victim_intact
	check_eq "the store directory is root's again" "root 750" \
	    "$(stat -c '%U %a' "$DB")"
	rm -f "$DB/$name"
	# dvmilterctl, as root, refuses LMDB's links itself.
	if [ "$name" = data.mdb ] || [ "$name" = lock.mdb ]; then
		ln -s "$VICTIM" "$DB/$name"
		out=$(ctl mailbox list 2>&1)
		check_match "dvmilterctl refuses a link at $name too" \
		    "$DB/$name is a symbolic link" "$out"
		check "and leaves its target alone" victim_intact
		rm -f "$DB/$name"
	fi
done
# A hard link would let a truncating open clobber the target.
victim_reset
ln "$VICTIM" "$DB/outbox.log"
out=$(timeout 60 "$DVMILTER" -f -c "$DV_CONF" 2>&1)
check_match "a second name for a file in the store is refused" \
    "$DB/outbox.log is not a regular file with one link" "$out"
check "and the file is left alone" victim_intact
rm -f "$DB/outbox.log"
victim_reset

# The PID file's directory is the service user's (as /run/dvmilter is).
as_svc ln -s "$VICTIM" "$DV_PIDFILE"
out=$(timeout 60 "$DVMILTER" -f -c "$DV_CONF" 2>&1); rc=$?
check "a link planted at the PID file: the daemon refuses to start" test "$rc" -ne 0
check_match "and says so" "PidFile $DV_PIDFILE is a symbolic link" "$out"
check "the PID file's target is untouched" victim_intact
rm -f "$DV_PIDFILE"

# After the refusals, with the links gone, it starts again, as dvmilter.
: > "$DV_LOG"
check "with the links removed the daemon starts" dv_start
check_eq "as dvmilter" "$SVC_UID" "$(uid_of "$DV_DAEMON_PID")"
check "and stops cleanly" dv_stop

# --- secret files --------------------------------------------------------------------------
wh=("PluginDir $top_builddir/plugins/webhook/.libs" "Plugins webhook"
    "Webhook.URL https://127.0.0.1:9/hook" "Webhook.SecretFile $DV_TMP/secret")
dv_secret "$DV_TMP/secret" 'privileges-test-secret-0123456789'
dv_conf "${wh[@]}"
out=$("$DVMILTER" -n -c "$DV_CONF" 2>&1)
check_match "a root:dvmilter 0640 secret passes" "$DV_CONF: configuration OK" "$out"
chown dvmilter:dvmilter "$DV_TMP/secret"; chmod 600 "$DV_TMP/secret"
out=$("$DVMILTER" -n -c "$DV_CONF" 2>&1)
check_match "-n as root passes a secret owned by UserID" "$DV_CONF: configuration OK" "$out"
chown nobody "$DV_TMP/secret"
out=$("$DVMILTER" -n -c "$DV_CONF" 2>&1)
check_match "a secret owned by anyone else is refused, naming file and rule" \
    "Webhook.SecretFile: $DV_TMP/secret: owned by uid [0-9]+; a secret must be owned by root or by UserID" "$out"
chown root:dvmilter "$DV_TMP/secret"; chmod 660 "$DV_TMP/secret"
out=$("$DVMILTER" -n -c "$DV_CONF" 2>&1)
check_match "a group-writable secret is refused" \
    "$DV_TMP/secret: mode 0660 lets its group change a secret" "$out"
chmod 640 "$DV_TMP/secret"
ln -s "$DV_TMP/secret" "$DV_TMP/secret.link"
dv_conf "${wh[@]:0:3}" "Webhook.SecretFile $DV_TMP/secret.link"
out=$("$DVMILTER" -n -c "$DV_CONF" 2>&1)
check_match "a secret reached through a link is refused" \
    "$DV_TMP/secret.link is a symbolic link; a secret is never read through one" "$out"
dv_conf "${wh[@]:0:2}" "Webhook.URL http://127.0.0.1:9/hook" "Webhook.SecretFile $DV_TMP/secret"
out=$("$DVMILTER" -n -c "$DV_CONF" 2>&1)
check_match "an http:// webhook is refused, naming the key that allows it" \
    "Webhook.URL http://127.0.0.1:9/hook is not https://.*set Webhook.AllowInsecure yes" "$out"

tap_done
