#!/usr/bin/env bats
# concurrency.bats: checks and adds started at the same moment never hand out a task twice,
# never exceed max_concurrent and never lose an add.

load helpers

# run_parallel N TAG CMD...: start N copies of CMD that wait for a common start signal, release
# them together, and wait (bounded) for all of them.  Copy i runs with COPY=i in its
# environment; its output goes to TAG.i.out, its exit status to TAG.i.rc.
run_parallel() {
	local n="$1" tag="$2" i
	shift 2
	local go="$BATS_TEST_TMPDIR/$tag.go"
	rm -f "$go"
	for ((i = 1; i <= n; i++)); do
		start_bg "$tag.$i" bash -c '
			for ((k = 0; k < 300; k++)); do [ -e "$1" ] && break; sleep 0.01; done
			export COPY=$2
			rcfile=$3
			shift 3
			"$@"
			echo $? >"$rcfile"' _ "$go" "$i" "$BATS_TEST_TMPDIR/$tag.$i.rc" "$@"
	done
	sleep 0.2                               # let every copy reach its start line
	touch "$go"
	for ((i = 1; i <= n; i++)); do
		wait_until 100 test -e "$BATS_TEST_TMPDIR/$tag.$i.rc" || return 1
	done
}

# All decision lines of a parallel run, one per line.
outputs() {
	cat "$BATS_TEST_TMPDIR/$1".*.out
}

# The statuses (and reasons) of a parallel run's decisions, checked to be one JSON line each.
assert_parallel_decisions() {
	local tag="$1" n="$2" i f
	for ((i = 1; i <= n; i++)); do
		f="$BATS_TEST_TMPDIR/$tag.$i.out"
		[ "$(cat "$BATS_TEST_TMPDIR/$tag.$i.rc")" -eq 0 ] || { echo "copy $i exited $(cat "$BATS_TEST_TMPDIR/$tag.$i.rc")" >&2; return 1; }
		assert_json_line "$(cat "$f")" || return 1
	done
}

@test "two checks at the same moment with max_concurrent = 1 never both say READY" {
	calm_snapshot
	for round in 1 2 3; do
		rm -rf "$STATE" && mkdir -m 700 "$STATE" && empty_store
		for i in 1 2 3 4 5; do gov add "task $i" >/dev/null; done
		run_parallel 2 "r$round" "$GOVERNOR" -d "$STATE" -c "$CONF" check --snapshot "$CALM"
		assert_parallel_decisions "r$round" 2
		run outputs "r$round"
		[ "$(jq -s '[.[] | select(.status == "READY")] | length' <<<"$output")" -eq 1 ]
		jq -s -e 'all(.[]; .status == "READY" or .reason == "lock_held" or .reason == "concurrency_limit")' <<<"$output" >/dev/null
		run gov list --json
		jqt '[.[] | select(.status == "claimed")] | length == 1'
		jqt '[.[] | select(.status == "claimed") | .id] == ["T-01"]'
	done
}

@test "eight checks at the same moment with max_concurrent = 1: one READY" {
	calm_snapshot
	for i in 1 2 3 4 5; do gov add "task $i" >/dev/null; done
	run_parallel 8 eight "$GOVERNOR" -d "$STATE" -c "$CONF" check --snapshot "$CALM"
	assert_parallel_decisions eight 8
	run outputs eight
	[ "$(jq -s '[.[] | select(.status == "READY")] | length' <<<"$output")" -eq 1 ]
	jq -s -e 'all(.[]; .status == "READY" or .reason == "lock_held" or .reason == "concurrency_limit")' <<<"$output" >/dev/null
	jq -s -e '[.[] | select(.status == "READY") | .recommendation.task_id] == ["T-01"]' <<<"$output" >/dev/null
	run gov list --json
	jqt '[.[].status] == ["claimed","pending","pending","pending","pending"]'
	# and the history logged exactly one READY
	run jq -s '[.[] | select(.event == "decision" and .status == "READY")] | length' "$STATE/history.jsonl"
	[ "$output" -eq 1 ]
}

@test "rounds of eight parallel checks with max_concurrent = 3: no task twice, never more than 3 in flight" {
	calm_snapshot
	conf '[policy]' 'max_concurrent = 3'
	for i in 1 2 3 4 5 6 7 8 9 10; do gov add "task $i" >/dev/null; done
	local round ready_ids=()
	for round in 1 2 3 4 5; do
		run_parallel 8 "m$round" "$GOVERNOR" -d "$STATE" -c "$CONF" check --snapshot "$CALM"
		assert_parallel_decisions "m$round" 8
		run outputs "m$round"
		jq -s -e 'all(.[]; .status == "READY" or .reason == "lock_held" or .reason == "concurrency_limit")' <<<"$output" >/dev/null
		ready_ids+=($(jq -r 'select(.status == "READY") | .recommendation.task_id' <<<"$output"))
		# in flight = claimed + running, never above the limit
		run gov list --json
		local inflight
		inflight=$(jq '[.[] | select(.status == "claimed" or .status == "running")] | length' <<<"$output")
		[ "$inflight" -le 3 ] || { echo "round $round: $inflight in flight" >&2; false; }
		# pop one claim between rounds: running still counts
		gov pop >/dev/null 2>&1 || true
	done
	# every round had a lock winner, so exactly three tasks were handed out, each once
	[ "${#ready_ids[@]}" -eq 3 ] || { echo "READY ids: ${ready_ids[*]}" >&2; false; }
	[ "$(printf '%s\n' "${ready_ids[@]}" | sort -u | wc -l)" -eq 3 ]
	assert_eq "$(printf '%s\n' "${ready_ids[@]}" | sort | tr '\n' ' ')" "T-01 T-02 T-03 " "READY ids"
	run gov list --json
	jqt '[.[] | select(.status == "claimed" or .status == "running") | .id] == ["T-01","T-02","T-03"]'
	jqt '[.[] | select(.status == "pending")] | length == 7'
}

@test "parallel live checks (probing) also hand out one task" {
	conf_ignore_host_load
	gov add "only" >/dev/null
	gov add "second" >/dev/null
	run_parallel 4 live "$GOVERNOR" -d "$STATE" -c "$CONF" check
	assert_parallel_decisions live 4
	run outputs live
	[ "$(jq -s '[.[] | select(.status == "READY")] | length' <<<"$output")" -eq 1 ]
	run gov list --json
	jqt '[.[].status] == ["claimed","pending"]'
}

@test "4 parallel loops x 25 adds: 100 unique ids, none lost" {
	local script='for i in $(seq 25); do "$GOVERNOR" -d "$STATE" -c "$CONF" add "w$COPY task $i" || echo FAILED; done'
	run_parallel 4 adders bash -c "$script"
	for i in 1 2 3 4; do
		[ "$(cat "$BATS_TEST_TMPDIR/adders.$i.rc")" -eq 0 ]
	done
	run outputs adders
	[ "$(grep -c FAILED <<<"$output")" -eq 0 ]
	[ "$(wc -l <<<"$output")" -eq 100 ]
	[ "$(sort -u <<<"$output" | wc -l)" -eq 100 ]
	local expected
	expected=$(for i in $(seq 100); do printf 'T-%02d\n' "$i"; done | sort)
	[ "$(sort <<<"$output")" = "$expected" ]
	run gov list --json
	jqt 'length == 100'
	jqt '[.[].id] == [range(1; 101) | if . < 10 then "T-0\(.)" else "T-\(.)" end]'
	jqt '[.[].prompt] | unique | length == 100'
	run gov add "one more"
	[ "$output" = "T-101" ]
}
