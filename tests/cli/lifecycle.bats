#!/usr/bin/env bats
# lifecycle.bats: the life of a task after it is queued: done, fail, retry, cancel, skip on every
# state; backoff and waiting; dependencies; --at and --delay; archive; the history log and stats;
# dispatch budgets and active hours.

load helpers

# Seconds since the epoch of an RFC 3339 time.
epoch() {
	date -u -d "$1" +%s
}

# A check on the calm snapshot, its line in $output.
check() {
	calm_snapshot
	run --separate-stderr gov check --snapshot "$CALM" "$@"
	[ "$status" -eq 0 ] || { echo "check exited $status: $stderr" >&2; return 1; }
}

# ready_now: one check says READY (and claims).  For wait_until.
ready_now() {
	gov check --snapshot "$CALM" >"$BATS_TEST_TMPDIR/ready.out" &&
		jq -e '.status == "READY"' "$BATS_TEST_TMPDIR/ready.out" >/dev/null
}

# The status of task ID as the store committed it (the journal's latest line for it).
committed_status() {
	store_status "$1"
}

# fresh_state: a new, empty state dir in $STATE (the config stays).
fresh_state() {
	STATE="$(mktemp -d "$BATS_TEST_TMPDIR/state.XXXXXX")"
	QF="$STATE/queue.jsonl"
	empty_store
}

# task_in S: a fresh state dir whose T-01 is in state S (and nothing else is queued).
task_in() {
	fresh_state
	calm_snapshot
	case "$1" in
	pending) gov add "task" >/dev/null ;;
	claimed) gov add "task" >/dev/null && gov check --snapshot "$CALM" >/dev/null ;;
	running) gov add "task" >/dev/null && gov check --snapshot "$CALM" >/dev/null && gov pop >/dev/null ;;
	done) gov add "task" >/dev/null && gov done T-01 >/dev/null ;;
	blocked) gov add --max-retries 1 "task" >/dev/null && gov check --snapshot "$CALM" >/dev/null &&
		gov fail T-01 --reason "broken" >/dev/null ;;
	cancelled) gov add "task" >/dev/null && gov cancel T-01 >/dev/null ;;
	skipped) gov add "task" >/dev/null && gov skip T-01 >/dev/null ;;
	esac
	local got
	got=$(gov list --all --json | jq -r '.[0].status')
	[ "$got" = "$1" ] || { echo "task_in $1: T-01 is $got" >&2; return 1; }
}

ALL_STATES="pending claimed running done blocked cancelled skipped"

# verb_matrix VERB "ALLOWED STATES" RESULT: VERB succeeds on exactly the allowed states, leaving
# T-01 in RESULT; on every other state it exits 65 naming the state and changes nothing.
verb_matrix() {
	local verb="$1" allowed=" $2 " result="$3" s
	for s in $ALL_STATES; do
		task_in "$s" || return 1
		store_dump >"$BATS_TEST_TMPDIR/before"
		cp "$STATE/history.jsonl" "$BATS_TEST_TMPDIR/history.before"
		run --separate-stderr gov "$verb" T-01
		if [[ "$allowed" == *" $s "* ]]; then
			[ "$status" -eq 0 ] || { echo "$verb on $s exited $status: $stderr" >&2; return 1; }
			assert_json_line || return 1
			jqt ".id == \"T-01\" and .status == \"$result\"" || { echo "$verb on $s" >&2; return 1; }
			[ "$(committed_status T-01)" = "$result" ] || { echo "$verb on $s: not committed" >&2; return 1; }
			jq -e --arg v "$verb" --arg s "$s" --arg r "$result" \
				'.event == $v and .task_id == "T-01" and .from == $s and .to == $r' \
				<<<"$(tail -n 1 "$STATE/history.jsonl")" >/dev/null || { echo "$verb on $s: not logged" >&2; return 1; }
		else
			[ "$status" -eq 65 ] || { echo "$verb on $s exited $status, want 65" >&2; return 1; }
			[ -z "$output" ] || { echo "$verb on $s printed <$output>" >&2; return 1; }
			assert_contains "$stderr" "T-01 is $s" || return 1
			assert_contains "$stderr" "'$verb'" || return 1
			store_dump | cmp - "$BATS_TEST_TMPDIR/before" || { echo "$verb on $s changed the journal" >&2; return 1; }
			cmp "$STATE/history.jsonl" "$BATS_TEST_TMPDIR/history.before" ||
				{ echo "$verb on $s was logged" >&2; return 1; }
		fi
	done
}

