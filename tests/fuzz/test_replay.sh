#!/bin/bash
# test_replay.sh - every fuzzing corpus replays cleanly through its
# harness, built with the normal compiler (tests/fuzz/replay.c): each
# seed and each regression input of a fixed finding. Under
# --enable-sanitizers that is the corpus under ASan and UBSan.
set -u
. "$top_srcdir/tests/lib/tap.sh"

for h in ${FUZZ_HARNESSES:?set by make check}; do
	corpus="$top_srcdir/tests/fuzz/corpus/$h"
	bin="$top_builddir/tests/fuzz/replay_$h"
	if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
		not_ok "fuzz harness $h has a seed corpus"
		continue
	fi
	out=$("$bin" "$corpus" 2>&1)
	rc=$?
	n=$(printf '%s\n' "$out" | sed -n 's/.*: \([0-9]*\) inputs replayed$/\1/p')
	want=$(find "$corpus" -maxdepth 1 -type f ! -name '.*' | wc -l)
	if [ $rc -eq 0 ] && [ "$n" = "$want" ]; then
		ok "fuzz corpus $h: $n inputs replayed without a finding"
	else
		not_ok "fuzz corpus $h replays cleanly (exit $rc, $n of $want inputs)"
		printf '%s\n' "$out" | tail -40 | sed 's/^/#   /'
	fi
done
tap_done
