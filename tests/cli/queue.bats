#!/usr/bin/env bats
# queue.bats: the on-disk queue: corruption is an error that changes nothing, atomic commits,
# modes and ownership, claims and leases that lapse.

load helpers

HEADER='{"version":2,"last_id":0,"archived_count":0}'

# Every command refuses a corrupt queue and leaves the journal byte-identical.
assert_corrupt_refused() {
	store_dump >"$BATS_TEST_TMPDIR/orig"
	rm -f "$BATS_TEST_TMPDIR/orig.bak"
	[ ! -e "$QF.bak" ] || cp "$QF.bak" "$BATS_TEST_TMPDIR/orig.bak"
	calm_snapshot
	printf '[{"prompt":"legacy"}]' >"$BATS_TEST_TMPDIR/legacy.json"
	for args in "check" "check --snapshot $CALM" "check --exit-code" "-n check --snapshot $CALM"; do
		run --separate-stderr gov $args
		[ "$status" -eq 65 ] || { echo "$args exited $status" >&2; return 1; }
		assert_json_line || return 1
		jqt '.status == "ERROR" and .error.code == "queue_corrupt"' || return 1
		jqt '.error.message | test("corrupt|version")' || return 1
		assert_contains "$stderr" "governor: " || return 1
	done
	for args in "add new-task" "pop" "pop T-01" "list" "list --json" "status" "show T-01" \
		"import $BATS_TEST_TMPDIR/legacy.json"; do
		run --separate-stderr gov $args
		[ "$status" -eq 65 ] || { echo "$args exited $status" >&2; return 1; }
		[ -z "$output" ] || { echo "$args printed <$output>" >&2; return 1; }
		assert_contains "$stderr" "queue.jsonl" || return 1
	done
	store_dump | cmp - "$BATS_TEST_TMPDIR/orig" || return 1
	if [ -e "$BATS_TEST_TMPDIR/orig.bak" ]; then
		cmp "$QF.bak" "$BATS_TEST_TMPDIR/orig.bak" || return 1
	else
		[ ! -e "$QF.bak" ] || { echo "a .bak appeared" >&2; return 1; }
	fi
	local left
	left=$(find "$STATE" -name '*.tmp*')
	[ -z "$left" ] || { echo "left behind: $left" >&2; return 1; }
}

@test "corrupt queue: garbage" {
	file_store_only
	gov add "one" >/dev/null
	replace_journal 'this is not json'
	assert_corrupt_refused
	run --separate-stderr gov check
	jqt '.error.message | test("line 1")'
}

@test "corrupt queue: an empty journal file" {
	file_store_only
	gov add "one" >/dev/null
	: >"$QF"
	assert_corrupt_refused
}

