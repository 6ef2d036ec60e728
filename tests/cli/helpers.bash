# helpers.bash: shared setup for the bats tests of the real governor binary.
#
# Every test gets a fresh state dir ($STATE, made by mktemp -d under $BATS_TEST_TMPDIR) and an
# empty config file ($CONF) that tests append to with `conf`.  `gov` runs the binary on both.
# Processes a test starts in the background are recorded with `track` (start_bg does it) and
# killed by id in teardown.  Every wait is bounded.

bats_require_minimum_version 1.5.0

: "${GOVERNOR:?set GOVERNOR to the governor binary}"

setup() {
	# Nothing from the caller's environment may leak into the config under test.
	local v
	for v in $(compgen -e); do
		case "$v" in GOVERNOR_* | XDG_CONFIG_HOME | XDG_STATE_HOME) unset "$v" ;; esac
	done
	STATE="$(mktemp -d "$BATS_TEST_TMPDIR/state.XXXXXX")"
	CONF="$BATS_TEST_TMPDIR/governor.conf"
	: >"$CONF"
	chmod 600 "$CONF"
	PIDS="$BATS_TEST_TMPDIR/pids"
	: >"$PIDS"
	QF="$STATE/queue.jsonl"          # the journal, the queue's authority (docs/store.md)
	export STATE CONF QF
	[ -z "${TEST_PG_FILE-}" ] || use_postgres
}

# The postgres store (docs/fleet.md) when the suite runs with TEST_PG_FILE (the file
# tests/pg/cluster.sh wrote the server's connection string to): every test gets a schema of
# its own, created empty, and governor finds it through the environment.
use_postgres() {
	PG_BASE="$(cat "$TEST_PG_FILE")"
	PG_SCHEMA="t$$_${BATS_TEST_NUMBER:-0}_$RANDOM"
	psql "$PG_BASE" -qAtc "CREATE SCHEMA $PG_SCHEMA" >/dev/null
	export PG_BASE PG_SCHEMA GOVERNOR_STORE_BACKEND=postgres
	export GOVERNOR_STORE_DSN="$PG_BASE options=-csearch_path=$PG_SCHEMA"
	"$GOVERNOR" -d "$STATE" -c "$CONF" store init >/dev/null
}

# psql_store SQL: run SQL in this test's postgres schema; rows as a|b lines.
psql_store() {
	psql "$PG_BASE options=-csearch_path=$PG_SCHEMA" -qAtc "$1"
}

# store_dump: everything the store holds, as text two dumps can be compared by: the journal, or
# every row and the counters of the postgres store.
store_dump() {
	if [ -n "${TEST_PG_FILE-}" ]; then
		psql_store "SELECT id, archived, doc FROM governor_tasks ORDER BY id"
		psql_store "SELECT last_id, archived_count FROM governor_meta"
	else
		cat "$QF" 2>/dev/null || true
	fi
}

# store_status ID: the status the store committed for task ID (T-NN).
store_status() {
	if [ -n "${TEST_PG_FILE-}" ]; then
		psql_store "SELECT status FROM governor_tasks WHERE id = $((10#${1#T-}))"
	else
		jq -rs --arg id "$1" '[.[] | select(.id? == $id)] | last | .status' "$QF"
	fi
}

# corrupt_store: make every task unreadable: a complete line that is not JSON at the end of the
# journal, or rows whose doc is not a task.
corrupt_store() {
	if [ -n "${TEST_PG_FILE-}" ]; then
		psql_store "UPDATE governor_tasks SET doc = '{\"id\":'"
	else
		echo '{"id":"T-02",' >>"$QF"
	fi
}

# empty_store: after a test replaced $STATE by a new directory, empty the postgres store too.
empty_store() {
	[ -z "${TEST_PG_FILE-}" ] ||
		psql_store "TRUNCATE governor_tasks; UPDATE governor_meta SET last_id = 0, archived_count = 0"
}

# For tests of the file store's own files (queue.jsonl, queue.idx, queue.lock, archive/).
file_store_only() {
	[ -z "${TEST_PG_FILE-}" ] || skip "a test of the file store's files"
}

teardown() {
	local pid
	[ -f "$PIDS" ] || return 0
	while read -r pid; do
		[ -n "$pid" ] || continue
		kill -CONT "$pid" 2>/dev/null || true
		kill -KILL "$pid" 2>/dev/null || true
	done <"$PIDS"
	while read -r pid; do
		[ -n "$pid" ] && wait "$pid" 2>/dev/null || true
	done <"$PIDS"
	return 0
}

gov() {
	"$GOVERNOR" -d "$STATE" -c "$CONF" "$@"
}

# Append lines to the config file.
conf() {
	printf '%s\n' "$@" >>"$CONF"
}

# Live checks that must not depend on how busy the host is: no CPU, memory or disk limit.
conf_ignore_host_load() {
	conf '[policy]' 'max_cpu_percent = 0' 'min_mem_available_percent = 0' 'min_disk_free_percent = 0'
}

# replace_journal TEXT: replace queue.jsonl by exactly TEXT plus a newline, as a new file
# (a new inode, mode 0600), the way an editor or a restore would.
replace_journal() {
	local tmp="$BATS_TEST_TMPDIR/journal.tmp"
	printf '%s\n' "$1" >"$tmp"
	chmod 600 "$tmp"
	mv -f "$tmp" "$QF"
}

