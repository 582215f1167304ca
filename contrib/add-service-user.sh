#!/bin/sh
# add-service-user.sh - make the system account dvmilter runs as (UserID,
# by default "dvmilter") if it is missing: no login shell, no home.
# Run as root; quickstart.sh and the tests call it, and a package's
# post-install script should do the same.
#
#   contrib/add-service-user.sh [NAME]
set -eu
name=${1:-dvmilter}
getent passwd "$name" >/dev/null && exit 0
if command -v adduser >/dev/null 2>&1 && adduser --help 2>&1 | grep -q -- --system; then
	adduser --system --group --no-create-home --home /nonexistent \
	    --shell /usr/sbin/nologin --quiet "$name"
else
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
	    --shell /usr/sbin/nologin "$name"
fi
echo "add-service-user.sh: made the system account $name"
