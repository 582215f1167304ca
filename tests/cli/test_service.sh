#!/bin/bash
# test_service.sh - contrib/dvmilter.service: systemd accepts it, its
# sandbox keeps the directives docs/SECURITY.md relies on, and
# "systemd-analyze security" rates its exposure at most 3.0.
#
# Nothing here starts the unit: the test machine's PID 1 need not be
# systemd. systemd-analyze reads the file offline.
set -u
. "$top_srcdir/tests/lib/tap.sh"

command -v systemd-analyze >/dev/null ||
	skip_all "systemd-analyze is not installed (package systemd)"
UNIT="$top_builddir/contrib/dvmilter.service"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

check "the unit is generated from contrib/dvmilter.service.in" test -s "$UNIT"
exe=$(sed -n 's/^ExecStart=\([^ ]*\) .*/\1/p' "$UNIT")
check_match "ExecStart runs the installed daemon in the foreground" \
    "/dvmilter$" "$exe"

# verify wants ExecStart's program to exist: point it at a stand-in.
sed -e "s|^\(Exec[A-Za-z]*=\)[^ ]*/dvmilter |\1$T/dvmilter |" "$UNIT" \
    >"$T/dvmilter.service"
printf '#!/bin/sh\nexit 0\n' >"$T/dvmilter"
chmod 755 "$T/dvmilter"
(cd "$T" && systemd-analyze verify --man=no ./dvmilter.service) \
    >"$T/verify.out" 2>&1
check_eq "systemd-analyze verify accepts the unit" 0 "$?"
sed 's/^/#   /' "$T/verify.out"

# The check can fail: a misspelt directive is refused.
sed 's/^NoNewPrivileges=yes/NoNewPrivilege=yes/' "$T/dvmilter.service" \
    >"$T/bad.service"
out=$(cd "$T" && systemd-analyze verify --man=no ./bad.service 2>&1)
check_match "verify refuses a misspelt directive" "Unknown key|unknown" "$out"

for d in NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes \
    ProtectHome=yes PrivateDevices=yes RestrictNamespaces=yes \
    MemoryDenyWriteExecute=yes SystemCallArchitectures=native \
    "SystemCallFilter=@system-service" \
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" \
    "ExecReload=/bin/kill -USR1 \$MAINPID"; do
	check "the unit sets $d" grep -qxF -- "$d" "$UNIT"
done
check_match "the store is its only persistent writable path" \
    "^ReadWritePaths=/.*/lib/dvmilter$" "$(grep '^ReadWritePaths=/' "$UNIT")"
check_match "root keeps only the capabilities it needs" \
    "^CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_CHOWN CAP_DAC_OVERRIDE CAP_KILL$" \
    "$(grep '^CapabilityBoundingSet=' "$UNIT")"

out=$(cd "$T" && systemd-analyze security --offline=yes ./dvmilter.service 2>&1)
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "# systemd-analyze security: exposure $score"
(cd "$T" && systemd-analyze security --offline=yes --threshold=30 \
    ./dvmilter.service >/dev/null 2>&1)
check_eq "the exposure level is at most 3.0 (it is $score)" 0 "$?"

tap_done
