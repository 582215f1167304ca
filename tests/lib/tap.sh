# tests/lib/tap.sh - TAP output for the shell tests (sourced).
#
# Each check prints "ok N - what it proves" or "not ok N - ...", and
# tap_done prints the plan, so automake's tap-driver counts every check.

tap_n=0
tap_failed=0

ok() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $*"
}

not_ok() {
	tap_n=$((tap_n + 1))
	tap_failed=$((tap_failed + 1))
	echo "not ok $tap_n - $*"
}

# check "description" command args...: ok if the command succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# check_eq "description" expected actual
check_eq() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		printf '#   expected: %s\n#   got:      %s\n' "$2" "$3"
	fi
}

# eventually EXPECTED command args...: the command's output once it is
# EXPECTED, or its last output after 10 s. For what the daemon stores a
# moment after it answers: its outbox writer moves a logged message
# into LMDB within 0.1 s.
eventually() {
	local want=$1 got i
	shift
	for i in $(seq 1 100); do
		got=$("$@")
		[ "$got" = "$want" ] && break
		sleep 0.1
	done
	printf '%s' "$got"
}

# check_match "description" regex text
check_match() {
	if printf '%s' "$3" | grep -Eq -- "$2"; then
		ok "$1"
	else
		not_ok "$1"
		printf '#   wanted /%s/ in:\n' "$2"
		printf '%s\n' "$3" | sed 's/^/#     /'
	fi
}

# skip_all "reason": the whole script cannot run here.
skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

bail() {
	echo "Bail out! $*"
	exit 1
}

tap_done() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}
