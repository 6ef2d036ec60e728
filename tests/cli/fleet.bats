#!/usr/bin/env bats
# Fleet mode (issue 8, docs/fleet.md): one queue in PostgreSQL shared by several governors.
# Runs only with TEST_PG_FILE (ctest's fleet/postgres starts a real server: tests/pg/cluster.sh).
# "Hosts" are governors with their own state dir and host id on the same store.

load helpers

setup_file() {
	[ -n "${TEST_PG_FILE-}" ] || { echo "fleet.bats needs a PostgreSQL server: TEST_PG_FILE (ctest runs it as cli-pg/fleet)" >&2; return 1; }
}

# host NAME ARGS...: governor as host NAME (its own state dir, the shared store).
host() {
	local name="$1"
	shift
	mkdir -p "$BATS_TEST_TMPDIR/host-$name"
	chmod 700 "$BATS_TEST_TMPDIR/host-$name"
	GOVERNOR_STORE_HOST="$name" "$GOVERNOR" -d "$BATS_TEST_TMPDIR/host-$name" -c "$CONF" "$@"
}

@test "store init creates the schema once and says so when run again" {
	run psql_store "SELECT schema_version FROM governor_meta"
	[ "$output" = 2 ]
	run gov store init
	[ "$status" -eq 0 ]
	[[ "$output" == *"schema version 2 already"* ]]
}

@test "four hosts running store init at once on an empty database: one creates, all succeed" {
	psql_store "DROP TABLE governor_tasks, governor_meta"
	local i
	for i in 1 2 3 4; do
		gov store init >"$BATS_TEST_TMPDIR/init.$i" 2>&1 &
		track $!
	done
	wait
	for i in 1 2 3 4; do
		grep -q "schema version 2" "$BATS_TEST_TMPDIR/init.$i" || { cat "$BATS_TEST_TMPDIR/init.$i" >&2; false; }
	done
	[ "$(grep -l "created at schema version 2" "$BATS_TEST_TMPDIR"/init.* | wc -l)" -eq 1 ]
	run psql_store "SELECT count(*), min(schema_version) FROM governor_meta"
	[ "$output" = "1|2" ]
}

@test "store init -n and store migrate -n say what they would do and change nothing" {
	psql_store "DROP TABLE governor_tasks, governor_meta"
	run gov store init -n
	[ "$status" -eq 0 ]
	[[ "$output" == *"would be created at schema version 2 (was 0); nothing was changed"* ]]
	run psql_store "SELECT to_regclass('governor_meta') IS NULL"
	[ "$output" = t ]
	gov store init >/dev/null
	local files="$BATS_TEST_TMPDIR/files"
	mkdir -m 700 "$files"
	env -u GOVERNOR_STORE_BACKEND "$GOVERNOR" -d "$files" -c "$CONF" add "one" >/dev/null
	run env -u GOVERNOR_STORE_BACKEND "$GOVERNOR" -d "$files" -c "$CONF" store migrate --to postgres -n
	[ "$status" -eq 0 ]
	[[ "$output" == "would copy 1 tasks"*"nothing was changed (-n)" ]]
	run psql_store "SELECT count(*), (SELECT last_id FROM governor_meta) FROM governor_tasks"
	[ "$output" = "0|0" ]
	run gov store migrate --to sqlite
	[ "$status" -eq 64 ]
	run gov store init extra
	[ "$status" -eq 64 ]
}

@test "a store with a newer schema is refused with a clear error, and left as it is" {
	psql_store "UPDATE governor_meta SET schema_version = 99"
	run gov list
	[ "$status" -eq 65 ]
	[[ "$output" == *"schema version 99, newer than this governor knows (2)"* ]]
	run gov store init
	[ "$status" -eq 65 ]
	[[ "$output" == *"left as it is"* ]]
	run psql_store "SELECT schema_version FROM governor_meta"
	[ "$output" = 99 ]
}

