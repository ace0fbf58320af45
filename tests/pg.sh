#!/bin/sh
# A throwaway PostgreSQL server for the tests, on a Unix socket only.
#
#   pg.sh start         create a private directory, initdb, start the server;
#                       print the directory on the first line and a libpq
#                       conninfo for the superuser on the second
#   pg.sh stop DIR      stop the server of DIR and remove DIR
#
# The server listens on no TCP port (listen_addresses is empty); its socket
# is DIR/sock.  Authentication: role "ktx_password" must give its password
# (scram-sha-256), every other role is trusted, over the socket only.  Run
# as root, the server runs as the "postgres" user (initdb refuses root), and
# DIR is owned by it.  The binaries come from PG_BINDIR, else the newest
# /usr/lib/postgresql/*/bin, else PATH; without them this fails: the tests
# that use it must not pass without a real server.
set -eu

find_bindir() {
	if [ -n "${PG_BINDIR:-}" ]; then
		echo "$PG_BINDIR"
		return
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
			echo "$d"
			return
		fi
	done
	d=$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)
	dirname "$d"
}

BINDIR=$(find_bindir)
if [ ! -x "$BINDIR/initdb" ] || [ ! -x "$BINDIR/pg_ctl" ]; then
	echo "pg.sh: PostgreSQL server binaries (initdb, pg_ctl) not found:" \
	    "install the Debian package postgresql, or set PG_BINDIR" >&2
	exit 1
fi

# as_owner CMD...: run CMD as the user that owns the server.
if [ "$(id -u)" -eq 0 ]; then
	OWNER=postgres
	as_owner() {
		setpriv --reuid="$OWNER" --regid="$OWNER" --init-groups -- "$@"
	}
else
	OWNER=$(id -un)
	as_owner() { "$@"; }
fi

case "${1:-}" in
start)
	dir=$(mktemp -d "${TMPDIR:-/tmp}/ktx-pg.XXXXXX")
	chmod 0700 "$dir"
	mkdir "$dir/sock"
	[ "$OWNER" = "$(id -un)" ] || chown -R "$OWNER" "$dir"
	if ! as_owner "$BINDIR/initdb" -D "$dir/data" -U "$OWNER" -A trust \
	    -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
		cat "$dir/initdb.log" >&2
		rm -rf "$dir"
		exit 1
	fi
	cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir/sock'
unix_socket_permissions = 0700
port = 5432
fsync = off
shared_buffers = 16MB
max_connections = 20
CONF
	printf 'local all ktx_password scram-sha-256\nlocal all all trust\n' \
	    >"$dir/data/pg_hba.conf"
	if ! as_owner "$BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
	    -w -t 60 start >/dev/null; then
		cat "$dir/server.log" >&2
		rm -rf "$dir"
		exit 1
	fi
	echo "$dir"
	echo "host=$dir/sock port=5432 user=$OWNER dbname=postgres"
	;;
stop)
	dir=${2:?usage: pg.sh stop DIR}
	case "$dir" in
	*/ktx-pg.*) ;;
	*) echo "pg.sh: $dir is not a pg.sh directory" >&2; exit 2 ;;
	esac
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_owner "$BINDIR/pg_ctl" -D "$dir/data" -m immediate -w stop \
		    >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
	;;
*)
	echo "usage: pg.sh start | pg.sh stop DIR" >&2
	exit 2
	;;
esac
