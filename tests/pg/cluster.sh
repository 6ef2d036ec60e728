#!/bin/sh
# cluster.sh start|stop FILE: a throwaway PostgreSQL server for the fleet tests.
#
# start: initdb a cluster in a new directory under /tmp, start it listening on a Unix socket in
# that directory only (no TCP port), create the role and database "governor", and write the
# libpq connection string to FILE.  stop: stop the server FILE names and remove its directory.
# PostgreSQL refuses to run as root, so under root the server runs as the "postgres" user that
# Debian's postgresql package creates.  Every wait is bounded.  The server runs with fsync off
# (a test's data need not survive a power cut) unless PG_FSYNC=on (the benchmark sets it).
set -eu

cmd="${1:?usage: cluster.sh start|stop FILE}"
file="${2:?usage: cluster.sh start|stop FILE}"
bin=""
for d in /usr/lib/postgresql/*/bin; do      # the newest version: the glob sorts 15 before 16
	[ -x "$d/initdb" ] && bin="$d"
done
if [ -z "$bin" ]; then
	echo "cluster.sh: no PostgreSQL server found (install the Debian package postgresql)" >&2
	exit 1
fi

as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

case "$cmd" in
start)
	dir="$(mktemp -d /tmp/governor-pg.XXXXXX)"
	[ "$(id -u)" != 0 ] || chown postgres "$dir"
	as_owner "$bin/initdb" -D "$dir/data" -U governor --auth=trust --no-sync -E UTF8 >"$dir/initdb.log"
	as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
		-o "-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=${PG_FSYNC:-off} -c max_connections=100" \
		start >/dev/null
	dsn="host=$dir user=governor dbname=governor"
	"$bin/createdb" -h "$dir" -U governor governor
	printf '%s\n' "$dsn" >"$file"
	echo "cluster.sh: PostgreSQL running: $dsn"
	;;
stop)
	[ -f "$file" ] || exit 0
	dir="$(sed -n 's/^host=\([^ ]*\) .*/\1/p' "$file")"
	case "$dir" in /tmp/governor-pg.*) ;; *) echo "cluster.sh: not ours: $dir" >&2; exit 1 ;; esac
	as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
	rm -rf "$dir" "$file"
	;;
*)
	echo "usage: cluster.sh start|stop FILE" >&2
	exit 64
	;;
esac
