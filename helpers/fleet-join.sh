#!/bin/sh
# fleet-join.sh DSN: point this host's governor at a shared PostgreSQL store (docs/fleet.md).
#
#   fleet-join.sh 'host=db.lan dbname=governor user=agent'
#
# 1. creates the store's tables, or migrates them to this governor's schema (`store init`;
#    nothing happens when they are current),
# 2. copies this host's file queue into the store under the same ids (`store migrate --to
#    postgres`; tasks the store has already are left alone, so running it twice is safe),
# 3. appends  [store] backend = postgres, dsn = DSN  to the config file (GOVERNOR_CONFIG, else
#    ~/.config/governor/governor.conf), unless it has a [store] section already,
# 4. checks the config.
# The password is not part of DSN: put it in ~/.pgpass (or PGPASSWORD for a test).  GOVERNOR
# names the binary (default: governor); GOVERNOR_STATE_DIR the state dir, as for governor.
set -eu
if [ $# -ne 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
	echo "usage: fleet-join.sh 'host=... dbname=... user=...'" >&2
	[ $# -eq 1 ] && exit 0
	exit 64
fi
dsn="$1"
gov="${GOVERNOR:-governor}"
conf="${GOVERNOR_CONFIG:-${XDG_CONFIG_HOME:-$HOME/.config}/governor/governor.conf}"

mkdir -p "$(dirname "$conf")"
[ -f "$conf" ] || (umask 077 && : >"$conf")
GOVERNOR_STORE_DSN="$dsn" "$gov" -c "$conf" store init
GOVERNOR_STORE_DSN="$dsn" "$gov" -c "$conf" store migrate --to postgres
if [ -f "$conf" ] && grep -q '^[[:space:]]*\[store\]' "$conf"; then
	echo "fleet-join.sh: $conf has a [store] section already; set backend = postgres and dsn there" >&2
else
	printf '\n[store]\nbackend = postgres\ndsn = %s\n' "$dsn" >>"$conf"
	echo "fleet-join.sh: $conf now uses the postgres store"
fi
"$gov" -c "$conf" config --check
