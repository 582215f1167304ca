#!/bin/bash
# quickstart.sh - the README's two commands.
#
#   contrib/quickstart.sh demo    install, build, and show dvmilter refusing
#                                 mail for unapproved mailboxes through a
#                                 real Postfix on 127.0.0.1; stops all it starts
#   contrib/quickstart.sh check   install, build, and run the whole test suite
#                                 (plain and ASan+UBSan builds, and distcheck);
#                                 the last line is "N passed, N failed"
#
# With CI set to anything non-empty (as CI services do), a skipped check
# counts as a failed one and the summary lists what was skipped and why:
# a CI run must prove that every tier ran, not report success on a
# machine without Postfix.
#
# Run as root on Debian 12 (packages are installed with apt-get when
# missing). Builds go to _build/ in the source tree.
set -eu

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD="$SRC/_build"
JOBS=${JOBS:-2}

say() { printf '\n==> %s\n' "$*"; }

deps() {
	say "checking Debian packages"
	"$SRC/contrib/install-deps.sh"
	# The account dvmilter runs as (UserID's default): never root.
	"$SRC/contrib/add-service-user.sh"
}

bootstrap() {
	if [ ! -x "$SRC/configure" ] || [ "$SRC/configure.ac" -nt "$SRC/configure" ]; then
		say "generating configure (autoreconf)"
		(cd "$SRC" && autoreconf -fi 2>&1 | grep -v "cannot remove 'core'" || true)
	fi
}

# build NAME [configure options...]: configure (once) and make in _build/NAME.
build() {
	local name=$1 dir="$BUILD/$1"
	shift
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ] || [ "$SRC/configure" -nt "$dir/Makefile" ]; then
		say "configuring $name build: $*"
		(cd "$dir" && "$SRC/configure" -q "$@")
	fi
	say "building ($name)"
	make -C "$dir" -j"$JOBS" -s
}

TOTAL_PASS=0
TOTAL_FAIL=0
TOTAL_SKIP=0
REPORT=""
SKIPPED=""	# "  suite: SKIP: test - reason", a line per skipped check

