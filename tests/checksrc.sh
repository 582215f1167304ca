#!/bin/bash
# checksrc.sh - house-style checks that a compiler does not make: banned
# calls (the house style), and core/ never including libmilter.
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
for c in core/*.c core/*/*.c milter/*.c worker/*.c ctl/*.c; do
	head -3 "$c" | grep -q '^/\*$' && head -3 "$c" | grep -q ' - ' || missing="$missing $c"
done
check_eq "every source file starts with a preamble" "" "$missing"
tap_done