@test "a store without tables asks for store init" {
	psql_store "DROP TABLE governor_tasks, governor_meta"
	run gov add "x"
	[ "$status" -eq 65 ]
	[[ "$output" == *"governor store init"* ]]
}

@test "an unreachable server is an error naming the store, not a hang" {
	GOVERNOR_STORE_DSN="host=$BATS_TEST_TMPDIR/nowhere user=governor" run -1 timeout 10 "$GOVERNOR" -d "$STATE" -c "$CONF" list
	[[ "$output" == *"cannot connect to the postgres store"* ]]
	# check still answers with its one JSON line: an ERROR naming the store
	GOVERNOR_STORE_DSN="host=$BATS_TEST_TMPDIR/nowhere user=governor" run --separate-stderr -1 timeout 10 "$GOVERNOR" -d "$STATE" -c "$CONF" check
	[ "$(jq -r '.status + " " + .error.code' <<<"$output")" = "ERROR queue_unreadable" ]
	[[ "$(jq -r .error.message <<<"$output")" == *"cannot connect to the postgres store"* ]]
}

@test "a password in the dsn is refused and never printed" {
	GOVERNOR_STORE_DSN="$PG_BASE password=hunter2" run gov list
	[ "$status" -eq 78 ]
	[[ "$output" == *"may not carry a password"* ]]
	[[ "$output" != *hunter2* ]]
	GOVERNOR_STORE_DSN="postgresql://governor:hunter2@localhost/governor" run gov config
	[ "$status" -eq 78 ]
	[[ "$output" != *hunter2* ]]
}

@test "the file store does not load libpq; the postgres store loads it" {
	run ldd "$GOVERNOR"
	[[ "$output" != *libpq* ]]
	LD_DEBUG=files run env -u GOVERNOR_STORE_BACKEND -u GOVERNOR_STORE_DSN "$GOVERNOR" -d "$STATE" -c "$CONF" list
	[ "$status" -eq 0 ]
	[[ "$output" != *libpq.so* ]]
	LD_DEBUG=files run gov list
	[ "$status" -eq 0 ]
	[[ "$output" == *libpq.so.5* ]]
}

@test "a task added on one host is claimed on another, which records its host" {
	conf_ignore_host_load
	run host alpha add "from alpha"
	[ "$output" = T-01 ]
	run host beta check
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<<"$output")" = READY ]
	[ "$(jq -r .task.id <<<"$output")" = T-01 ]
	run psql_store "SELECT status, host FROM governor_tasks WHERE id = 1"
	[ "$output" = "claimed|beta" ]
	# alpha may not pop beta's claim; beta may
	run host alpha pop T-01
	[ "$status" -eq 65 ]
	[[ "$output" == *"claimed by host 'beta'"* ]]
	run host alpha pop
	[ "$status" -eq 65 ]
	run host beta pop
	[ "$status" -eq 0 ]
	run host alpha done T-01
	[ "$status" -eq 0 ]
	run host gamma show --json T-01
	[ "$(jq -r '.status + " " + .host' <<<"$output")" = "done beta" ]
}

@test "max_concurrent is per host; fleet_max_concurrent caps the fleet" {
	conf_ignore_host_load
	for i in 1 2 3 4; do host alpha add "t$i" >/dev/null; done
	run host alpha check
	[ "$(jq -r .status <<<"$output")" = READY ]
	run host alpha check
	[ "$(jq -r .reason <<<"$output")" = concurrency_limit ]
	run host beta check          # alpha's claim does not count against beta's max_concurrent
	[ "$(jq -r .status <<<"$output")" = READY ]
	conf 'fleet_max_concurrent = 2'
	run host gamma check
	[ "$(jq -r .status <<<"$output")" = DEFERRED ]
	[ "$(jq -r .reason <<<"$output")" = concurrency_limit ]
	[[ "$(jq -r .detail <<<"$output")" == *"2 in flight across the fleet, fleet_max_concurrent 2"* ]]
}

