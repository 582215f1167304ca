# tests/lib/fault.sh - what the fault tests (tests/e2e/test_fault_*.sh)
# share: dvmilter with the local plugin and support@example.com as a
# queue, behind a Postfix on 127.0.0.1; one-try SMTP sends; the
# activities the local plugin recorded. Sourced after daemon.sh and
# postfix.sh, once dv_tmpdir has made $DV_TMP (with a spool/ in it).

# fault_start [dvmilter.conf lines...]: configure and start both, or
# bail out. One sender sends every message, each a new case: no
# CaseRateLimit, which is not what these tests are about.
fault_start() {
	dv_conf "SocketMode 0660" "SocketGroup postfix" \
	    "PluginDir $top_builddir/plugins/local/.libs" "Plugins local" \
	    "SpoolDirectory $DV_TMP/spool" "CaseRateLimit none" "$@"
	ctl mailbox add support@example.com >/dev/null &&
	    ctl mailbox approve support@example.com >/dev/null &&
	    ctl mailbox set support@example.com --queue >/dev/null ||
	    bail "cannot set up the mailbox"
	dv_start || bail "dvmilter did not start"
	# No reverse lookups: a resolver that cannot answer stalls smtpd.
	pf_start "$DV_TMP/postfix" auto "unix:$DV_SOCK" \
	    "smtpd_peername_lookup = no" "default_process_limit = 60" ||
	    bail "postfix did not start"
}

# fault_send MESSAGE-ID KB: one try, from 127.0.0.2, of a message of
# about KB kilobytes to support@, the same bytes for the same arguments;
# prints the server's code for it (or "dropped").
fault_send() {
	python3 "$top_srcdir/tests/e2e/smtp_retry.py" once "$PF_PORT" \
	    ann@ext.example support@example.com "$1" "$2" 127.0.0.2
}

# fault_activities: the Message-IDs of the local plugin's activities,
# sorted, one a line (a message recorded twice is listed twice).
fault_activities() {
	ctl activity list --json | jq -r '.[].message_id' | sort
}
