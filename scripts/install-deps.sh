#!/bin/sh
# install-deps.sh - install the Debian packages relayguard needs to build and test.
# Called by `make deps` (and so by `make demo` and `make test`); does nothing when all are present.
set -eu

PACKAGES="build-essential pkg-config meson ninja-build clang libclang-rt-14-dev
libevent-dev libssl-dev libc-ares-dev libsqlite3-dev libjansson-dev libinih-dev
libcrypt-dev libcmocka-dev python3 python3-pytest swaks libnet-ssleay-perl nmap dnsutils openssl
postfix debconf-utils rbldnsd dnsperf libpq-dev postgresql time bind9-utils nsd"

missing=""
for package in $PACKAGES; do
	status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
	case "$status" in
	"install ok installed") ;;
	*) missing="$missing $package" ;;
	esac
done

if [ -z "$missing" ]; then
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing Debian packages:$missing" >&2
	echo "install-deps: run 'make deps' as root, or install them with apt-get" >&2
	exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# Postfix is installed only for smtp-source/smtp-sink and comparisons:
# "No configuration" keeps it from starting a daemon on port 25.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null

# The postgresql package creates and starts a cluster on port 5432. Tests run their own
# (scripts/postgres-test-server.sh), so the one it just made is stopped and kept off.
case " $missing " in
*" postgresql "*)
	pg_lsclusters -h 2>/dev/null | while read -r version cluster rest; do
		pg_ctlcluster "$version" "$cluster" stop 2>/dev/null || true
		echo disabled >"/etc/postgresql/$version/$cluster/start.conf"
	done
	;;
esac

# The nsd package starts NSD on port 53 (systemd unit or init script). The zone-transfer
# tests run their own throw-away NSD (tests/integration/test_dnsbl_xfr.py), so the system
# one is stopped and kept off.
case " $missing " in
*" nsd "*)
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now nsd.service >/dev/null 2>&1 || true
	fi
	if [ -x /etc/init.d/nsd ]; then
		/etc/init.d/nsd stop >/dev/null 2>&1 || true
	fi
	if command -v update-rc.d >/dev/null 2>&1; then
		update-rc.d nsd disable >/dev/null 2>&1 || true
	fi
	if [ -s /run/nsd/nsd.pid ] && kill -0 "$(cat /run/nsd/nsd.pid)" 2>/dev/null; then
		kill "$(cat /run/nsd/nsd.pid)" || true
	fi
	;;
esac