# --- the verbs on every state ------------------------------------------------------------------

@test "done: allowed on pending, claimed and running; refused (65, naming the state) on the rest" {
	verb_matrix done "pending claimed running" done
}

@test "fail: allowed on claimed and running; refused on pending, done, blocked, cancelled, skipped" {
	verb_matrix fail "claimed running" pending
}

@test "retry: allowed on pending, blocked, cancelled and skipped; refused on claimed, running, done" {
	verb_matrix retry "pending blocked cancelled skipped" pending
}

@test "cancel: allowed on pending, claimed, running and blocked; refused on done, cancelled, skipped" {
	verb_matrix cancel "pending claimed running blocked" cancelled
}

@test "skip: allowed on pending, claimed and blocked; refused on running, done, cancelled, skipped" {
	verb_matrix skip "pending claimed blocked" skipped
}

@test "a verb on a missing or malformed id exits 65; without an id 64" {
	gov add "task" >/dev/null
	for verb in done fail retry cancel skip; do
		run --separate-stderr gov "$verb" T-09
		[ "$status" -eq 65 ] || { echo "$verb T-09 exited $status" >&2; false; }
		assert_contains "$stderr" "no task T-09"
		run --separate-stderr gov "$verb" nonsense
		[ "$status" -eq 65 ]
		run --separate-stderr gov "$verb"
		[ "$status" -eq 64 ]
	done
	run gov list --json
	jqt '.[0].status == "pending"'
}

# --- fail, backoff, blocked, retry --------------------------------------------------------------

@test "fail --reason: the reason is kept; the task waits out a 2..4 s backoff, then is READY again" {
	conf '[policy]' 'backoff_min = 2s' 'backoff_max = 4s'
	gov add "flaky" >/dev/null
	check
	assert_decision READY
	gov pop >/dev/null
	local before after eligible es
	before=$(date +%s)
	run --separate-stderr gov fail T-01 --reason "exit status 3"
	after=$(date +%s)
	[ "$status" -eq 0 ]
	assert_json_line
	jqt '.id == "T-01" and .status == "pending" and .retries == 1'
	eligible=$(jget .eligible_at)
	es=$(epoch "$eligible")
	[ "$es" -ge $((before + 2)) ] || { echo "eligible_at $eligible is less than 2 s ahead" >&2; false; }
	[ "$es" -le $((after + 4)) ] || { echo "eligible_at $eligible is more than 4 s ahead" >&2; false; }

	run gov show --json T-01
	jqt '.status == "pending" and .retries == 1 and .last_error == "exit status 3"'
	jqt ".eligible_at == \"$eligible\""
	jqt '.attempts | length == 1 and .[0].outcome == "failed" and .[0].error == "exit status 3"'
	jqt '.attempts[0] | (.started_at | type == "string") and (.ended_at | type == "string")'
	jqt '.lease_expires_at == null and .claimed_at == null and .finished_at == null'

	# waiting: NO_TASKS, with when it will be eligible
	check
	assert_decision NO_TASKS
	jqt ".pending_count == 0 and .waiting_count == 1 and .next_eligible_at == \"$eligible\""
	run gov list --json
	jqt '.[0].status == "pending"'

	# once it has passed (bounded: at most 4 s from the fail, 7 s allowed), READY again
	wait_until 70 ready_now
	run cat "$BATS_TEST_TMPDIR/ready.out"
	assert_decision READY
	jqt '.recommendation.task_id == "T-01" and .task.retries == 1'
	[ "$(epoch "$(jget .decided_at)")" -ge "$es" ] || { echo "READY before eligible_at" >&2; false; }
}