# skips LOGFILE BUILDDIR: the skipped checks in a suite's make output, a
# line each with its reason. Automake's drivers print "SKIP: TEST ..." for
# each way a check is skipped here:
#   - a TAP plan "1..0 # SKIP why" (skip_all in tests/lib/tap.sh):
#     "SKIP: TEST - why";
#   - one TAP check "ok N - # SKIP why" (also cmocka's skip()):
#     "SKIP: TEST N # SKIP why";
#   - a test run by automake's plain test-driver that exits 77 (there are
#     none today; under the TAP driver exit 77 is an ERROR): "SKIP: TEST"
#     with no reason; the reason is then the last line the test printed,
#     in BUILDDIR/TEST.log, above the driver's "(exit status: 77)".
skips() {
	local log=$1 dir=$2 line test why
	grep -E '^SKIP: ' "$log" 2>/dev/null | while IFS= read -r line; do
		test=${line#SKIP: }
		test=${test%% *}
		why=""
		if [ "$line" = "SKIP: $test" ]; then
			why=$(grep -vF '(exit status: 77)' "$dir/$test.log" \
			    2>/dev/null | grep -v '^$' | tail -1)
			why=${why:-no reason given; see $test.log}
		fi
		printf '%s%s\n' "$line" "${why:+ - $why}"
	done
}

# count LABEL LOGFILE STATUS [BUILDDIR]: add a suite's summary to the
# totals, and its skipped checks to SKIPPED.
count() {
	local label=$1 log=$2 status=$3 dir=${4:-} pass fail err xpass skip
	local listed line n=0
	pass=$(awk '/^# PASS:/ {s += $3} END {print s + 0}' "$log")
	fail=$(awk '/^# FAIL:/ {s += $3} END {print s + 0}' "$log")
	err=$(awk '/^# ERROR:/ {s += $3} END {print s + 0}' "$log")
	xpass=$(awk '/^# XPASS:/ {s += $3} END {print s + 0}' "$log")
	skip=$(awk '/^# SKIP:/ {s += $3} END {print s + 0}' "$log")
	fail=$((fail + err + xpass))
	listed=$(skips "$log" "$dir")
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		SKIPPED="$SKIPPED  $label: $line
"
		n=$((n + 1))
	done <<<"$listed"
	# A suite cut short may print SKIP lines but no "# SKIP:" summary.
	[ "$n" -le "$skip" ] || skip=$n
	if [ "$status" -ne 0 ] && [ "$fail" -eq 0 ]; then
		fail=1		# the build or the harness itself failed
	fi
	TOTAL_PASS=$((TOTAL_PASS + pass))
	TOTAL_FAIL=$((TOTAL_FAIL + fail))
	TOTAL_SKIP=$((TOTAL_SKIP + skip))
	REPORT="$REPORT$(printf '  %-28s %5d passed, %d failed, %d skipped' "$label" "$pass" "$fail" "$skip")
"
}

# suite LABEL BUILDNAME TARGET: run a make target that runs the tests.
suite() {
	local label=$1 name=$2 target=$3 log="$BUILD/$2-$3.out" status=0
	say "running $label"
	make -C "$BUILD/$name" -j"$JOBS" AM_COLOR_TESTS=no "$target" >"$log" 2>&1 || status=$?
	grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):|^# (TOTAL|PASS|FAIL|ERROR|SKIP|XPASS):' "$log" |
	    grep -Ev '^PASS:' || true
	if [ "$status" -ne 0 ]; then
		echo "--- $label failed; the end of $log:"
		tail -30 "$log"
		echo "--- failing checks:"
		grep -r -E '^not ok|^Bail out' --include='*.log' "$BUILD/$name" | head -60 || true
	fi
	count "$label" "$log" "$status" "$BUILD/$name"
}

# summary: the per-suite lines, the skips, and "N passed, N failed" as
# the last line. Returns 1 if anything failed; with CI set (non-empty),
# skipped checks count as failed and are listed with their reasons.
summary() {
	printf '%s' "$REPORT"
	if [ "$TOTAL_SKIP" -gt 0 ] && [ -n "${CI:-}" ]; then
		echo "CI is set, so the $TOTAL_SKIP skipped checks count as failed:"
		[ -n "$SKIPPED" ] ||
		    SKIPPED="  (no SKIP lines found; see each suite's log)
"
		printf '%s' "$SKIPPED"
		TOTAL_FAIL=$((TOTAL_FAIL + TOTAL_SKIP))
	elif [ "$TOTAL_SKIP" -gt 0 ]; then
		echo "($TOTAL_SKIP skipped: checks that cannot run on this machine)"
	fi
	echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
	[ "$TOTAL_FAIL" -eq 0 ]
}

cmd_check() {
	deps
	bootstrap
	local status=0
	for b in plain asan; do
		local opts="--enable-werror"
		[ "$b" = asan ] && opts="$opts --enable-sanitizers"
		# shellcheck disable=SC2086
		if build "$b" $opts; then
			suite "$b build: make check" "$b" check
		else
			REPORT="$REPORT  $b build failed to compile
"
			TOTAL_FAIL=$((TOTAL_FAIL + 1))
		fi
	done
	if [ -f "$BUILD/plain/Makefile" ]; then
		suite "make distcheck" plain distcheck
	fi
	say "summary"
	summary || status=1
	return $status
}

cmd_demo() {
	deps
	bootstrap
	build plain
	exec bash "$SRC/contrib/demo.sh" "$SRC" "$BUILD/plain"
}

# Sourced (tests/cli/test_quickstart_skips.sh): only define the functions.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

case "${1:-}" in
demo)	cmd_demo ;;
check)	cmd_check ;;
*)	echo "usage: $0 demo|check" >&2; exit 2 ;;
esac
