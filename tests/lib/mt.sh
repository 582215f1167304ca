# tests/lib/mt.sh - run Debian's miltertest against the daemon (sourced
# after daemon.sh, which sets DV_SOCK and DV_TMP).

MT_LUA="$top_srcdir/tests/milter"

# mt SCRIPT VAR=VALUE...: run tests/milter/SCRIPT; output in $DV_TMP/mt.out.
mt() {
	local script=$1 args=() kv
	shift
	for kv in "$@"; do args+=(-D "$kv"); done
	miltertest -s "$MT_LUA/$script" -D "sock=unix:$DV_SOCK" "${args[@]}" \
	    >"$DV_TMP/mt.out" 2>&1
}

# mt_check "description" SCRIPT VAR=VALUE...: one TAP check.
mt_check() {
	local desc=$1
	shift
	if mt "$@"; then
		ok "$desc"
	else
		not_ok "$desc"
		sed 's/^/#   /' "$DV_TMP/mt.out"
	fi
}
