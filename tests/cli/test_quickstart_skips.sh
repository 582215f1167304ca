#!/bin/bash
# test_quickstart_skips.sh - contrib/quickstart.sh check's summary: with
# CI set, skipped checks are failures and are listed with their reasons;
# without CI they are only counted. Runs the summary functions on
# fabricated make output and test logs, not the suite itself.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/contrib/quickstart.sh"
set +e		# quickstart.sh runs under -e; the checks here must not stop

T=$(mktemp -d /tmp/dvmilter-qs.XXXXXX) || bail "mktemp"
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/plain/tests/e2e" "$T/plain/tests/cli" "$T/plain/tests/legacy"

# Make output of a suite with each kind of skip automake reports.
cat > "$T/plain-check.out" <<'OUT'
PASS: tests/unit/test_conf 1 - defaults_are_safe
SKIP: tests/e2e/test_postfix.sh - needs root to start a Postfix instance
SKIP: tests/cli/test_daemon.sh 23 - # SKIP privilege drop needs root
SKIP: tests/legacy/old.sh
============================================================================
# TOTAL: 10
# PASS:  7
# SKIP:  3
# XFAIL: 0
# FAIL:  0
# XPASS: 0
# ERROR: 0
OUT
# Automake's plain test-driver says only "SKIP: TEST" for exit 77; the
# reason is what the test printed last, above the driver's footer.
printf 'checking frobnicator\nfrobnicator missing\n\nSKIP tests/legacy/old.sh (exit status: 77)\n' \
    > "$T/plain/tests/legacy/old.sh.log"
cat > "$T/distcheck.out" <<'OUT'
# TOTAL: 5
# PASS:  5
# SKIP:  0
# FAIL:  0
OUT
# A suite cut short: SKIP lines but no summary.
printf 'SKIP: tests/milter/test_track.sh - jq is not installed\n' > "$T/short.out"

reset() {
	TOTAL_PASS=0 TOTAL_FAIL=0 TOTAL_SKIP=0 REPORT="" SKIPPED=""
}

# run_summary [CI value]: count the two suites, print the summary.
run_summary() {
	reset
	count "plain build: make check" "$T/plain-check.out" 0 "$T/plain"
	count "make distcheck" "$T/distcheck.out" 0 "$T/nowhere"
	CI=${1-} summary
}

out=$(unset CI; run_summary ""); rc=$?
check_eq "without CI, skips do not fail the run" 0 "$rc"
check_eq "without CI, the last line counts no failures" "12 passed, 0 failed" \
    "$(printf '%s\n' "$out" | tail -1)"
check_match "without CI, skips are counted as before" \
    "^\(3 skipped: checks that cannot run on this machine\)$" "$out"

out=$(run_summary true); rc=$?
check_eq "with CI set, a skipped check fails the run" 1 "$rc"
check_eq "with CI set, the last line counts skips as failed" "12 passed, 3 failed" \
    "$(printf '%s\n' "$out" | tail -1)"
check_match "with CI set, the summary says why it failed" \
    "CI is set, so the 3 skipped checks count as failed:" "$out"
check_match "a skipped script is named with its reason" \
    "plain build: make check: SKIP: tests/e2e/test_postfix.sh - needs root to start a Postfix instance" "$out"
check_match "a single skipped check is named with its reason" \
    "SKIP: tests/cli/test_daemon.sh 23 - # SKIP privilege drop needs root" "$out"
check_match "an exit-77 skip takes its reason from the test's log" \
    "SKIP: tests/legacy/old.sh - frobnicator missing$" "$out"

out=$(CI=1; reset; count "make distcheck" "$T/distcheck.out" 0 "$T/nowhere"; summary); rc=$?
check_eq "with CI set and nothing skipped, the run passes" 0 "$rc"
check_eq "and its last line is unchanged" "5 passed, 0 failed" \
    "$(printf '%s\n' "$out" | tail -1)"

out=$(reset; count "short" "$T/short.out" 0 "$T/nowhere"; CI=yes summary); rc=$?
check_eq "SKIP lines count even when the harness summary is missing" \
    "0 passed, 1 failed" "$(printf '%s\n' "$out" | tail -1)"
check_match "and are listed" "short: SKIP: tests/milter/test_track.sh - jq is not installed" "$out"

out=$(CI="" run_summary ""); rc=$?
check_eq "an empty CI is the same as no CI" 0 "$rc"

tap_done