@test "corrupt queue: a truncated JSON line" {
	file_store_only
	gov add "one" >/dev/null
	gov add "two" >/dev/null
	local l2 l3
	l2=$(sed -n 2p "$QF")
	l3=$(sed -n 3p "$QF")
	replace_journal "$(printf '%s\n%s\n%s' "$HEADER" "${l2:0:$((${#l2} / 2))}" "$l3")"
	assert_corrupt_refused
	run --separate-stderr gov check
	jqt '.error.message | test("line 2")'
	# a truncated header too
	replace_journal '{"version":2,"last_'
	assert_corrupt_refused
}

@test "corrupt queue: wrong types" {
	file_store_only
	for extra in '{"priority":"x"}' '{"status":"sleeping"}' '{"added_at":"yesterday"}' \
		'{"prompt":7}' '{"metadata":[1]}' '{"attempts":{}}' '{"retries":-1}' '{"id":"X-1"}'; do
		replace_journal "$(printf '%s\n%s\n%s' "$HEADER" "$(task_line T-01)" "$(task_line T-02 "$extra")")"
		assert_corrupt_refused || { echo "with $extra" >&2; false; }
	done
	replace_journal "$(printf '%s\n%s' '{"version":2,"last_id":"1"}' "$(task_line T-01)")"
	assert_corrupt_refused
	replace_journal "$(printf '%s\n%s' '{"version":2,"last_id":0}' '[1,2,3]')"
	assert_corrupt_refused
}

@test "corrupt queue: an unknown version" {
	file_store_only
	replace_journal "$(printf '%s\n%s' '{"version":3,"last_id":1,"archived_count":0}' "$(task_line T-01)")"
	assert_corrupt_refused
	run --separate-stderr gov check
	jqt '.error.message | test("version 3")'
	replace_journal "$(printf '%s\n%s' '{"last_id":1}' "$(task_line T-01)")"
	assert_corrupt_refused
}

@test "corrupt queue: a legacy array or a version 1 document is not a journal" {
	file_store_only
	replace_journal '[{"prompt":"a","priority":2,"added_at":"2026-02-02T03:32:53Z","metadata":{"source":"manual","retry_count":0}}]'
	assert_corrupt_refused
	replace_journal "{\"version\":1,\"last_id\":1,\"archived_count\":0,\"tasks\":[$(task_line T-01)]}"
	assert_corrupt_refused
	run --separate-stderr gov check
	jqt '.error.message | test("version 1")'
}

@test "a line corrupted in place, under a valid index, is still found by every reader" {
	file_store_only
	calm_snapshot
	gov add "one" >/dev/null       # creates the journal and an index that covers T-01
	gov add "two" >/dev/null
	[ -f "$STATE/queue.idx" ]
	# overwrite "prompt" of T-01 in place: same inode, same size
	local off
	off=$(grep -bo '"prompt"' "$QF" | head -n 1 | cut -d: -f1)
	printf '"pXXXXX"' | dd of="$QF" bs=1 seek="$off" conv=notrunc 2>/dev/null
	store_dump >"$BATS_TEST_TMPDIR/orig"
	for args in "list --json" "show T-01" "check --snapshot $CALM" "pop T-01"; do
		run --separate-stderr gov $args
		[ "$status" -eq 65 ] || { echo "$args exited $status" >&2; false; }
		assert_contains "$stderr" "corrupt"
	done
	run --separate-stderr gov list
	[ "$status" -eq 65 ]
	store_dump | cmp - "$BATS_TEST_TMPDIR/orig"
}

@test "a line corrupted in place, under a valid index, stops writers too" {
	skip "known limitation (docs/store.md, 'Limits'): add/import read only the index header, so a line edited in place under a valid index is found by the next reader of that line (checksum), not by add"
	gov add "one" >/dev/null
	gov add "two" >/dev/null
	local off
	off=$(grep -bo '"prompt"' "$QF" | head -n 1 | cut -d: -f1)
	printf '"pXXXXX"' | dd of="$QF" bs=1 seek="$off" conv=notrunc 2>/dev/null
	store_dump >"$BATS_TEST_TMPDIR/orig"
	run --separate-stderr gov add "three"
	[ "$status" -eq 65 ]
	store_dump | cmp - "$BATS_TEST_TMPDIR/orig"
}

@test "a later line of the same task supersedes the earlier one" {
	file_store_only
	replace_journal "$(printf '%s\n%s\n%s\n%s' "$HEADER" "$(task_line T-01)" "$(task_line T-02)" \
		"$(task_line T-01 '{"status":"blocked","retries":3,"blocked_reason":"by hand"}')")"
	run --separate-stderr gov list --json
	[ "$status" -eq 0 ]
	jqt '[.[].id] == ["T-01","T-02"] and [.[].status] == ["blocked","pending"]'
	jqt '.[0].blocked_reason == "by hand" and .[0].retries == 3'
	run gov check --snapshot "$(calm_snapshot; echo "$CALM")"
	assert_decision READY
	jqt '.recommendation.task_id == "T-02"'
}

@test "a task id above the header's last_id raises it; ids are never reused" {
	file_store_only
	replace_journal "$(printf '%s\n%s\n%s' '{"version":2,"last_id":1,"archived_count":0}' \
		"$(task_line T-01)" "$(task_line T-05)")"
	run --separate-stderr gov list --json
	[ "$status" -eq 0 ]
	jqt '[.[].id] == ["T-01","T-05"]'
	run gov add next
	[ "$output" = "T-06" ]
}

@test "unknown task fields are kept through a state change" {
	file_store_only
	calm_snapshot
	replace_journal "$(printf '%s\n%s' "$HEADER" "$(task_line T-01 '{"future_field":{"a":1}}')")"
	run gov list --json
	jqt 'length == 1 and .[0].future_field == {"a":1}'
	run gov check --snapshot "$CALM"
	assert_decision READY
	jqt '.status == "claimed" and .future_field == {"a":1}' "$(tail -n 1 "$QF")"
}

@test "a torn last line (a writer killed mid-append) is not part of the queue, and the next writer cuts it off" {
	file_store_only
	gov add "one" >/dev/null
	gov add "two" >/dev/null
	local torn
	torn=$(task_line T-03)
	printf '%s' "${torn:0:40}" >>"$QF"
	store_dump >"$BATS_TEST_TMPDIR/orig"
	# readers ignore it and change nothing
	run --separate-stderr gov list --json
	[ "$status" -eq 0 ]
	jqt '[.[].id] == ["T-01","T-02"]'
	store_dump | cmp - "$BATS_TEST_TMPDIR/orig"
	# a writer cuts it off before appending
	run gov add "three"
	[ "$output" = "T-03" ]
	[ "$(wc -l <"$QF")" -eq 4 ]
	jq -s -e 'length == 4 and .[3].prompt == "three"' "$QF" >/dev/null
	run gov list --json
	jqt '[.[].prompt] == ["one","two","three"]'
}

@test "commits append whole lines; every line parses" {
	file_store_only
	calm_snapshot
	gov add "one" >/dev/null
	gov add "two" >/dev/null
	gov check --snapshot "$CALM" >/dev/null
	gov pop >/dev/null
	jq -s -e 'length == 5 and .[0] == {"version":2,"last_id":0,"archived_count":0}' "$QF" >/dev/null
	jq -s -e '[.[1:][] | [.id, .status]] == [["T-01","pending"],["T-02","pending"],["T-01","claimed"],["T-01","running"]]' "$QF" >/dev/null
	[ -z "$(find "$STATE" -name '*.tmp*')" ]
}

@test "compaction keeps the previous journal in queue.jsonl.bak" {
	file_store_only
	# one task rewritten 20 times with a 60 KB prompt: 1.2 MB of mostly superseded lines
	local big i
	big=$(head -c 60000 /dev/zero | tr '\0' 'x')
	{
		echo "$HEADER"
		for i in $(seq 20); do
			task_line T-01 "{\"prompt\":\"$big\",\"updated_at\":\"2026-02-02T03:33:$(printf %02d "$i")Z\"}"
		done
	} >"$BATS_TEST_TMPDIR/journal"
	chmod 600 "$BATS_TEST_TMPDIR/journal"
	cp "$BATS_TEST_TMPDIR/journal" "$QF"
	[ "$(stat -c %s "$QF")" -gt 1048576 ]
	[ ! -e "$QF.bak" ]
	run gov add "small"
	[ "$output" = "T-02" ]
	# the .bak is the journal before compaction: the old lines and the new one
	[ -f "$QF.bak" ]
	[ "$(stat -c %a "$QF.bak")" = 600 ]
	local n
	n=$(stat -c %s "$BATS_TEST_TMPDIR/journal")
	cmp -n "$n" "$QF.bak" "$BATS_TEST_TMPDIR/journal"
	jq -s -e 'length == 22 and .[21].prompt == "small"' "$QF.bak" >/dev/null
	# the new journal: the header with last_id, and the latest line of each task
	jq -s -e 'length == 3 and .[0].version == 2 and .[0].last_id == 2' "$QF" >/dev/null
	jq -s -e '[.[1:][] | .id] == ["T-01","T-02"] and .[1].updated_at == "2026-02-02T03:33:20Z"' "$QF" >/dev/null
	[ "$(stat -c %s "$QF")" -lt 70000 ]
	[ "$(stat -c %a "$QF")" = 600 ]
	run gov list --json
	jqt '[.[].id] == ["T-01","T-02"] and (.[0].prompt | length) == 60000'
	run gov add "after"
	[ "$output" = "T-03" ]
}

@test "the state dir is created 0700 and its files 0600, whatever the umask" {
	file_store_only
	calm_snapshot
	local dir="$BATS_TEST_TMPDIR/new/nested/state"
	umask 000
	run "$GOVERNOR" -d "$dir" -c "$CONF" add "task"
	[ "$status" -eq 0 ]
	run "$GOVERNOR" -d "$dir" -c "$CONF" add "task two"
	run "$GOVERNOR" -d "$dir" -c "$CONF" check --snapshot "$CALM"
	assert_decision READY
	umask 022
	[ "$(stat -c %a "$dir")" = 700 ]
	[ "$(stat -c %a "$BATS_TEST_TMPDIR/new/nested")" = 700 ]
	for f in queue.jsonl queue.idx queue.lock lock history.jsonl; do
		[ -f "$dir/$f" ] || { echo "no $f" >&2; false; }
		[ "$(stat -c %a "$dir/$f")" = 600 ] || { echo "$f is $(stat -c %a "$dir/$f")" >&2; false; }
	done
}

@test "a symlink planted at queue.jsonl is refused and its target untouched" {
	file_store_only
	local target="$BATS_TEST_TMPDIR/target.jsonl"
	printf '%s\n%s\n' "$HEADER" "$(task_line T-01)" >"$target"
	chmod 600 "$target"
	cp "$target" "$BATS_TEST_TMPDIR/target.orig"
	ln -s "$target" "$QF"
	for args in "add evil" "list" "list --json" "check" "pop" "show T-01"; do
		run --separate-stderr gov $args
		[ "$status" -ne 0 ] || { echo "$args succeeded" >&2; false; }
		assert_contains "$stderr" "queue.jsonl"
		assert_contains "$stderr" "symbolic link"
	done
	run --separate-stderr gov check
	assert_json_line
	jqt '.status == "ERROR"'
	[ -L "$QF" ]
	cmp "$target" "$BATS_TEST_TMPDIR/target.orig"
	[ ! -e "$QF.bak" ]
}

@test "a symlink planted at queue.idx is never followed" {
	gov add "one" >/dev/null
	rm -f "$STATE/queue.idx"
	printf 'precious\n' >"$BATS_TEST_TMPDIR/precious"
	chmod 600 "$BATS_TEST_TMPDIR/precious"
	ln -s "$BATS_TEST_TMPDIR/precious" "$STATE/queue.idx"
	run gov list --json
	[ "$status" -eq 0 ]
	jqt '[.[].id] == ["T-01"]'
	gov add "two" >/dev/null
	run gov list --json
	jqt '[.[].id] == ["T-01","T-02"]'
	[ "$(cat "$BATS_TEST_TMPDIR/precious")" = precious ]
}

@test "a symlink planted at the lock file is refused" {
	calm_snapshot
	gov add "task" >/dev/null
	printf 'precious\n' >"$BATS_TEST_TMPDIR/precious"
	ln -s "$BATS_TEST_TMPDIR/precious" "$STATE/lock"
	run --separate-stderr gov check --snapshot "$CALM"
	[ "$status" -ne 0 ]
	assert_json_line
	jqt '.status == "ERROR"'
	[ "$(cat "$BATS_TEST_TMPDIR/precious")" = precious ]
	run gov list --json
	jqt '.[0].status == "pending"'
}

@test "a state dir writable by others is refused with a chmod hint" {
	calm_snapshot
	chmod 0777 "$STATE"
	for args in "add task" "list" "check" "pop" "probe"; do
		run --separate-stderr gov $args
		[ "$status" -ne 0 ] || { echo "$args succeeded" >&2; false; }
		assert_contains "$stderr" "chmod"
	done
	run --separate-stderr gov check --snapshot "$CALM"
	[ "$status" -ne 0 ]
	assert_json_line
	jqt '.status == "ERROR"'
	[ -z "$(ls -A "$STATE")" ]
	chmod 0770 "$STATE"
	run --separate-stderr gov add task
	[ "$status" -ne 0 ]
	assert_contains "$stderr" "chmod 700"
	chmod 0700 "$STATE"
	run gov add task
	[ "$status" -eq 0 ]
	[ "$output" = "T-01" ]
}

@test "a queue.jsonl writable by others is refused" {
	file_store_only
	gov add "task" >/dev/null
	chmod 0666 "$QF"
	run --separate-stderr gov list
	[ "$status" -ne 0 ]
	assert_contains "$stderr" "chmod"
}

@test "a claim that is not popped in time returns to pending" {
	calm_snapshot
	conf '[policy]' 'claim_ttl = 1s'
	gov add "lapsing" >/dev/null
	gov add "other" >/dev/null
	run gov check --snapshot "$CALM"
	assert_decision READY
	jqt '.recommendation.task_id == "T-01" and .task.retries == 0'
	# bounded: the claim lapses within about 1 s; wait at most 3 s
	wait_until 30 bash -c '"$GOVERNOR" -d "$STATE" -c "$CONF" list --json | jq -e ".[0].status == \"pending\"" >/dev/null'
	run gov list --json
	jqt '.[0] | .status == "pending" and .retries == 0 and .claimed_at == null and .claim_expires_at == null and .attempts == []'
	run gov check --snapshot "$CALM"
	assert_decision READY
	jqt '.recommendation.task_id == "T-01" and .task.retries == 0'
	# the new claim was committed (it may lapse again at once: times are kept in whole seconds)
	jqt '.id == "T-01" and .status == "claimed" and .retries == 0' "$(tail -n 1 "$QF")"
}

@test "pop without a claim exits 65" {
	run --separate-stderr gov pop
	[ "$status" -eq 65 ]
	[ -z "$output" ]
	assert_contains "$stderr" "no claimed task"
	gov add "pending one" >/dev/null
	store_dump >"$BATS_TEST_TMPDIR/q"
	run --separate-stderr gov pop
	[ "$status" -eq 65 ]
	[ -z "$output" ]
	assert_contains "$stderr" "no claimed task"
	store_dump | cmp - "$BATS_TEST_TMPDIR/q"
}

@test "pop of a pending task by id exits 65 and says pending" {
	gov add "pending one" >/dev/null
	store_dump >"$BATS_TEST_TMPDIR/q"
	run --separate-stderr gov pop T-01
	[ "$status" -eq 65 ]
	[ -z "$output" ]
	assert_contains "$stderr" "T-01 is pending"
	store_dump | cmp - "$BATS_TEST_TMPDIR/q"
	run --separate-stderr gov pop T-07
	[ "$status" -eq 65 ]
	assert_contains "$stderr" "no task T-07"
	run --separate-stderr gov pop not-an-id
	[ "$status" -eq 65 ]
}

@test "pop after READY makes the task running under a lease" {
	calm_snapshot
	gov add "first" >/dev/null
	gov add "second" >/dev/null
	run gov check --snapshot "$CALM"
	assert_decision READY
	jqt '.recommendation.task_id == "T-01"'
	run --separate-stderr gov pop
	[ "$status" -eq 0 ]
	assert_json_line
	jqt '.id == "T-01" and .status == "running" and .prompt == "first" and .pending_count == 1'
	jqt '.lease_expires_at | test("Z$")'
	run gov list
	[ "${lines[0]}" = "Task Queue — 2 total, 1 pending, 0 claimed, 1 running, 0 done, 0 blocked" ]
	[[ "${lines[2]}" =~ ^T-01\ +running\  ]]
	run gov list --json
	jqt '.[0] | .status == "running" and (.started_at | type == "string") and (.lease_expires_at | type == "string")'
	jqt '.[0].attempts | length == 1 and .[0].outcome == null and .[0].ended_at == null'
	jqt '.[0].claimed_at == null and .[0].claim_expires_at == null'
	# a running task is not popped twice
	run --separate-stderr gov pop T-01
	[ "$status" -eq 65 ]
	assert_contains "$stderr" "running"
	# and it still counts toward max_concurrent
	run gov check --snapshot "$CALM"
	assert_decision DEFERRED concurrency_limit
	jqt '.in_flight == 1'
}

@test "pop ID pops that claim; without ID the oldest claim" {
	calm_snapshot
	conf '[policy]' 'max_concurrent = 5'
	gov add a >/dev/null
	gov add b >/dev/null
	gov add c >/dev/null
	gov check --snapshot "$CALM" >/dev/null
	gov check --snapshot "$CALM" >/dev/null
	run gov pop T-02
	jqt '.id == "T-02"'
	run gov pop
	jqt '.id == "T-01"'
	run gov list --json
	jqt '[.[].status] == ["running","running","pending"]'
}

@test "a lease that lapses counts as a failed attempt and returns the task to pending" {
	calm_snapshot
	conf '[policy]' 'lease = 1s' 'backoff_min = 0'
	gov add "leased" >/dev/null
	run gov check --snapshot "$CALM"
	assert_decision READY
	run gov pop
	jqt '.id == "T-01" and .status == "running"'
	wait_until 30 bash -c '"$GOVERNOR" -d "$STATE" -c "$CONF" list --json | jq -e ".[0].status == \"pending\"" >/dev/null'
	run gov list --json
	jqt '.[0] | .status == "pending" and .retries == 1 and .last_error == "lease_expired"'
	jqt '.[0].attempts | length == 1 and .[0].outcome == "lease_expired" and (.[0].ended_at | type == "string")'
	# list only shows it; the next check commits it and hands the task out again
	run gov check --snapshot "$CALM"
	assert_decision READY
	jqt '.recommendation.task_id == "T-01" and .task.retries == 1'
	jqt '.id == "T-01" and .retries == 1 and .status == "claimed"' "$(tail -n 1 "$QF")"
}

@test "after max_retries lapsed leases the task is blocked" {
	calm_snapshot
	conf '[policy]' 'lease = 1s' 'max_retries = 2' 'backoff_min = 0'
	gov add "doomed" >/dev/null
	for round in 1 2; do
		run gov check --snapshot "$CALM"
		assert_decision READY
		jqt ".recommendation.task_id == \"T-01\" and .task.retries == $((round - 1))"
		run gov pop
		jqt '.status == "running"'
		wait_until 30 bash -c '"$GOVERNOR" -d "$STATE" -c "$CONF" list --all --json | jq -e ".[0].status != \"running\"" >/dev/null'
	done
	run gov list --json
	jqt '.[0] | .status == "blocked" and .retries == 2 and .last_error == "lease_expired"'
	jqt '.[0].blocked_reason | test("lease_expired")'
	jqt '.[0].attempts | length == 2 and all(.[]; .outcome == "lease_expired")'
	jqt '.[0].finished_at | type == "string"'
	run gov list
	[ "${lines[0]}" = "Task Queue — 1 total, 0 pending, 0 claimed, 0 running, 0 done, 1 blocked" ]
	run --separate-stderr gov check --exit-code --snapshot "$CALM"
	[ "$status" -eq 3 ]
	assert_decision NO_TASKS
}
