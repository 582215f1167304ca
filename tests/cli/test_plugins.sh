#!/bin/bash
# test_plugins.sh - dvmilterctl hands a command that is not its own to the
# configured plugin that offers it (here the example plugin, built from
# the public header alone): exit statuses, output, help lines, and the
# loader's checks, which dvmilterctl applies as the daemon does.
set -u
. "$top_srcdir/tests/lib/tap.sh"
. "$top_srcdir/tests/lib/daemon.sh"

dv_tmpdir
EX="$top_builddir/contrib/example-plugin/.libs"
dv_conf "PluginDir $EX" "Plugins example"

out=$(ctl example add Ann@Ext.Example 2>&1); rc=$?
check_eq "a plugin's command runs, exit 0" 0 "$rc"
check_eq "and prints what it did" "added ann@ext.example" "$out"
out=$(ctl example known ann@ext.example 2>&1); rc=$?
check_eq "its writes were committed: the sender is known" \
    "0 ann@ext.example is a known sender" "$rc $out"
out=$(ctl example known bob@ext.example 2>&1); rc=$?
check_eq "a failed request exits 1 with dvmilterctl's message" \
    "1 dvmilterctl: bob@ext.example is not a known sender" "$rc $out"
out=$(ctl example known 'bad@@x' 2>&1); rc=$?
check_match "the host's address check answers for it" \
    '^1 dvmilterctl: invalid address "bad@@x"' "$rc $out"
out=$(ctl example frobnicate 2>&1); rc=$?
check_eq "a usage error exits 2 and points to help" \
    "2 dvmilterctl: example takes list, or known, add or forget with an address
Try 'dvmilterctl help'." "$rc $out"
out=$(ctl case list 2>&1); rc=$?
check_eq "a command no configured plugin offers is unknown, exit 2" \
    "2 dvmilterctl: unknown command \"case\"
Try 'dvmilterctl help'." "$rc $out"
help=$(ctl help)
check_match "help lists the plugin's commands before reload" \
    "  queue drop ID
  example list
  example known\|add\|forget ADDRESS
  reload" "$help"
out=$(ctl example forget ann@ext.example 2>&1); rc=$?
check_eq "forget exits 0" "0 forgot ann@ext.example" "$rc $out"
out=$(ctl example known ann@ext.example 2>&1); rc=$?
check_eq "and the index lost it" 1 "$rc"

# The loader's checks apply to dvmilterctl too: it often runs as root.
mkdir -m 755 "$DV_TMP/pl"
cp "$EX/example.so" "$DV_TMP/pl/"
chmod 666 "$DV_TMP/pl/example.so"
dv_conf "PluginDir $DV_TMP/pl" "Plugins example"
out=$(ctl example list 2>&1); rc=$?
check_match "a plugin others may write is not loaded, exit 1" \
    "^1 dvmilterctl: \"example\" is not one of dvmilterctl.s own commands, and the plugins that may provide it could not be loaded: plugin example \($DV_TMP/pl/example.so\): writable by group or others" "$rc $out"
out=$(ctl mailbox list --json 2>&1); rc=$?
check_eq "dvmilterctl's own commands load no plugin" "0 []" "$rc $out"
cp "$top_builddir/tests/plugins/.libs/oldabi.so" "$DV_TMP/pl/"
chmod 644 "$DV_TMP/pl/oldabi.so"
dv_conf "PluginDir $DV_TMP/pl" "Plugins oldabi"
out=$(ctl example list 2>&1); rc=$?
check_match "a plugin built for ABI 1 is refused, naming file and versions" \
    "^1 dvmilterctl: .* could not be loaded: plugin oldabi \($DV_TMP/pl/oldabi.so\): built for plugin ABI 1\.2, this dvmilter has plugin ABI 2\.1" "$rc $out"

# Nor one whose directory, or any directory above it, another user may
# change: they could swap the file between the checks and dlopen().
# Symbolic links are followed first, and the place they lead to counts.
chmod 644 "$DV_TMP/pl/example.so"
mkdir -m 755 "$DV_TMP/open" "$DV_TMP/open/sub" "$DV_TMP/link"
cp "$EX/example.so" "$DV_TMP/open/sub/"
chmod 777 "$DV_TMP/open"
dv_conf "PluginDir $DV_TMP/open/sub" "Plugins example"
out=$(ctl example list 2>&1); rc=$?
check_match "a plugin under a directory others may write is not loaded" \
    "^1 dvmilterctl: .*plugin example \($DV_TMP/open/sub/example.so\): its directory $DV_TMP/open is writable by group or others" "$rc $out"
ln -s "$DV_TMP/open/sub/example.so" "$DV_TMP/link/example.so"
dv_conf "PluginDir $DV_TMP/link" "Plugins example"
out=$(ctl example list 2>&1); rc=$?
check_match "a link from a safe directory to an unsafe one is judged where it leads" \
    "^1 dvmilterctl: .*its directory $DV_TMP/open is writable by group or others" "$rc $out"
chmod 1777 "$DV_TMP/open"
out=$(ctl example list 2>&1); rc=$?
check_eq "a root-owned sticky directory (like /tmp) above it is trusted" 0 "$rc"
if id nobody >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	chmod 755 "$DV_TMP/open"
	chown nobody "$DV_TMP/open/sub"
	out=$(ctl example list 2>&1); rc=$?
	check_match "a plugin in a directory another user owns is not loaded" \
	    "^1 dvmilterctl: .*its directory $DV_TMP/open/sub is owned by a user that is neither root nor us" "$rc $out"
else
	not_ok "the ownership check needs root and the user nobody"
fi
tap_done
