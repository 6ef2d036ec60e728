#!/bin/sh
# bench-fleet.sh [GOVERNOR]: the file store against the postgres store (issue 8, docs/fleet.md),
# in one hyperfine run: add, check --dry-run and check with a claim on a 1,000-task queue, with
# --version as the baseline.  Starts its own PostgreSQL (tests/pg/cluster.sh, fsync on, a Unix
# socket) and stops it.  Medians and ratios; not part of ctest.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
gov=${1:-$here/../../build/governor/governor}
gov=$(cd "$(dirname "$gov")" && pwd)/$(basename "$gov")
out=${BENCH_OUT:-$here/results}
work=$(mktemp -d)
mkdir -p "$out"
PG_FSYNC=on "$here/../pg/cluster.sh" start "$work/dsn" >/dev/null
trap '"$here/../pg/cluster.sh" stop "$work/dsn"; rm -rf "$work"' EXIT INT TERM

# One queue of 1,000 tasks in each store (the same tasks: migrated), a config with room for
# every claim (max_concurrent 100000, no load rule), so each timed check claims the next task.
"$here/gen-legacy.sh" 1000 > "$work/tasks.json"
mkdir -m 700 "$work/file" "$work/pg"
cat > "$work/file.conf" <<CONF
[policy]
max_concurrent = 100000
max_cpu_percent = 0
min_mem_available_percent = 0
min_disk_free_percent = 0
CONF
{ cat "$work/file.conf"; printf '[store]\nbackend = postgres\ndsn = %s\n' "$(cat "$work/dsn")"; } > "$work/pg.conf"
chmod 600 "$work/file.conf" "$work/pg.conf"
"$gov" -c "$work/file.conf" -d "$work/file" import "$work/tasks.json" > /dev/null
"$gov" -c "$work/pg.conf" -d "$work/pg" store init > /dev/null
"$gov" -c "$work/pg.conf" -d "$work/file" store migrate --to postgres > /dev/null

f="$gov -c $work/file.conf -d $work/file"
p="$gov -c $work/pg.conf -d $work/pg"
hyperfine -N --warmup 5 --min-runs 40 --export-json "$out/fleet.json" \
	-n version "$gov --version" \
	-n 'file: add' "$f add bench" \
	-n 'postgres: add' "$p add bench" \
	-n 'file: check -n' "$f check -n" \
	-n 'postgres: check -n' "$p check -n" \
	-n 'file: check + claim' "$f check" \
	-n 'postgres: check + claim' "$p check"

jq -r '.results as $r | ($r[] | select(.command == "version") | .median) as $base |
	"\nscenario                  median ms   x --version   cpu ms (user+sys)",
	($r[] | "\(.command | . + " " * (24 - length)) \(.median * 1000 * 100 | round / 100 | tostring | . + " " * (11 - length)) \(.median / $base * 100 | round / 100 | tostring | . + " " * (13 - length)) \((.user + .system) * 1000 * 100 | round / 100)")' \
	"$out/fleet.json"