@test "a claim of a host killed after READY is handed out again only after it lapsed" {
	conf_ignore_host_load
	conf 'claim_ttl = 3s'
	host alpha add "only task" >/dev/null
	run host alpha check
	[ "$(jq -r .task.id <<<"$output")" = T-01 ]
	local claimed_at
	claimed_at=$(date +%s)
	# alpha dies here, before pop.  Until its claim lapses, nobody else gets T-01.
	run host beta check
	[ "$(jq -r .status <<<"$output")" = NO_TASKS ]
	wait_until 80 bash -c "GOVERNOR_STORE_HOST=beta '$GOVERNOR' -d '$BATS_TEST_TMPDIR/host-beta' -c '$CONF' check | grep -q READY"
	[ $(($(date +%s) - claimed_at)) -ge 2 ]
	run psql_store "SELECT status, host FROM governor_tasks WHERE id = 1"
	[ "$output" = "claimed|beta" ]
	run host alpha pop T-01
	[ "$status" -eq 65 ]
}

@test "kill -9 inside claims: no task is ever claimed twice, none is lost" {
	conf_ignore_host_load
	conf 'max_concurrent = 100'
	for i in $(seq 1 30); do host alpha add "t$i" >/dev/null; done
	for _ in $(seq 1 30); do
		host alpha check >/dev/null 2>&1 &
		local pid=$!
		track "$pid"
		sleep "0.00$((RANDOM % 9))"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	# Whatever was interrupted: each task is pending or claimed once, by alpha, with a deadline.
	run psql_store "SELECT count(*), count(DISTINCT id) FROM governor_tasks WHERE status IN ('pending', 'claimed')"
	[ "$output" = "30|30" ]
	run psql_store "SELECT count(*) FROM governor_tasks WHERE status = 'claimed' AND (host <> 'alpha' OR deadline = 0)"
	[ "$output" = 0 ]
	# and the store still works: another host drains the rest
	run host beta check
	[ "$status" -eq 0 ]
}

# One host's heartbeat loop: claim, mark the task as running in a shared directory (mkdir is
# atomic: a second runner of the same task is caught), pop, finish (done, or fail for every
# task whose id is a multiple of 5 on its first attempt), until NO_TASKS 10 times running
# (2 s: longer than the 1 s backoff of a failed task, which is not pending meanwhile).
heartbeat_loop() {
	local name="$1" marks="$2" line id idle=0 n=0
	while [ "$idle" -lt 10 ] && [ "$n" -lt 400 ]; do
		n=$((n + 1))
		line=$(host "$name" check 2>/dev/null) || true
		case "$line" in
		*'"READY"'*)
			idle=0
			id=$(jq -r .task.id <<<"$line")
			mkdir "$marks/$id" 2>/dev/null || echo "$id" >>"$marks/violations"
			echo "$name $id" >>"$marks/ready"
			host "$name" pop "$id" >/dev/null || echo "pop $name $id" >>"$marks/violations"
			rmdir "$marks/$id"
			if [ $((10#${id#T-} % 5)) -eq 0 ] && ! grep -q "fail $id" "$marks/outcomes" 2>/dev/null; then
				echo "fail $id" >>"$marks/outcomes"
				host "$name" fail --reason "flaky" "$id" >/dev/null
			else
				echo "done $id" >>"$marks/outcomes"
				host "$name" done "$id" >/dev/null
			fi
			;;
		*'"NO_TASKS"'*) idle=$((idle + 1)); sleep 0.2 ;;
		*) sleep 0.05 ;;
		esac
	done
}