@test "max_retries = 2: two failures block the task; every attempt has its times, outcome and error" {
	conf '[policy]' 'max_retries = 2' 'backoff_min = 0' 'backoff_max = 0'
	gov add "doomed" >/dev/null
	# attempt 1: fails after pop (running)
	check
	assert_decision READY
	gov pop >/dev/null
	run gov fail T-01 --reason "first error"
	jqt '.status == "pending" and .retries == 1'
	# attempt 2: fails while only claimed (it never started)
	check
	assert_decision READY
	jqt '.recommendation.task_id == "T-01" and .task.retries == 1'
	run gov fail T-01 --reason "second error"
	assert_json_line
	jqt '.status == "blocked" and .retries == 2'
	jqt '.blocked_reason | test("second error") and test("governor retry T-01")'
	run gov show --json T-01
	jqt '.status == "blocked" and .retries == 2 and .max_retries == 2 and .last_error == "second error"'
	jqt '.blocked_reason | test("second error") and test("governor retry T-01") and test("2 of 2")'
	jqt '.finished_at | type == "string"'
	jqt '.eligible_at == null'
	jqt '.attempts | length == 2 and all(.[]; (.started_at | type == "string") and (.ended_at | type == "string") and .outcome == "failed" and (.error | type == "string"))'
	jqt '[.attempts[].error] == ["first error", "second error"]'
	# the text form lists both attempts
	run gov show T-01
	[ "$status" -eq 0 ]
	assert_contains "$output" "failed: first error"
	assert_contains "$output" "failed: second error"
	# a blocked task is not handed out
	run --separate-stderr gov check --exit-code --snapshot "$CALM"
	[ "$status" -eq 3 ]
	assert_decision NO_TASKS
	jqt '.waiting_count == 0'
	# retry: pending again, retries 0, the reason gone, READY at once
	run gov retry T-01
	jqt '.status == "pending" and .retries == 0'
	run gov show --json T-01
	jqt '.status == "pending" and .retries == 0 and .blocked_reason == null and .finished_at == null and .eligible_at == null'
	jqt '.attempts | length == 2'
	check
	assert_decision READY
	jqt '.recommendation.task_id == "T-01" and .task.retries == 0'
}

@test "retry of a waiting task makes it eligible at once" {
	conf '[policy]' 'backoff_min = 1h' 'backoff_max = 2h'
	gov add "slow to come back" >/dev/null
	check
	gov fail T-01 >/dev/null
	check
	assert_decision NO_TASKS
	jqt '.waiting_count == 1'
	local next
	next=$(jget .next_eligible_at)
	[ "$(epoch "$next")" -ge $(($(date +%s) + 3590)) ]
	run gov retry T-01
	jqt '.status == "pending" and .retries == 0 and (has("eligible_at") | not)'
	check
	assert_decision READY
}

@test "cancel of a running task ends its attempt and frees the lane" {
	gov add "long job" >/dev/null
	gov add "next job" >/dev/null
	check
	assert_decision READY
	gov pop >/dev/null
	check
	assert_decision DEFERRED concurrency_limit
	run gov cancel T-01 --reason "not needed any more"
	assert_json_line
	jqt '.id == "T-01" and .status == "cancelled"'
	run gov show --json T-01
	jqt '.status == "cancelled" and (.finished_at | type == "string") and .lease_expires_at == null'
	jqt '.attempts | length == 1 and .[0].outcome == "cancelled" and .[0].error == "not needed any more" and (.[0].ended_at | type == "string")'
	# not in the default list, in --all
	run gov list --json
	jqt '[.[].id] == ["T-02"]'
	run gov list --all --json
	jqt '[.[].id] == ["T-01","T-02"]'
	check
	assert_decision READY
	jqt '.recommendation.task_id == "T-02" and .in_flight == 0'
}

@test "skip: a skipped task is never handed out; retry brings it back" {
	gov add "skip me" >/dev/null
	run gov skip T-01
	jqt '.status == "skipped"'
	run gov show --json T-01
	jqt '.status == "skipped" and (.finished_at | type == "string") and .attempts == []'
	check
	assert_decision NO_TASKS
	jqt '.pending_count == 0 and .waiting_count == 0'
	gov retry T-01 >/dev/null
	check
	assert_decision READY
	jqt '.recommendation.task_id == "T-01"'
}

# --- dependencies -------------------------------------------------------------------------------

