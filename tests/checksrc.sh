#!/bin/bash
# checksrc.sh - house-style checks that a compiler does not make: banned
# calls (the house style), core/ never including libmilter, and no
# plugin's key names outside plugins/ (only a plugin knows its records).
set -u
. "$top_srcdir/tests/lib/tap.sh"
cd "$top_srcdir" || bail "no source tree"

files=$(ls core/*.[ch] core/*/*.[ch] milter/*.[ch] worker/*.[ch] ctl/*.[ch] plugins/*/*.[ch] plugins/*.h 2>/dev/null)
for fn in strcpy strcat sprintf vsprintf strtok atoi atol gets; do
	hits=$(grep -nE "(^|[^_a-zA-Z0-9])$fn[[:space:]]*\(" $files || true)
	if [ -z "$hits" ]; then
		ok "no $fn() in the sources"
	else
		not_ok "no $fn() in the sources"
		printf '%s\n' "$hits" | sed 's/^/#   /'
	fi
done
hits=$(grep -ln 'mfapi.h' core/*.[ch] core/*/*.[ch] || true)
check_eq "core/ never includes libmilter" "" "$hits"
hits=$(grep -ln 'libmilter/\|mf_int.h' worker/*.[ch] ctl/*.[ch] \
    plugins/*.h plugins/*/*.[ch] || true)
check_eq "only milter/, the glue, includes libmilter or its private header" \
    "" "$hits"
hits=$(grep -ln 'smfi_' milter/*.c | grep -v 'milter/mf_callbacks.c\|milter/dvmilter.c' || true)
check_eq "libmilter's smfi_ calls stay in the callbacks file and main()" \
    "" "$hits"
missing=""
for c in core/*.c core/*/*.c milter/*.c worker/*.c ctl/*.c plugins/*/*.c; do
	head -3 "$c" | grep -q '^/\*$' && head -3 "$c" | grep -q ' - ' || missing="$missing $c"
done
check_eq "every source file starts with a preamble" "" "$missing"

# The local plugin's key prefixes, as local.h lists them ("counter/" is
# the host's kv_next() form, not the plugin's own).
prefixes=$(sed -n 's|^ \*   \([a-z]*/\)<.*|\1|p' plugins/local/local.h | grep -v '^counter/$')
check "local.h lists the local plugin's key prefixes" test -n "$prefixes"
hits=""
for k in $prefixes; do
	hits="$hits$(grep -n -F "$k" core/*.[ch] core/*/*.[ch] milter/*.[ch] worker/*.[ch] ctl/*.[ch] || true)"
done
check_eq "no plugin key name outside plugins/" "" "$hits"

# Functions a reader can hold in their head: none over 80 lines unless a
# "LONG:" comment just above it says why (tests/funclen.awk).
hits=$(awk -f tests/funclen.awk core/*.c core/*/*.c milter/*.c worker/*.c \
    ctl/*.c plugins/*/*.c)
check_eq "no function over 80 lines without a LONG: comment saying why" \
    "" "$hits"

# File-scope mutable state is the daemon's top-level state (milter/
# mf_daemon.c's dvd) and the logger's settings; libmilter's char *
# literals in mf_callbacks.c are never written.
hits=$(grep -nE '^static [a-z_ ]+[a-z_0-9]+(\[[^]]*\])? *(=|;)' core/*.c \
    core/*/*.c worker/*.c ctl/*.c plugins/*/*.c milter/*.c |
    grep -v 'const ' | grep -v '^core/log.c:.*atomic_' |
    grep -v '^milter/mf_callbacks.c:[0-9]*:static char [a-z_]*\[\] = "' || true)
check_eq "no file-scope mutable state besides the daemon's and the logger's" \
    "" "$hits"
# Nor function-static buffers (an error text that the next call
# overwrites): pthread_once and libmilter's never-written literals only.
hits=$(grep -nE '^[[:space:]]+static [a-z_ ]+[a-z_0-9]+(\[[^]]*\])? *(=|;|,)' \
    core/*.c core/*/*.c worker/*.c ctl/*.c plugins/*/*.c milter/*.c |
    grep -v 'const ' | grep -v 'pthread_once_t' |
    grep -v '^milter/mf_callbacks.c:[0-9]*:[[:space:]]*static char [a-z_]*\[\] = "' || true)
check_eq "no function-static mutable state" "" "$hits"
tap_done