@test "three hosts drain one queue: every task done exactly once, never on two hosts at once" {
	conf_ignore_host_load
	conf 'backoff_min = 1s' 'backoff_max = 1s'
	local marks="$BATS_TEST_TMPDIR/marks"
	mkdir "$marks"
	# adds from every host while they run
	for i in $(seq 1 20); do host alpha add "a$i" >/dev/null; done
	heartbeat_loop alpha "$marks" &
	track $!
	heartbeat_loop beta "$marks" &
	track $!
	heartbeat_loop gamma "$marks" &
	track $!
	for i in $(seq 1 10); do host beta add "b$i" >/dev/null; host gamma add "c$i" >/dev/null; done
	wait
	[ ! -e "$marks/violations" ]
	run psql_store "SELECT count(*) FROM governor_tasks WHERE status = 'done'"
	[ "$output" = 40 ]
	run psql_store "SELECT count(*) FROM governor_tasks WHERE status <> 'done'"
	[ "$output" = 0 ]
	# every task was handed out once per attempt: 40 + the 8 first attempts that failed
	[ "$(wc -l <"$marks/ready")" -eq 48 ]
	[ "$(sort -u -k2 "$marks/ready" | wc -l)" -eq 40 ]
	# and the work was shared
	[ "$(cut -d' ' -f1 "$marks/ready" | sort -u | wc -l)" -ge 2 ]
}

@test "store migrate copies a file queue with its ids and archive, and is safe to re-run" {
	local files="$BATS_TEST_TMPDIR/files"
	mkdir -m 700 "$files"
	fgov() { env -u GOVERNOR_STORE_BACKEND "$GOVERNOR" -d "$files" -c "$CONF" "$@"; }
	conf_ignore_host_load
	fgov add "one" >/dev/null
	fgov add --priority high "two" >/dev/null
	fgov add "three" >/dev/null
	fgov done T-01 >/dev/null
	fgov archive --older-than 0 >/dev/null
	fgov cancel T-03 >/dev/null
	run fgov store migrate --to postgres
	[ "$status" -eq 0 ]
	[[ "$output" == *"copied 2 tasks and 1 archived tasks"*"0 were there already"*"T-03"* ]]
	run psql_store "SELECT id, status, archived FROM governor_tasks ORDER BY id"
	[ "${lines[0]}" = "1|done|t" ]
	[ "${lines[1]}" = "2|pending|f" ]
	[ "${lines[2]}" = "3|cancelled|f" ]
	run fgov store migrate --to postgres
	[ "$status" -eq 0 ]
	[[ "$output" == *"copied 0 tasks and 0 archived tasks"*"3 were there already"* ]]
	# the copy is the same task: prompt, priority, attempts
	run gov show --json T-02
	[ "$(jq -r '.prompt + " " + (.priority|tostring)' <<<"$output")" = "two 2" ]
	# and ids go on after the file's
	run gov add "four"
	[ "$output" = T-04 ]
}

@test "helpers/fleet-join.sh: one command points a host at the store and keeps its queue" {
	local files="$BATS_TEST_TMPDIR/joiner" cfg="$BATS_TEST_TMPDIR/joiner.conf"
	mkdir -m 700 "$files"
	GOVERNOR_STATE_DIR="$files" env -u GOVERNOR_STORE_BACKEND -u GOVERNOR_STORE_DSN \
		"$GOVERNOR" -c "$CONF" add "queued before joining" >/dev/null
	run env -u GOVERNOR_STORE_BACKEND -u GOVERNOR_STORE_DSN GOVERNOR="$GOVERNOR" \
		GOVERNOR_CONFIG="$cfg" GOVERNOR_STATE_DIR="$files" \
		"$BATS_TEST_DIRNAME/../../helpers/fleet-join.sh" "$GOVERNOR_STORE_DSN"
	[ "$status" -eq 0 ]
	[[ "$output" == *"now uses the postgres store"* ]]
	grep -qx 'backend = postgres' "$cfg"
	# from now on this host reads the shared store, with its old task in it
	run env -u GOVERNOR_STORE_BACKEND -u GOVERNOR_STORE_DSN "$GOVERNOR" -c "$cfg" -d "$files" list --json
	[ "$(jq -r '.[0].prompt' <<<"$output")" = "queued before joining" ]
	# joining again changes nothing and says why
	run env -u GOVERNOR_STORE_BACKEND -u GOVERNOR_STORE_DSN GOVERNOR="$GOVERNOR" \
		GOVERNOR_CONFIG="$cfg" GOVERNOR_STATE_DIR="$files" \
		"$BATS_TEST_DIRNAME/../../helpers/fleet-join.sh" "$GOVERNOR_STORE_DSN"
	[ "$status" -eq 0 ]
	[[ "$output" == *"has a [store] section already"* ]]
	[ "$(grep -c '^\[store\]' "$cfg")" -eq 1 ]
}

