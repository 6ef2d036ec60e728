#!/usr/bin/env bats
# lock.bats: the decision lock with a TTL.
#
# A check holds the decision lock for its whole cycle.  To hold it long enough to observe, a
# holder check runs with a long CPU sampling window and no saved CPU sample in a fresh state dir,
# so it sleeps inside the probe while holding the lock.  Other checks decide on a recorded
# snapshot (--snapshot), so they do not probe at all.

load helpers

# Start a holder check in the background; returns once the lock file names it.
start_holder() {
	start_bg holder "$GOVERNOR" -d "$STATE" -c "$CONF" check
	HOLDER=$BG_PID
	wait_until 50 grep -qs "^pid=$HOLDER " "$STATE/lock"
}

# wait_exit PID TRIES: wait (bounded) until PID, a child of this shell, has exited; then reap it
# and put its exit status in EXIT_STATUS.
wait_exit() {
	local pid="$1" tries="$2" i state
	for ((i = 0; i < tries; i++)); do
		state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || state=gone
		[ "$state" = Z ] || [ "$state" = gone ] && break
		sleep 0.1
	done
	[ "$state" = Z ] || [ "$state" = gone ] || { echo "pid $pid did not exit" >&2; return 1; }
	EXIT_STATUS=0
	wait "$pid" || EXIT_STATUS=$?
}

# check_not_lock_held: one check on the calm snapshot; true when it was not lock_held.
check_not_lock_held() {
	"$GOVERNOR" -d "$STATE" -c "$CONF" check --snapshot "$CALM" >"$BATS_TEST_TMPDIR/last.out"
	! jq -e '.reason == "lock_held"' "$BATS_TEST_TMPDIR/last.out" >/dev/null
}

@test "a holder killed with SIGKILL never blocks the next check" {
	calm_snapshot
	conf '[probe.cpu]' 'sample = 3s'
	gov add "task" >/dev/null
	start_holder
	kill -KILL "$HOLDER"
	wait_exit "$HOLDER" 30
	[ "$EXIT_STATUS" -eq 137 ]
	# the lock file still names the dead holder, but the kernel dropped its flock
	grep -q "^pid=$HOLDER " "$STATE/lock"
	run --separate-stderr gov check --exit-code --snapshot "$CALM"
	[ "$status" -eq 0 ]
	assert_decision READY
	jqt '.recommendation.task_id == "T-01"'
	[ -z "$(cat "$BATS_TEST_TMPDIR/holder.out")" ]
	run gov list --json
	jqt '[.[].status] == ["claimed"]'
}

@test "while the lock is held, check answers DEFERRED lock_held with retry_after" {
	calm_snapshot
	conf '[probe.cpu]' 'sample = 3s'
	gov add "task" >/dev/null
	store_dump >"$BATS_TEST_TMPDIR/q"
	start_holder
	local expires
	expires=$(grep -o 'expires=[^ ]*' "$STATE/lock" | cut -d= -f2)
	run --separate-stderr gov check --snapshot "$CALM"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	assert_decision DEFERRED lock_held
	jqt ".retry_after == \"$expires\""
	jqt ".detail | test(\"pid $HOLDER \")"
	jqt '.decided_at | test("Z$")'
	run --separate-stderr gov check --exit-code --snapshot "$CALM"
	[ "$status" -eq 2 ]
	assert_decision DEFERRED lock_held
	# a dry run takes no lock, so it still decides
	run --separate-stderr gov -n check --snapshot "$CALM"
	[ "$status" -eq 0 ]
	assert_decision READY
	# lock_held decisions changed nothing
	store_dump | cmp - "$BATS_TEST_TMPDIR/q"
	kill -KILL "$HOLDER"
	wait_exit "$HOLDER" 30
}

@test "a hung holder blocks for at most the TTL, then dies by its watchdog" {
	calm_snapshot
	conf '[lock]' 'ttl = 2s' '[probe.cpu]' 'sample = 1500ms'
	gov add "one" >/dev/null
	gov add "two" >/dev/null
	gov add "three" >/dev/null
	start_holder
	sleep 0.3                      # inside its CPU sample, the watchdog armed
	kill -STOP "$HOLDER"
	# before the TTL: held
	run --separate-stderr gov check --exit-code --snapshot "$CALM"
	[ "$status" -eq 2 ]
	assert_decision DEFERRED lock_held
	# after the TTL (2 s from the holder's start): the expired lock is broken and replaced
	wait_until 40 check_not_lock_held
	run cat "$BATS_TEST_TMPDIR/last.out"
	assert_decision READY
	jqt '.recommendation.task_id == "T-01"'
	grep -q "^pid=" "$STATE/lock"
	run grep -q "^pid=$HOLDER " "$STATE/lock"
	[ "$status" -ne 0 ]
	# the stopped holder wakes up past its TTL: its watchdog ends it
	kill -CONT "$HOLDER"
	wait_exit "$HOLDER" 50
	[ "$EXIT_STATUS" -ne 0 ]
	grep -q "TTL" "$BATS_TEST_TMPDIR/holder.err"
	[ -z "$(cat "$BATS_TEST_TMPDIR/holder.out")" ]
	# the queue is intact: three tasks, exactly one claimed, once
	run --separate-stderr gov list --json
	[ "$status" -eq 0 ]
	jqt '[.[].id] == ["T-01","T-02","T-03"]'
	jqt '[.[].status] == ["claimed","pending","pending"]'
	run jq -s '[.[] | select(.event == "decision" and .status == "READY")] | length' "$STATE/history.jsonl"
	[ "$output" -eq 1 ]
	[ -z "$(find "$STATE" -name '*.tmp.*')" ]
	# and the lock is free again
	run --separate-stderr gov check --snapshot "$CALM"
	assert_decision DEFERRED concurrency_limit
}

@test "every descriptor of a running check is close-on-exec" {
	conf '[probe.cpu]' 'sample = 3s'
	gov add "task" >/dev/null
	start_holder
	sleep 0.3                      # inside its CPU sample
	kill -STOP "$HOLDER"
	local n=0 bad=() f fd flags lockfd=
	for f in /proc/"$HOLDER"/fdinfo/*; do
		fd=${f##*/}
		[ "$fd" -gt 2 ] || continue
		flags=$(awk '/^flags:/ {print $2}' "$f")
		n=$((n + 1))
		[ "$(readlink "/proc/$HOLDER/fd/$fd")" != "$STATE/lock" ] || lockfd=$fd
		if (((8#$flags & 8#2000000) == 0)); then
			bad+=("fd $fd -> $(readlink "/proc/$HOLDER/fd/$fd") flags $flags")
		fi
	done
	ls -l "/proc/$HOLDER/fd/" >&2
	kill -KILL "$HOLDER"
	wait_exit "$HOLDER" 30
	# at least the state dir and the decision lock are open
	[ "$n" -ge 2 ]
	[ -n "$lockfd" ]
	if [ "${#bad[@]}" -gt 0 ]; then
		printf 'not O_CLOEXEC: %s\n' "${bad[@]}" >&2
		false
	fi
}