@test "add --after: the dependant waits until its dependency is done" {
	conf '[policy]' 'max_concurrent = 2'
	gov add "first" >/dev/null
	run gov add --after T-01 --priority high "second"
	[ "$output" = "T-02" ]
	run gov show --json T-02
	jqt '.after == "T-01" and .status == "pending"'
	# T-02 has the higher priority, but only T-01 can run
	check
	assert_decision READY
	jqt '.recommendation.task_id == "T-01"'
	# T-01 claimed, room for two: still not T-02
	check
	assert_decision NO_TASKS
	jqt '.pending_count == 0 and .waiting_count == 1 and .next_eligible_at == null'
	gov pop >/dev/null
	check
	assert_decision NO_TASKS
	run gov list --json
	jqt '[.[].status] == ["running","pending"]'
	gov done T-01 >/dev/null
	check
	assert_decision READY
	jqt '.recommendation.task_id == "T-02"'
}

@test "a dependency cancelled: its dependants (a chain) are blocked in the same command" {
	gov add "first" >/dev/null
	gov add --after T-01 "second" >/dev/null
	gov add --after T-02 "third" >/dev/null
	gov add "unrelated" >/dev/null
	run gov cancel T-01
	jqt '.status == "cancelled"'
	# committed by the cancel itself, not only shown by a reader
	[ "$(committed_status T-02)" = blocked ]
	[ "$(committed_status T-03)" = blocked ]
	run gov list --json
	jqt '[.[] | [.id, .status]] == [["T-02","blocked"],["T-03","blocked"],["T-04","pending"]]'
	jqt '.[0].blocked_reason == "depends on T-01, which is cancelled"'
	jqt '.[1].blocked_reason == "depends on T-02, which is blocked"'
	jqt '.[0].finished_at | type == "string"'
	check
	assert_decision READY
	jqt '.recommendation.task_id == "T-04"'
}

@test "a dependency skipped or blocked by failures blocks its dependant" {
	conf '[policy]' 'backoff_min = 0'
	gov add "a" >/dev/null
	gov add --after T-01 "after a" >/dev/null
	gov skip T-01 >/dev/null
	run gov show --json T-02
	jqt '.status == "blocked" and .blocked_reason == "depends on T-01, which is skipped"'
	gov add --max-retries 1 "b" >/dev/null
	gov add --after T-03 "after b" >/dev/null
	check
	assert_decision READY
	jqt '.recommendation.task_id == "T-03"'
	run gov fail T-03 --reason "no luck"
	jqt '.status == "blocked"'
	[ "$(committed_status T-04)" = blocked ]
	run gov show --json T-04
	jqt '.blocked_reason == "depends on T-03, which is blocked"'
	# retrying the dependant while its dependency still cannot finish: blocked again, and the
	# verb says so (what it prints and logs is what was recorded)
	run gov retry T-04
	[ "$status" -eq 0 ]
	jqt '.id == "T-04" and .status == "blocked" and .blocked_reason == "depends on T-03, which is blocked"'
	[ "$(committed_status T-04)" = blocked ]
	run gov log -n 1 --json
	jqt '.event == "retry" and .task_id == "T-04" and .from == "blocked" and .to == "blocked"'
	# retry the dependency first, then the dependant: both can run in order
	gov retry T-03 >/dev/null
	gov retry T-04 >/dev/null
	run gov list --json
	jqt '[.[] | select(.id == "T-03" or .id == "T-04") | .status] == ["pending","pending"]'
	check
	jqt '.recommendation.task_id == "T-03"'
}

@test "a dependency blocked by a lapsed lease: readers already show the dependant blocked" {
	conf '[policy]' 'lease = 1s'
	gov add --max-retries 1 "a" >/dev/null
	gov add --after T-01 "b" >/dev/null
	check
	assert_decision READY
	gov pop >/dev/null
	# bounded: the lease lapses within about 1 s; wait at most 3 s
	wait_until 30 bash -c '"$GOVERNOR" -d "$STATE" -c "$CONF" list --json | jq -e ".[0].status == \"blocked\"" >/dev/null'
	store_dump >"$BATS_TEST_TMPDIR/before"
	run gov list --json
	jqt '[.[] | [.id, .status]] == [["T-01","blocked"],["T-02","blocked"]]'
	jqt '.[1].blocked_reason == "depends on T-01, which is blocked"'
	run gov show --json T-02
	jqt '.status == "blocked" and .blocked_reason == "depends on T-01, which is blocked"'
	run gov stats --json
	jqt '.tasks.blocked == 2 and .tasks.pending == 0'
	# readers write nothing; the next full commit records both
	store_dump | cmp - "$BATS_TEST_TMPDIR/before"
	gov add "c" >/dev/null
	check
	assert_decision READY
	jqt '.recommendation.task_id == "T-03"'
	[ "$(committed_status T-01)" = blocked ]
	[ "$(committed_status T-02)" = blocked ]
}

