#!/bin/sh
# install-deps.sh - install the Debian 12 packages dvmilter needs to build
# and test. Installs only what is missing; needs root to install.
set -eu

PACKAGES="
autoconf automake libtool pkg-config make gcc
libmilter-dev liblmdb-dev lmdb-utils libcurl4-openssl-dev libssl-dev
libxml2-dev libgmime-3.0-dev libjansson-dev libidn2-dev libcmocka-dev libpsl-dev
postfix miltertest swaks jq python3-milter iproute2 procps util-linux coreutils
systemd python3 m4
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing Debian packages:$missing" >&2
	echo "install-deps: run as root, or: apt-get install$missing" >&2
	exit 1
fi
echo "install-deps: installing$missing"
# Postfix must not be configured as a system mailer by the install: the
# tests and the demo run their own throwaway instances.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-deps: done"