@test "archive on the postgres store: finished tasks leave every listing, ids go on" {
	gov add "finished" >/dev/null
	gov add "pending" >/dev/null
	gov done T-01 >/dev/null
	run gov archive --older-than 0
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.archived, .archived_count]' <<<"$output")" = "[1,1]" ]
	run psql_store "SELECT id, archived FROM governor_tasks ORDER BY id"
	[ "$output" = $'1|t\n2|f' ]
	run gov list --all --json
	[ "$(jq -c '[.[].id]' <<<"$output")" = '["T-02"]' ]
	run gov show T-01
	[ "$status" -eq 65 ]
	[[ "$output" == *archived* ]]
	run gov add "next"
	[ "$output" = T-03 ]
}

@test "a task started by run inherits no descriptor of the store's connection" {
	conf_ignore_host_load
	gov add "look at my descriptors" >/dev/null
	run gov run --wait -- sh -c 'for f in /proc/$$/fd/*; do readlink "$f"; done; true'
	[ "$status" -eq 0 ]
	run gov logs T-01
	[[ "$output" != *socket:* ]]
	[[ "$output" == */proc/* ]] || [[ "$output" == */dev/null* ]] || [[ "$output" == *.log* ]]
	run psql_store "SELECT status FROM governor_tasks WHERE id = 1"
	[ "$output" = done ]
}

@test "store migrate: of a task archived twice the last copy counts; a bad line copies nothing" {
	local files="$BATS_TEST_TMPDIR/files"
	mkdir -m 700 "$files" "$files/archive"
	chmod 700 "$files/archive"
	printf '%s\n' '{"version":2,"last_id":3,"archived_count":1}' >"$files/queue.jsonl"
	task_line T-03 >>"$files/queue.jsonl"
	{
		task_line T-01 '{"status":"cancelled","finished_at":"2026-01-02T03:04:05Z"}'
		task_line T-01 '{"status":"done","finished_at":"2026-01-02T03:04:06Z"}'
	} >"$files/archive/2026-01.jsonl"
	chmod 600 "$files/queue.jsonl" "$files/archive/2026-01.jsonl"
	printf '%s\n' 'not a task' >"$BATS_TEST_TMPDIR/bad-line"
	cp "$files/archive/2026-01.jsonl" "$BATS_TEST_TMPDIR/good"
	cat "$BATS_TEST_TMPDIR/bad-line" >>"$files/archive/2026-01.jsonl"
	run env -u GOVERNOR_STORE_BACKEND "$GOVERNOR" -d "$files" -c "$CONF" store migrate --to postgres
	[ "$status" -eq 65 ]
	[[ "$output" == *"archive/2026-01.jsonl: not a task"*"nothing was copied"* ]]
	run psql_store "SELECT count(*) FROM governor_tasks"
	[ "$output" = 0 ]
	cp "$BATS_TEST_TMPDIR/good" "$files/archive/2026-01.jsonl"
	run env -u GOVERNOR_STORE_BACKEND "$GOVERNOR" -d "$files" -c "$CONF" store migrate --to postgres
	[ "$status" -eq 0 ]
	run psql_store "SELECT id, status, archived FROM governor_tasks ORDER BY id"
	[ "$output" = $'1|done|t\n3|pending|f' ]
	run gov add "next"
	[ "$output" = T-04 ]
}
