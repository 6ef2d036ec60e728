#!/usr/bin/env bats
# original.bats: the original VIP-lane tool's own test procedure (ORIGINS.md), with real
# processes instead of mocks: sleeping processes whose command line matches the configured
# session source stand in for agent sessions.  Host load is not under test here, so the CPU,
# memory and disk limits are off (conf_ignore_host_load); everything else is the default config.

load helpers

PROMPT="Final test: verify VIP Lane protection is active"

# A name no other process on the host has: this shell's pid, the test number, random digits.
unique_name() {
	echo "gov-bats-$1-$$-${BATS_TEST_NUMBER}-$RANDOM$RANDOM"
}

# probe_counts KIND N: governor probe sees exactly N sessions of KIND.
probe_counts() {
	local got
	got=$(gov probe | jq -r ".readings.sessions.$1")
	[ "$got" = "$2" ]
}

# start_sessions N NAME: N sleeping processes whose command line is "NAME 300".
start_sessions() {
	local i
	SESSION_PIDS=()
	for ((i = 0; i < $1; i++)); do
		start_named "$2" sleep 300
		SESSION_PIDS+=("$BG_PID")
	done
}

stop_sessions() {
	local pid
	for pid in "${SESSION_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	for pid in "${SESSION_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
}

@test "the original procedure: 6 agent sessions defer the task; READY once they exit; pop takes it" {
	local agent
	agent=$(unique_name agent)
	conf '[sessions.agents]' 'kind = background' 'type = process' "match = $agent"
	conf_ignore_host_load
	conf 'max_concurrent = 1'

	run --separate-stderr gov add "$PROMPT"
	[ "$status" -eq 0 ]
	[ "$output" = "T-01" ]
	run --separate-stderr gov list
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "Task Queue — 1 total, 1 pending, 0 claimed, 0 running, 0 done, 0 blocked" ]
	[[ "${lines[2]}" =~ ^T-01\ +pending\ +1\ +[0-9]+s\ \ Final\ test:\ verify\ VIP\ Lane\ protection\ is\ active$ ]]
	[ "${#lines[@]}" -eq 3 ]
	probe_counts background 0

	start_sessions 6 "$agent"
	wait_until 50 probe_counts background 6
	run --separate-stderr gov check
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	assert_decision DEFERRED concurrency_limit
	jqt '.pending_count == 1 and .active_sessions == 6 and .in_flight == 6'
	jqt '.readings.sessions.background == 6 and .readings.sessions.interactive == null'
	jqt '.detail | test("6 background sessions")'
	run gov check --exit-code
	[ "$status" -eq 75 ]
	assert_decision DEFERRED concurrency_limit
	run gov list --json
	jqt '[.[].status] == ["pending"]'

	stop_sessions
	wait_until 50 probe_counts background 0
	run --separate-stderr gov check
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	assert_decision READY
	jqt '.recommendation.model == "google-gemini-flash"'
	jqt '.recommendation.fallback_model == "claude-haiku-3-5"'
	jqt ".recommendation.prompt == \"$PROMPT\" and .recommendation.task_id == \"T-01\""
	jqt '.task.id == "T-01" and .active_sessions == 0 and .in_flight == 0'

	run --separate-stderr gov pop
	[ "$status" -eq 0 ]
	jqt '.id == "T-01" and .status == "running" and .pending_count == 0'
	run gov list
	[ "${lines[0]}" = "Task Queue — 1 total, 0 pending, 0 claimed, 1 running, 0 done, 0 blocked" ]
	[[ "${lines[2]}" =~ ^T-01\ +running\  ]]
	run gov check
	assert_decision NO_TASKS
	jqt '.pending_count == 0'
}

@test "an interactive session with max_interactive_sessions = 1 defers: vip_busy" {
	local vip
	vip=$(unique_name vip)
	conf '[sessions.vip]' 'kind = interactive' 'type = process' "match = $vip"
	conf_ignore_host_load
	conf 'max_interactive_sessions = 1'
	gov add "background work" >/dev/null
	start_sessions 1 "$vip"
	wait_until 50 probe_counts interactive 1
	run --separate-stderr gov check --exit-code
	[ "$status" -eq 75 ]
	assert_decision DEFERRED vip_busy
	jqt '.active_sessions == 1 and .in_flight == 0 and .readings.sessions.interactive == 1'
	jqt '.readings.sessions.background == null'
	stop_sessions
	wait_until 50 probe_counts interactive 0
	run --separate-stderr gov check --exit-code
	[ "$status" -eq 0 ]
	assert_decision READY
}

@test "governor never counts itself or its ancestors as sessions" {
	local agent
	agent=$(unique_name agent)
	conf '[sessions.agents]' 'kind = background' 'type = process' "match = $agent"
	start_sessions 1 "$agent"
	wait_until 50 probe_counts background 1
	# both shells above governor have the name in their command line; neither counts
	run bash -c 'exec -a "$1" bash -c "\"\$GOVERNOR\" -d \"\$STATE\" -c \"\$CONF\" probe; :"' _ "$agent"
	[ "$status" -eq 0 ]
	jqt '.readings.sessions.background == 1'
	stop_sessions
	run bash -c 'exec -a "$1" bash -c "\"\$GOVERNOR\" -d \"\$STATE\" -c \"\$CONF\" probe; :"' _ "$agent"
	jqt '.readings.sessions.background == 0'
}