@test "add --after a missing, malformed, cancelled or blocked task exits 65 and queues nothing" {
	gov add "one" >/dev/null
	run --separate-stderr gov add --after T-07 "x"
	[ "$status" -eq 65 ]
	[ -z "$output" ]
	assert_contains "$stderr" "T-07"
	run --separate-stderr gov add --after banana "x"
	[ "$status" -eq 65 ]
	gov cancel T-01 >/dev/null
	run --separate-stderr gov add --after T-01 "x"
	[ "$status" -eq 65 ]
	assert_contains "$stderr" "cancelled"
	gov add --max-retries 1 "two" >/dev/null
	check
	gov fail T-02 >/dev/null
	run --separate-stderr gov add --after T-02 "x"
	[ "$status" -eq 65 ]
	assert_contains "$stderr" "blocked"
	run gov list --all --json
	jqt 'length == 2'
	# after a done task: runs at once; ids continue where they were
	gov add "three" >/dev/null
	gov done T-03 >/dev/null
	run gov add --after T-03 "after three"
	[ "$output" = "T-04" ]
	check
	assert_decision READY
	jqt '.recommendation.task_id == "T-04"'
}

# --- --at and --delay ---------------------------------------------------------------------------

@test "add --at: a time in the past is eligible at once; in an hour it waits with next_eligible_at" {
	local past future
	past=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
	future=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
	gov add --at "$future" "later" >/dev/null
	check
	assert_decision NO_TASKS
	jqt ".pending_count == 0 and .waiting_count == 1 and .next_eligible_at == \"$future\""
	run gov show --json T-01
	jqt ".eligible_at == \"$future\""
	gov add --at "$past" "overdue" >/dev/null
	check
	assert_decision READY
	jqt '.recommendation.task_id == "T-02" and .waiting_count == 1'
	# an offset time is the same instant
	gov add --at "$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%S+00:00)" "offset" >/dev/null
	run gov show --json T-03
	jqt '.eligible_at | endswith("Z")'
}

@test "add --delay 2s: not READY at once, READY after about 2 s" {
	local t0
	t0=$(date +%s)
	gov add --delay 2s "soon" >/dev/null
	check
	assert_decision NO_TASKS
	jqt '.waiting_count == 1'
	local next
	next=$(epoch "$(jget .next_eligible_at)")
	[ "$next" -ge $((t0 + 2)) ] && [ "$next" -le $((t0 + 5)) ] || { echo "next_eligible_at $next, t0 $t0" >&2; false; }
	wait_until 50 ready_now
	run cat "$BATS_TEST_TMPDIR/ready.out"
	assert_decision READY
	[ "$(epoch "$(jget .decided_at)")" -ge "$next" ]
}

@test "add with --at and --delay together, or a bad --at or --delay, exits 65 and queues nothing" {
	local future
	future=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
	for args in "--at $future --delay 5s" "--delay 5s --at $future" "--at tomorrow" \
		"--at 2026-13-01T00:00:00Z" "--at 2026-11-25" "--delay soon" "--delay -5s" "--delay 2x"; do
		run --separate-stderr gov add $args "task"
		[ "$status" -eq 65 ] || { echo "add $args exited $status" >&2; false; }
		[ -z "$output" ] || { echo "add $args printed $output" >&2; false; }
	done
	[ ! -e "$QF" ] || [ "$(gov list --all --json | jq length)" -eq 0 ]
	run gov add "task"
	[ "$output" = "T-01" ]
}

# --- archive ------------------------------------------------------------------------------------