# task_line ID [JSON]: one valid task line for the journal, with fields of JSON merged in.
task_line() {
	local extra="${2-}"
	[ -n "$extra" ] || extra='{}'
	jq -cn --arg id "$1" --argjson extra "$extra" '{
		id: $id, prompt: ("prompt of " + $id), priority: 1, model: null, status: "pending",
		added_at: "2026-02-02T03:32:53Z", updated_at: "2026-02-02T03:32:53Z", source: "bats",
		metadata: {}, retries: 0, max_retries: 3, attempts: []} + $extra'
}

# Record a pid for teardown.
track() {
	echo "$1" >>"$PIDS"
}

# start_bg NAME CMD...: run CMD in the background with stdout in $BATS_TEST_TMPDIR/NAME.out,
# stderr in NAME.err and every descriptor above 2 closed (bats waits on its fd 3); the process
# is CMD itself (exec), its pid in $BG_PID.
start_bg() {
	local name="$1"
	shift
	(
		local fd
		for fd in /proc/$BASHPID/fd/*; do
			fd="${fd##*/}"
			[ "$fd" -gt 2 ] && eval "exec $fd>&-"
		done
		exec "$@"
	) >"$BATS_TEST_TMPDIR/$name.out" 2>"$BATS_TEST_TMPDIR/$name.err" </dev/null &
	BG_PID=$!
	track "$BG_PID"
}

# start_named ARGV0 CMD...: like start_bg, but the process runs with argv[0] = ARGV0 (exec -a),
# so its command line is "ARGV0 ARGS...".  Output goes to /dev/null.
start_named() {
	local argv0="$1"
	shift
	(
		local fd
		for fd in /proc/$BASHPID/fd/*; do
			fd="${fd##*/}"
			[ "$fd" -gt 2 ] && eval "exec $fd>&-"
		done
		exec -a "$argv0" "$@"
	) >/dev/null 2>&1 </dev/null &
	BG_PID=$!
	track "$BG_PID"
}

# wait_until TRIES CMD...: run CMD every 0.1 s until it succeeds, at most TRIES times.
wait_until() {
	local tries="$1" i
	shift
	for ((i = 0; i < tries; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	echo "wait_until: gave up after $tries tries: $*" >&2
	return 1
}

# write_snapshot FILE key=value...: a snapshot with calm readings, some overridden.
#   keys: cpu mem load ncpu disk bg inter
write_snapshot() {
	local file="$1" cpu=5 mem=80 load=0.1 ncpu=2 disk=50 bg=0 inter=0 kv
	shift
	for kv in "$@"; do
		case "$kv" in
		cpu=*) cpu="${kv#*=}" ;;
		mem=*) mem="${kv#*=}" ;;
		load=*) load="${kv#*=}" ;;
		ncpu=*) ncpu="${kv#*=}" ;;
		disk=*) disk="${kv#*=}" ;;
		bg=*) bg="${kv#*=}" ;;
		inter=*) inter="${kv#*=}" ;;
		*) echo "write_snapshot: unknown key $kv" >&2; return 1 ;;
		esac
	done
	printf '{"readings":{"cpu_percent":%s,"mem_available_percent":%s,"loadavg1":%s,"ncpu":%s,"disk_free_percent":%s,"sessions":{"background":%s,"interactive":%s}}}\n' \
		"$cpu" "$mem" "$load" "$ncpu" "$disk" "$bg" "$inter" >"$file"
}

# The calm snapshot every fast check can decide on.
calm_snapshot() {
	CALM="$BATS_TEST_TMPDIR/calm.json"
	[ -f "$CALM" ] || write_snapshot "$CALM"
}

# assert_json_line [TEXT]: TEXT (default: $output) is exactly one line of valid JSON.
assert_json_line() {
	local text="${1-$output}"
	local lines
	lines=$(printf '%s\n' "$text" | wc -l)
	if [ -z "$text" ] || [ "$lines" -ne 1 ]; then
		echo "expected exactly one line on stdout, got $lines: <<$text>>" >&2
		return 1
	fi
	if ! jq -e . >/dev/null 2>&1 <<<"$text"; then
		echo "stdout is not JSON: <<$text>>" >&2
		return 1
	fi
}

# jqt FILTER [TEXT]: jq -e FILTER holds on TEXT (default: $output); shows both when it does not.
jqt() {
	local filter="$1" text="${2-$output}"
	if ! jq -e "$filter" >/dev/null 2>&1 <<<"$text"; then
		echo "jq -e '$filter' failed on: $text" >&2
		return 1
	fi
}

# jget FILTER [TEXT]: print jq -r FILTER of TEXT.
jget() {
	jq -r "$1" <<<"${2-$output}"
}

# assert_eq ACTUAL EXPECTED [WHAT]
assert_eq() {
	if [ "$1" != "$2" ]; then
		echo "${3:-value}: expected <$2>, got <$1>" >&2
		return 1
	fi
}

# assert_contains HAYSTACK NEEDLE
assert_contains() {
	if [[ "$1" != *"$2"* ]]; then
		echo "expected to find <$2> in: $1" >&2
		return 1
	fi
}

# A decision check: stdout is one JSON line with this status (and reason).
assert_decision() {
	assert_json_line || return 1
	jqt ".status == \"$1\"" || return 1
	if [ -n "${2-}" ]; then
		jqt ".reason == \"$2\"" || return 1
	fi
}

# Count tasks in a given state, from list --json --all.
count_status() {
	gov list --all --json | jq --arg s "$1" '[.[] | select(.status == $s)] | length'
}
