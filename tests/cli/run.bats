#!/usr/bin/env bats
# run.bats: `governor run` starts the READY task's command detached, under a supervisor that
# records how it ended; `governor logs` shows its output.

load helpers

setup_file() {
	export BATS_NO_PARALLELIZE_WITHIN_FILE=true
}

# The task's recorded status once the supervisor has reported it.
settled() {
	gov list --all --json | jq -e --arg id "$1" '.[] | select(.id == $id) | .status != "running"' >/dev/null
}

@test "run: READY starts the command with prompt and model as whole arguments and in the environment" {
	conf_ignore_host_load
	gov add 'quote " and $(touch '"$BATS_TEST_TMPDIR"'/canary); `id`; x' >/dev/null
	out="$BATS_TEST_TMPDIR/out"
	run gov run -- sh -c 'printf "%s\n" "$1" "$2" "$3" "$GOVERNOR_TASK_ID" "$GOVERNOR_PROMPT" "$GOVERNOR_MODEL" "$GOVERNOR_FALLBACK_MODEL" > "$4"' \
		sh {id} {prompt} {model} "$out"
	[ "$status" -eq 0 ]
	assert_decision READY
	jqt '(.pid | type == "number") and .log == "logs/T-01.log"'
	wait_until 50 settled T-01
	[ "$(sed -n 1p "$out")" = "T-01" ]
	[ "$(sed -n 2p "$out")" = 'quote " and $(touch '"$BATS_TEST_TMPDIR"'/canary); `id`; x' ]
	[ "$(sed -n 3p "$out")" = "google-gemini-flash" ]
	[ "$(sed -n 4p "$out")" = "T-01" ]
	[ "$(sed -n 5p "$out")" = "$(sed -n 2p "$out")" ]
	[ "$(sed -n 6p "$out")" = "google-gemini-flash" ]
	[ "$(sed -n 7p "$out")" = "claude-haiku-3-5" ]
	[ ! -e "$BATS_TEST_TMPDIR/canary" ]
	run gov show --json T-01
	jqt '.status == "done" and (.attempts | length == 1) and .attempts[0].outcome == "done"'
}

@test "run: a failing command is recorded as fail with the end of its log" {
	conf_ignore_host_load
	conf 'backoff_min = 0'
	gov add "will fail" >/dev/null
	run gov run -- sh -c 'echo first line; echo "the real reason" >&2; exit 3'
	assert_decision READY
	wait_until 50 settled T-01
	run gov show --json T-01
	jqt '.status == "pending" and .retries == 1'
	jqt '.attempts[0].outcome == "failed" and (.attempts[0].error | test("exit status 3")) and (.attempts[0].error | test("the real reason"))'
	run gov logs T-01
	[ "$status" -eq 0 ]
	assert_contains "$output" "first line"
	assert_contains "$output" "the real reason"
}

@test "run: --timeout stops the whole process group and records fail timeout" {
	conf_ignore_host_load
	gov add "too slow" >/dev/null
	pidfile="$BATS_TEST_TMPDIR/grandchild"
	run gov run --timeout 1s --grace 1s --wait -- sh -c 'sleep 60 & echo $! > '"$pidfile"'; wait'
	[ "$status" -eq 1 ]
	assert_decision READY
	run gov show --json T-01
	jqt '.attempts[0].outcome == "timeout" and (.attempts[0].error | test("^timeout"))'
	gc=$(cat "$pidfile")
	wait_until 30 bash -c "! kill -0 $gc 2>/dev/null"
}

@test "run --wait: exit 0 when the command succeeded" {
	conf_ignore_host_load
	gov add "quick" >/dev/null
	run gov run --wait -- true
	[ "$status" -eq 0 ]
	run gov show --json T-01
	jqt '.status == "done"'
}

@test "run: returns at once, the command keeps running detached, and inherits no descriptor" {
	conf_ignore_host_load
	gov add "long" >/dev/null
	fds="$BATS_TEST_TMPDIR/fds"
	# stdout is a pipe the caller reads to EOF, as execSync does: run must not hold it open.
	line=$(gov run -- sh -c 'ls /proc/self/fd > '"$fds"'; sleep 3' | cat)
	pid=$(jget .pid "$line")
	kill -0 "$pid"
	track "$pid"
	wait_until 30 test -s "$fds"
	# 0, 1, 2 and the fd ls itself opened to read the directory
	[ "$(wc -l <"$fds")" -le 4 ]
	run sort -n "$fds"
	[ "${lines[0]}" = 0 ] && [ "${lines[1]}" = 1 ] && [ "${lines[2]}" = 2 ]
	run gov list --json
	jqt '.[0].status == "running"'
}

@test "run: no task, or a deferral, starts nothing" {
	conf_ignore_host_load
	run gov run -- touch "$BATS_TEST_TMPDIR/started"
	assert_decision NO_TASKS
	gov add "held" >/dev/null
	conf 'max_concurrent = 0'
	run gov run -- touch "$BATS_TEST_TMPDIR/started"
	assert_decision DEFERRED draining
	[ ! -e "$BATS_TEST_TMPDIR/started" ]
	run gov run -n -- touch "$BATS_TEST_TMPDIR/started"
	[ ! -e "$BATS_TEST_TMPDIR/started" ]
}

@test "run: a command that cannot be executed is recorded as a failure" {
	conf_ignore_host_load
	conf 'backoff_min = 0'
	gov add "broken" >/dev/null
	run gov run --wait -- /nonexistent/agent
	[ "$status" -eq 1 ]
	run gov show --json T-01
	jqt '.retries == 1 and (.attempts[0].error | test("exit status 127"))'
	run gov logs T-01
	assert_contains "$output" "cannot run '/nonexistent/agent'"
}

@test "run and logs: usage errors" {
	run gov run
	[ "$status" -eq 64 ]
	run gov run --timeout soon -- true
	[ "$status" -eq 65 ]
	run gov logs
	[ "$status" -eq 64 ]
	run gov logs T-09
	[ "$status" -eq 65 ]
	assert_contains "$output" "no log for T-09"
}

@test "logs -f follows the output until the task ends" {
	conf_ignore_host_load
	gov add "chatty" >/dev/null
	gov run -- sh -c 'echo one; sleep 1; echo two' >/dev/null
	run timeout 20 "$GOVERNOR" -d "$STATE" -c "$CONF" logs -f T-01
	[ "$status" -eq 0 ]
	assert_contains "$output" "one"
	assert_contains "$output" "two"
}