@test "archive: --older-than 1d keeps a just-finished task, --older-than 0 moves it; ids go on" {
	file_store_only
	gov add "finished" >/dev/null
	gov add "still pending" >/dev/null
	gov done T-01 >/dev/null
	local month
	month=$(date -u -d "$(gov show --json T-01 | jq -r .finished_at)" +%Y-%m)
	run gov archive --older-than 1d
	[ "$status" -eq 0 ]
	jqt '.archived == 0 and .archived_count == 0'
	[ ! -e "$STATE/archive/$month.jsonl" ]
	run gov list --all --json
	jqt '[.[].id] == ["T-01","T-02"]'

	run gov archive --older-than 0
	[ "$status" -eq 0 ]
	assert_json_line
	jqt '.archived == 1 and .archived_count == 1'
	local af="$STATE/archive/$month.jsonl"
	[ -f "$af" ]
	[ "$(stat -c %a "$af")" = 600 ]
	[ "$(wc -l <"$af")" -eq 1 ]
	jq -e '.id == "T-01" and .status == "done" and .prompt == "finished"' "$af" >/dev/null
	run gov list --all --json
	jqt '[.[].id] == ["T-02"]'
	run gov stats --json
	jqt '.tasks.archived == 1 and .tasks.done == 0 and .tasks.pending == 1'
	jq -s -e '.[0].archived_count == 1 and .[0].last_id == 2' "$QF" >/dev/null
	run --separate-stderr gov show T-01
	[ "$status" -eq 65 ]
	assert_contains "$stderr" "archived"
	run --separate-stderr gov retry T-01
	[ "$status" -eq 65 ]
	assert_contains "$stderr" "archived"
	run gov add "next"
	[ "$output" = "T-03" ]
	# nothing more to move; the count stays
	run gov archive --older-than 0
	jqt '.archived == 0 and .archived_count == 1'
	run gov log -n 5 --json
	[[ "$output" == *'"event":"archive"'* ]]
}

@test "archiving on commit: a task finished long ago leaves with archive_days = 7, stays with 0" {
	file_store_only
	local HEADER='{"version":2,"last_id":2,"archived_count":0}'
	replace_journal "$(printf '%s\n%s\n%s' "$HEADER" \
		"$(task_line T-01 '{"status":"done","finished_at":"2020-01-02T03:04:05Z"}')" \
		"$(task_line T-02)")"
	cp "$CONF" "$BATS_TEST_TMPDIR/default.conf"
	conf '[policy]' 'archive_days = 0'
	gov add "three" >/dev/null
	gov done T-03 >/dev/null
	gov cancel T-02 >/dev/null
	[ ! -e "$STATE/archive" ]
	run gov list --all --json
	jqt '[.[].id] == ["T-01","T-02","T-03"]'
	# the default, 7 days: the next full commit moves T-01, and only it
	cp "$BATS_TEST_TMPDIR/default.conf" "$CONF"
	gov add "four" >/dev/null
	gov skip T-04 >/dev/null
	[ -f "$STATE/archive/2020-01.jsonl" ]
	jq -s -e 'length == 1 and .[0].id == "T-01"' "$STATE/archive/2020-01.jsonl" >/dev/null
	run gov list --all --json
	jqt '[.[].id] == ["T-02","T-03","T-04"]'
	run gov stats --json
	jqt '.tasks.archived == 1'
	run gov add "five"
	[ "$output" = "T-05" ]
}

# --- history: log and stats ----------------------------------------------------------------------

@test "log: every decision and transition, -n N lines, --json objects with at and event" {
	conf '[policy]' 'backoff_min = 0'
	gov add "a" >/dev/null
	check
	gov pop >/dev/null
	gov done T-01 >/dev/null
	gov add "b" >/dev/null
	check
	gov fail T-02 --reason "oops" >/dev/null
	gov retry T-02 >/dev/null
	gov cancel T-02 >/dev/null
	gov add "c" >/dev/null
	gov skip T-03 >/dev/null
	run gov log -n 3
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	[[ "${lines[2]}" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z\ +skip ]]
	run gov log -n 3 --json
	[ "${#lines[@]}" -eq 3 ]
	run gov log -n 1000 --json
	local n
	n=$(wc -l <"$STATE/history.jsonl")
	[ "${#lines[@]}" -eq "$n" ]
	jq -s -e 'all(.[]; type == "object" and (.at | type == "string") and (.event | type == "string"))' <<<"$output" >/dev/null
	jq -s -e '[.[].event] | unique | . as $e | ["add","decision","pop","done","fail","retry","cancel","skip"] | all(. as $x | $e | index($x))' <<<"$output" >/dev/null
	jq -s -e '[.[] | select(.event == "fail")][0] | .task_id == "T-02" and .reason == "oops" and .from == "claimed" and .to == "pending"' <<<"$output" >/dev/null
	jq -s -e '[.[] | select(.event == "decision")] | length == 2 and all(.[]; .status == "READY")' <<<"$output" >/dev/null
	# the default is the last 20
	run gov log
	[ "${#lines[@]}" -eq "$(( n < 20 ? n : 20 ))" ]
	run --separate-stderr gov log -n 0
	[ "$status" -eq 65 ]
}

