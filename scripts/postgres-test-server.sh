#!/bin/sh
# postgres-test-server.sh - start or stop a throw-away PostgreSQL cluster on 127.0.0.1 for tests.
# Used by tests/integration/test_store_postgresql.py; never touches the system cluster (5432).
#
#   postgres-test-server.sh start       initdb in a new temp dir, start on a free loopback port,
#                                       print PGDIR=<dir> and URL=postgresql://... on stdout
#   postgres-test-server.sh stop DIR    stop the cluster in DIR and remove DIR
#
# The cluster trusts every local connection, listens only on 127.0.0.1 and keeps its unix
# socket in DIR. PostgreSQL refuses to run as root, so as root it runs as the OS user
# `postgres` (created by the Debian package); as anyone else it runs as that user.
set -eu

MARKER=relayguard-postgres-test
START_ATTEMPTS=5
START_TIMEOUT=60

die() {
	echo "postgres-test-server: $*" >&2
	exit 1
}

# bindir - the newest installed server's bin directory (Debian: /usr/lib/postgresql/N/bin).
bindir() {
	for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
			echo "$dir"
			return 0
		fi
	done
	die "no PostgreSQL server found under /usr/lib/postgresql (apt-get install postgresql)"
}

# as_owner - run a command as the cluster's owner.
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# free_port - a TCP port on 127.0.0.1 that nobody listens on right now.
free_port() {
	/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

start() {
	bin=$(bindir)
	if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
		die "running as root and there is no 'postgres' user to run the server as"
	fi
	dir=$(mktemp -d "${TMPDIR:-/tmp}/relayguard-pg.XXXXXX")
	touch "$dir/$MARKER"
	if [ "$(id -u)" = 0 ]; then
		chown postgres "$dir"
	fi
	chmod 700 "$dir"
	as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C \
		--no-sync >"$dir/initdb.log" 2>&1 || {
		cat "$dir/initdb.log" >&2
		rm -rf "$dir"
		die "initdb failed"
	}
	attempt=1
	while :; do
		port=$(free_port)
		if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
			-t "$START_TIMEOUT" -o "-c listen_addresses=127.0.0.1 -p $port \
			-c unix_socket_directories=$dir -c fsync=off -c synchronous_commit=off \
			-c full_page_writes=off" start >"$dir/pg_ctl.log" 2>&1; then
			break
		fi
		# Another process may have taken the port between free_port and the bind.
		if [ "$attempt" -ge "$START_ATTEMPTS" ]; then
			cat "$dir/pg_ctl.log" "$dir/server.log" >&2 2>/dev/null || true
			rm -rf "$dir"
			die "server did not start after $START_ATTEMPTS attempts"
		fi
		attempt=$((attempt + 1))
	done
	echo "PGDIR=$dir"
	echo "URL=postgresql://postgres@127.0.0.1:$port/postgres"
}

stop() {
	dir=$1
	[ -f "$dir/$MARKER" ] || die "$dir is not a cluster made by this script"
	bin=$(bindir)
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 ||
			echo "postgres-test-server: pg_ctl stop failed; removing $dir anyway" >&2
	fi
	rm -rf "$dir"
}

case "${1:-}" in
start)
	[ $# -eq 1 ] || die "usage: $0 start"
	start
	;;
stop)
	[ $# -eq 2 ] || die "usage: $0 stop DIR"
	stop "$2"
	;;
*)
	die "usage: $0 start | $0 stop DIR"
	;;
esac