@test "a dry run logs nothing" {
	gov add "a" >/dev/null
	check -n
	assert_decision READY
	gov -n done T-01 >/dev/null
	run gov log --json
	[ "$(grep -c '"event":"decision"' <<<"$output")" -eq 0 ]
	[ "$(grep -c '"event":"done"' <<<"$output")" -eq 0 ]
	run gov list --json
	jqt '.[0].status == "pending"'
}

@test "stats --json: tasks per state, done/failed, success rate, run times, deferrals by reason" {
	conf '[policy]' 'max_concurrent = 0'
	gov add "a" >/dev/null
	check
	assert_decision DEFERRED draining
	check
	assert_decision DEFERRED draining
	run gov stats --json
	jqt '.done == 0 and .failed == 0 and .success_rate == null and .run_ms_median == null and .run_ms_p95 == null'
	jqt '.deferrals == {"draining": 2} and .decisions.DEFERRED == 2'
	export GOVERNOR_POLICY_MAX_CONCURRENT=1
	check
	assert_decision READY
	gov pop >/dev/null
	sleep 1.1
	gov done T-01 >/dev/null
	gov add "b" >/dev/null
	gov add "c" >/dev/null
	check
	assert_decision READY
	gov fail T-02 >/dev/null
	gov skip T-03 >/dev/null
	unset GOVERNOR_POLICY_MAX_CONCURRENT
	run gov stats --json
	[ "$status" -eq 0 ]
	assert_json_line
	jqt '.tasks == {"pending":1,"claimed":0,"running":0,"done":1,"blocked":0,"cancelled":0,"skipped":1,"archived":0}'
	jqt '.done == 1 and .failed == 1 and .success_rate == 0.5'
	jqt '(.run_ms_median | type == "number") and .run_ms_median >= 1000 and .run_ms_p95 >= .run_ms_median'
	jqt '.deferrals.draining == 2 and .decisions.READY == 2 and .decisions.DEFERRED == 2'
	jqt '.since | test("Z$")'
	run gov stats
	[ "$status" -eq 0 ]
	assert_contains "$output" "1 done, 1 failed"
	assert_contains "$output" "draining"
	# a window that ends before any of it: no reports counted, tasks still counted
	run gov stats --json --window 1ms
	jqt '.tasks.done == 1 and .done == 0 and .failed == 0 and .deferrals == {}'
}

# --- budgets ---------------------------------------------------------------------------------------

@test "max_dispatch_per_hour = 1: the second hand-out is DEFERRED budget_exhausted until an hour after the first" {
	conf '[policy]' 'max_concurrent = 2' 'max_dispatch_per_hour = 1'
	gov add "a" >/dev/null
	gov add "b" >/dev/null
	# dry runs are not logged, so they spend nothing
	check -n
	assert_decision READY
	check -n
	assert_decision READY
	check
	assert_decision READY
	jqt '.recommendation.task_id == "T-01"'
	local first
	first=$(epoch "$(jget .decided_at)")
	check
	assert_decision DEFERRED budget_exhausted
	local retry
	retry=$(epoch "$(jget .retry_after)")
	# the hand-out is logged just after the decision: within a few seconds of it
	[ "$retry" -ge $((first + 3600)) ] && [ "$retry" -le $((first + 3600 + 5)) ] ||
		{ echo "retry_after $retry, first hand-out $first" >&2; false; }
	jqt '.detail | test("limit 1")'
	run gov list --json
	jqt '[.[].status] == ["claimed","pending"]'
	run --separate-stderr gov check --exit-code --snapshot "$CALM"
	[ "$status" -eq 75 ]
	# 0 = off
	GOVERNOR_POLICY_MAX_DISPATCH_PER_HOUR=0 run gov check --snapshot "$CALM"
	assert_decision READY
	jqt '.recommendation.task_id == "T-02"'
}

@test "max_dispatch_per_day = 1: budget_exhausted with retry_after a day after the hand-out" {
	conf '[policy]' 'max_concurrent = 3' 'max_dispatch_per_day = 1'
	gov add "a" >/dev/null
	gov add "b" >/dev/null
	check
	assert_decision READY
	local first
	first=$(epoch "$(jget .decided_at)")
	check
	assert_decision DEFERRED budget_exhausted
	local retry
	retry=$(epoch "$(jget .retry_after)")
	[ "$retry" -ge $((first + 86400)) ] && [ "$retry" -le $((first + 86400 + 5)) ]
	# READY hand-outs older than the window do not count
	local old
	old=$(date -u -d '-25 hours' +%Y-%m-%dT%H:%M:%SZ)
	sed -i "s/\"at\":\"[^\"]*\"/\"at\":\"$old\"/" "$STATE/history.jsonl"
	check
	assert_decision READY
}

# --- active hours ----------------------------------------------------------------------------------

@test "active_hours: outside every range DEFERRED outside_hours with retry_after; inside READY (local time)" {
	# A zone far from UTC: the ranges are local time, not UTC.
	export TZ='GOV-05:30'
	gov add "night job" >/dev/null
	local start end
	start=$(date -d '+12 hours' +%H:%M)
	end=$(date -d '+12 hours 1 minute' +%H:%M)
	conf '[policy]' "active_hours = $start-$end"
	check
	assert_decision DEFERRED outside_hours
	local retry decided
	retry=$(epoch "$(jget .retry_after)")
	decided=$(epoch "$(jget .decided_at)")
	# the next start is 12 h away (less the seconds into this minute), at the minute's start
	[ $((retry - decided)) -ge $((12 * 3600 - 180)) ] && [ $((retry - decided)) -le $((12 * 3600 + 1)) ] ||
		{ echo "retry_after $retry, decided $decided" >&2; false; }
	[ "$(date -d "@$retry" +%H:%M:%S)" = "$start:00" ]
	run gov list --json
	jqt '.[0].status == "pending"'
	# decided without probing: no readings
	run --separate-stderr gov check
	assert_decision DEFERRED outside_hours
	jqt 'has("readings") | not'
	# a range around now, and another that does not hold now: READY
	: >"$CONF"
	conf '[policy]' "active_hours = $start-$end, $(date -d '-1 hour' +%H:%M)-$(date -d '+1 hour' +%H:%M)"
	check
	assert_decision READY
	unset TZ
}

@test "active_hours: 00:00-24:00 is always; ranges may wrap midnight" {
	conf '[policy]' 'active_hours = 00:00-24:00'
	gov add "a" >/dev/null
	check
	assert_decision READY
	: >"$CONF"
	# a wrapping range that holds now: from an hour ago to an hour ago minus one minute
	conf '[policy]' "active_hours = $(date -d '-1 hour' +%H:%M)-$(date -d '-1 hour -1 minute' +%H:%M)"
	gov add "b" >/dev/null
	gov done T-01 >/dev/null
	check
	assert_decision READY
	jqt '.recommendation.task_id == "T-02"'
}

@test "bad active_hours, archive_days and budget values exit 78 naming file and line" {
	for v in "25:00-26:00" "1-2" "07:00-07:00" "07:00" "07:00-08:00,, 9" "24:00-01:00" "07:60-08:00" "7:00-8:00"; do
		: >"$CONF"
		conf '[policy]' "active_hours = $v"
		run --separate-stderr gov list
		[ "$status" -eq 78 ] || { echo "active_hours = $v: exit $status" >&2; false; }
		assert_contains "$stderr" "$CONF:2"
		assert_contains "$stderr" "active_hours"
	done
	for kv in "archive_days = -1" "archive_days = soon" "max_dispatch_per_hour = -1" \
		"max_dispatch_per_day = 1.5"; do
		: >"$CONF"
		conf '# budgets' '[policy]' "$kv"
		run --separate-stderr gov check
		[ "$status" -eq 78 ] || { echo "$kv: exit $status" >&2; false; }
		assert_contains "$stderr" "$CONF:3"
	done
	: >"$CONF"
	conf '[policy]' 'active_hours = 01:00-07:00, 13:00-14:00,22:00-24:00' 'archive_days = 0' \
		'max_dispatch_per_hour = 5' 'max_dispatch_per_day = 20'
	run --separate-stderr gov config --check
	[ "$status" -eq 0 ]
}
