#!/usr/bin/env bats
# commands.bats: every command, its options, its exit codes and its output formats.

load helpers

ALL_COMMANDS="check add pop list status show probe config import help"

# --- help, version, usage errors -------------------------------------------------------------

@test "--version prints the version and exits 0" {
	run --separate-stderr gov --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^governor\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
	[ -z "$stderr" ]
	run --separate-stderr gov -V
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^governor\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "--help lists every command and the exit codes" {
	run --separate-stderr gov --help
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ "${lines[0]}" == "usage: governor "* ]]
	for c in check add pop list show probe config import help; do
		grep -Eq "^  $c[ ,]" <<<"$output" || { echo "command $c missing from --help" >&2; false; }
	done
	grep -q '^  list, status ' <<<"$output"
	assert_contains "$output" "64 usage"
	assert_contains "$output" "78 bad config"
}

@test "every command has --help: usage on stdout, exit 0, nothing changed" {
	for c in $ALL_COMMANDS; do
		run --separate-stderr gov "$c" --help
		[ "$status" -eq 0 ] || { echo "$c --help exited $status" >&2; false; }
		[ -z "$stderr" ]
		local name=$c
		[ "$c" = status ] && name=list
		[[ "${lines[0]}" == "usage: governor $name"* ]] || { echo "$c --help: ${lines[0]}" >&2; false; }
		grep -q -- '-h, --help' <<<"$output"
		run gov "$c" -h
		[ "$status" -eq 0 ]
		[[ "${lines[0]}" == "usage: governor $name"* ]]
	done
	# --help of add, check and pop documents their options
	run gov add --help
	assert_contains "$output" "--priority"
	assert_contains "$output" "--model"
	run gov check --help
	assert_contains "$output" "--exit-code"
	assert_contains "$output" "--snapshot"
	# help never touched the queue
	[ ! -e "$QF" ]
}

@test "help and help COMMAND" {
	run --separate-stderr gov help
	[ "$status" -eq 0 ]
	for c in check add pop list show probe config import help; do
		grep -Eq "^  $c " <<<"$output" || { echo "help lacks $c" >&2; false; }
	done
	run --separate-stderr gov help import
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "usage: governor import"* ]]
	run --separate-stderr gov help nosuch
	[ "$status" -eq 64 ]
	assert_contains "$stderr" "unknown command 'nosuch'"
}

@test "unknown command exits 64 with a message on stderr only" {
	run --separate-stderr gov frobnicate
	[ "$status" -eq 64 ]
	[ -z "$output" ]
	assert_contains "$stderr" "governor: unknown command 'frobnicate'"
}

@test "unknown options exit 64" {
	run --separate-stderr gov --frobnicate check
	[ "$status" -eq 64 ]
	[ -z "$output" ]
	assert_contains "$stderr" "--frobnicate"
	run --separate-stderr gov -Z
	[ "$status" -eq 64 ]
	for c in check add pop list show config import; do
		run --separate-stderr gov "$c" --frobnicate
		[ "$status" -eq 64 ] || { echo "$c --frobnicate exited $status" >&2; false; }
		[ -z "$output" ]
		assert_contains "$stderr" "frobnicate"
	done
	run --separate-stderr gov check extra-arg
	[ "$status" -eq 64 ]
	run --separate-stderr gov add one two
	[ "$status" -eq 64 ]
	[ ! -e "$QF" ]
}

# --- add ---------------------------------------------------------------------------------------

@test "add prints T-01, T-02, T-03 and the tasks are queued" {
	run --separate-stderr gov add "first"
	[ "$status" -eq 0 ]
	[ "$output" = "T-01" ]
	[ -z "$stderr" ]
	run gov add "second"
	[ "$output" = "T-02" ]
	run gov add --priority high --source bats --meta k=v "third"
	[ "$output" = "T-03" ]
	run gov list --json
	jqt 'length == 3'
	jqt '[.[].id] == ["T-01","T-02","T-03"]'
	jqt '[.[].prompt] == ["first","second","third"]'
	jqt 'all(.[]; .status == "pending" and .retries == 0 and .max_retries == 3 and .model == null)'
	jqt '.[2].source == "bats" and .[2].metadata == {"k":"v"} and .[2].priority == 2'
	jqt '.[0].source == "cli" and .[0].priority == 1'
	jqt '.[0].added_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")'
	jqt '.version == 2' "$(head -n 1 "$QF")"
}

@test "add --json prints the new task" {
	run --separate-stderr gov add --json "as json"
	[ "$status" -eq 0 ]
	assert_json_line
	jqt '.id == "T-01" and .prompt == "as json" and .status == "pending" and .priority == 1'
}

@test "ids are never reused, even when the journal header is ahead of its tasks" {
	file_store_only
	gov add a >/dev/null
	gov add b >/dev/null
	gov add c >/dev/null
	# a journal whose tasks end at T-02 but whose header remembers T-05 (archived ids)
	replace_journal "$(printf '%s\n%s\n%s\n' '{"version":2,"last_id":5,"archived_count":3}' \
		"$(task_line T-01)" "$(task_line T-02)")"
	run gov list --json
	jqt '[.[].id] == ["T-01","T-02"]'
	run gov add d
	[ "$output" = "T-06" ]
	run gov add e
	[ "$output" = "T-07" ]
	run gov list --json
	jqt '[.[].id] == ["T-01","T-02","T-06","T-07"]'
}

@test "add - reads the prompt from stdin, trailing newlines dropped" {
	run --separate-stderr bash -c 'printf "line one\nline two\n\n" | "$GOVERNOR" -d "$STATE" -c "$CONF" add -'
	[ "$status" -eq 0 ]
	[ "$output" = "T-01" ]
	run gov show --json T-01
	jqt '.prompt == "line one\nline two"'
	# an empty stdin is an empty prompt
	run --separate-stderr bash -c '"$GOVERNOR" -d "$STATE" -c "$CONF" add - </dev/null'
	[ "$status" -eq 65 ]
	assert_contains "$stderr" "empty"
}

@test "add without a prompt is a usage error (64); nothing is queued" {
	run --separate-stderr gov add
	[ "$status" -eq 64 ]
	[ -z "$output" ]
	assert_contains "$stderr" "no prompt"
	run --separate-stderr gov add --priority high
	[ "$status" -eq 64 ]
	[ ! -e "$QF" ]
}

@test "add with an empty or blank prompt exits 65; nothing is queued" {
	for p in "" " " "   " "$(printf '\t\n ')"; do
		run --separate-stderr gov add "$p"
		[ "$status" -eq 65 ] || { echo "prompt <$p> exited $status" >&2; false; }
		[ -z "$output" ]
		assert_contains "$stderr" "prompt is empty"
	done
	run gov list --json
	[ "$output" = "[]" ]
}

@test "add with a bad priority exits 65; nothing is queued" {
	for p in urgent 99999 1001 -1001 1.5 "" HIGH 2x; do
		run --separate-stderr gov add --priority "$p" "task"
		[ "$status" -eq 65 ] || { echo "priority <$p> exited $status" >&2; false; }
		[ -z "$output" ]
		assert_contains "$stderr" "invalid priority"
	done
	run gov list --json
	[ "$output" = "[]" ]
	# the limits themselves are fine
	run gov add -p 1000 top
	[ "$output" = "T-01" ]
	run gov add -p -1000 bottom
	[ "$output" = "T-02" ]
	run gov list --json
	jqt '[.[].priority] == [1000, -1000]'
}

@test "priorities low, normal, high and numbers order the checks" {
	conf '[policy]' 'max_concurrent = 10'
	calm_snapshot
	gov add -p low a >/dev/null     # T-01: 0
	gov add b >/dev/null            # T-02: 1 (normal)
	gov add -p high c >/dev/null    # T-03: 2
	gov add -p 5 d >/dev/null       # T-04: 5
	gov add -p -3 e >/dev/null      # T-05: -3
	gov add -p normal f >/dev/null  # T-06: 1, after T-02
	run gov list --json
	jqt '[.[].priority] == [0, 1, 2, 5, -3, 1]'
	local got=()
	for i in 1 2 3 4 5 6; do
		run --separate-stderr gov check --snapshot "$CALM"
		[ "$status" -eq 0 ]
		assert_decision READY
		got+=("$(jget .recommendation.task_id)")
	done
	assert_eq "${got[*]}" "T-04 T-03 T-02 T-06 T-01 T-05" "dispatch order"
	run gov check --snapshot "$CALM"
	assert_decision NO_TASKS
}

# --- models ------------------------------------------------------------------------------------

@test "add --model outside the allowlist exits 65 and names the allowed models" {
	run --separate-stderr gov add --model gpt-4 "task"
	[ "$status" -eq 65 ]
	[ -z "$output" ]
	assert_contains "$stderr" "gpt-4"
	assert_contains "$stderr" "google-gemini-flash"
	assert_contains "$stderr" "claude-haiku-3-5"
	[ ! -e "$QF" ]
	conf '[models]' 'allowed = m-one, m-two'
	run --separate-stderr gov add -m google-gemini-flash "task"
	[ "$status" -eq 65 ]
	assert_contains "$stderr" "m-one, m-two"
}

@test "the preferred model is recommended, the fallback is the next allowed one" {
	calm_snapshot
	conf '[policy]' 'max_concurrent = 10'
	gov add "no model" >/dev/null
	gov add -p 5 --model claude-haiku-3-5 "wants haiku" >/dev/null
	run gov list --json
	jqt '.[1].model == "claude-haiku-3-5" and .[0].model == null'
	run --separate-stderr gov check --snapshot "$CALM"
	assert_decision READY
	jqt '.recommendation.task_id == "T-02"'
	jqt '.recommendation.model == "claude-haiku-3-5"'
	jqt '.recommendation.fallback_model == "google-gemini-flash"'
	jqt '.task.model == "claude-haiku-3-5"'
	run --separate-stderr gov check --snapshot "$CALM"
	assert_decision READY
	jqt '.recommendation.task_id == "T-01"'
	jqt '.recommendation.model == "google-gemini-flash"'
	jqt '.recommendation.fallback_model == "claude-haiku-3-5"'
	jqt '.task.model == null'
}

@test "the fallback is the next distinct allowed model; a single model has none" {
	calm_snapshot
	conf '[policy]' 'max_concurrent = 10' '[models]' 'allowed = alpha, beta, gamma'
	gov add -m beta "b" >/dev/null
	run gov check --snapshot "$CALM"
	assert_decision READY
	jqt '.recommendation.model == "beta" and .recommendation.fallback_model == "alpha"'
	gov add -m alpha "a" >/dev/null
	run gov check --snapshot "$CALM"
	jqt '.recommendation.model == "alpha" and .recommendation.fallback_model == "beta"'
	: >"$CONF"
	conf '[policy]' 'max_concurrent = 10' '[models]' 'allowed = solo'
	gov add "s" >/dev/null
	run gov check --snapshot "$CALM"
	assert_decision READY
	jqt '.recommendation.model == "solo" and .recommendation.fallback_model == null'
}

@test "an empty allowlist defers with no_allowed_model" {
	calm_snapshot
	conf '[models]' 'allowed ='
	gov add "task" >/dev/null
	run --separate-stderr gov check --snapshot "$CALM"
	[ "$status" -eq 0 ]
	assert_decision DEFERRED no_allowed_model
	jqt '.pending_count == 1'
	run gov check --exit-code --snapshot "$CALM"
	[ "$status" -eq 75 ]
	# with an empty allowlist no model can be requested either
	run --separate-stderr gov add -m google-gemini-flash x
	[ "$status" -eq 65 ]
	assert_contains "$stderr" "(none)"
	# nothing was claimed
	run gov list --json
	jqt '[.[].status] == ["pending"]'
}

# --- list, status, show ------------------------------------------------------------------------

@test "list and status print the queue table" {
	calm_snapshot
	run --separate-stderr gov list
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "Task Queue — 0 total, 0 pending, 0 claimed, 0 running, 0 done, 0 blocked" ]
	[ "${#lines[@]}" -eq 1 ]
	gov add -p high "hello world" >/dev/null
	gov add "second task" >/dev/null
	gov add -p low "$(printf 'multi\nline')" >/dev/null
	gov check --snapshot "$CALM" >/dev/null    # claims T-01
	for cmd in list status; do
		run --separate-stderr gov "$cmd"
		[ "$status" -eq 0 ]
		[ -z "$stderr" ]
		[ "${lines[0]}" = "Task Queue — 3 total, 2 pending, 1 claimed, 0 running, 0 done, 0 blocked" ]
		[[ "${lines[1]}" =~ ^ID\ +STATUS\ +PRI\ +AGE\ +DESCRIPTION$ ]]
		[[ "${lines[2]}" =~ ^T-01\ +claimed\ +2\ +[0-9]+s\ \ hello\ world$ ]]
		[[ "${lines[3]}" =~ ^T-02\ +pending\ +1\ +[0-9]+s\ \ second\ task$ ]]
		[[ "${lines[4]}" =~ ^T-03\ +pending\ +0\ +[0-9]+s\ \ multi\ line$ ]]
		[ "${#lines[@]}" -eq 5 ]
	done
	run gov list --status pending
	[ "${#lines[@]}" -eq 4 ]
	[[ "${lines[2]}" == T-02* ]]
	run --separate-stderr gov list --status nosuch
	[ "$status" -eq 65 ]
}

@test "list --json is a JSON array of tasks" {
	run --separate-stderr gov list --json
	[ "$status" -eq 0 ]
	[ "$output" = "[]" ]
	gov add "one" >/dev/null
	gov add -p 7 "two" >/dev/null
	run --separate-stderr gov list --json
	[ "$status" -eq 0 ]
	assert_json_line
	jqt 'type == "array" and length == 2'
	jqt '.[0] | .id == "T-01" and .prompt == "one" and .priority == 1 and .status == "pending"'
	jqt '.[1] | .id == "T-02" and .prompt == "two" and .priority == 7'
	jqt 'all(.[]; has("added_at") and has("retries") and has("attempts") and has("metadata"))'
	run gov status --json
	jqt 'length == 2'
}

@test "show ID prints one task as text, show --json as JSON" {
	gov add -p high --source bats --meta owner=me "show me" >/dev/null
	run --separate-stderr gov show T-01
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "${lines[0]}" = "id:               T-01" ]
	grep -qx 'status: *pending' <<<"$output"
	grep -qx 'priority: *2' <<<"$output"
	grep -qx 'source: *bats' <<<"$output"
	grep -qx 'model: *-' <<<"$output"
	grep -qx 'failed attempts: *0 of 3' <<<"$output"
	grep -qx 'metadata: *{"owner":"me"}' <<<"$output"
	grep -qx 'attempts: *0' <<<"$output"
	[ "${lines[-2]}" = "prompt:" ]
	[ "${lines[-1]}" = "show me" ]
	# ids are case-insensitive and the T- is optional
	run gov show 1
	[ "${lines[0]}" = "id:               T-01" ]
	run --separate-stderr gov show --json T-01
	[ "$status" -eq 0 ]
	assert_json_line
	jqt '.id == "T-01" and .prompt == "show me" and .priority == 2 and .source == "bats"'
	jqt '.metadata == {"owner":"me"} and .attempts == [] and .status == "pending"'
}

@test "show of a missing or malformed id exits 65" {
	gov add "x" >/dev/null
	run --separate-stderr gov show T-02
	[ "$status" -eq 65 ]
	[ -z "$output" ]
	assert_contains "$stderr" "no task T-02"
	run --separate-stderr gov show --json T-99
	[ "$status" -eq 65 ]
	[ -z "$output" ]
	run --separate-stderr gov show bogus
	[ "$status" -eq 65 ]
	assert_contains "$stderr" "invalid task id"
	run --separate-stderr gov show
	[ "$status" -eq 64 ]
}

# --- probe -------------------------------------------------------------------------------------

@test "probe prints one JSON line with the readings" {
	run --separate-stderr gov probe
	[ "$status" -eq 0 ]
	assert_json_line
	jqt '.probed_at | test("Z$")'
	jqt '.readings | (.cpu_percent | type == "number") and (.cpu_percent >= 0 and .cpu_percent <= 100)'
	jqt '.readings | (.mem_available_percent > 0 and .mem_available_percent <= 100)'
	jqt '.readings | (.ncpu >= 1) and (.loadavg1 >= 0) and (.disk_free_percent >= 0)'
	jqt '.readings.sessions == {"background": null, "interactive": null}'
	# a probe can be replayed by check --snapshot
	gov probe >"$BATS_TEST_TMPDIR/snap.json"
	run gov check --snapshot "$BATS_TEST_TMPDIR/snap.json"
	assert_decision NO_TASKS
	run --separate-stderr gov probe extra
	[ "$status" -eq 64 ]
}

# --- import ------------------------------------------------------------------------------------

@test "import reads a legacy array and leaves the file byte-identical" {
	local legacy="$BATS_TEST_TMPDIR/pending_tasks.json"
	printf '%s' '[{"prompt":"a","priority":2,"added_at":"2026-02-02T03:32:53Z","metadata":{"source":"manual","retry_count":0}},{"prompt":"b","priority":1,"added_at":"2026-02-02T04:00:00Z","metadata":{"source":"heartbeat","retry_count":2}}]' >"$legacy"
	cp "$legacy" "$BATS_TEST_TMPDIR/copy"
	gov add "before" >/dev/null
	run --separate-stderr gov import "$legacy"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'T-02\nT-03')" ]
	cmp "$legacy" "$BATS_TEST_TMPDIR/copy"
	run gov list --json
	jqt 'length == 3'
	jqt '.[1] | .id == "T-02" and .prompt == "a" and .priority == 2 and .added_at == "2026-02-02T03:32:53Z"'
	jqt '.[1] | .source == "manual" and .retries == 0 and .status == "pending"'
	jqt '.[1].metadata == {"source":"manual","retry_count":0}'
	jqt '.[2] | .prompt == "b" and .source == "heartbeat" and .retries == 2'
	# dry run: validates and counts, adds nothing
	store_dump >"$BATS_TEST_TMPDIR/q"
	run gov import -n "$legacy"
	[ "$status" -eq 0 ]
	store_dump | cmp - "$BATS_TEST_TMPDIR/q"
}

@test "import of a non-array exits 65 and adds nothing" {
	local f="$BATS_TEST_TMPDIR/bad.json"
	gov add "existing" >/dev/null
	store_dump >"$BATS_TEST_TMPDIR/q"
	for body in '{"prompt":"a"}' 'not json at all' '"a string"' '' '[{"prompt":"a"}'; do
		printf '%s' "$body" >"$f"
		run --separate-stderr gov import "$f"
		[ "$status" -eq 65 ] || { echo "import of <$body> exited $status" >&2; false; }
		[ -z "$output" ]
		assert_contains "$stderr" "not a legacy pending_tasks.json"
		store_dump | cmp - "$BATS_TEST_TMPDIR/q"
	done
	run gov list --json
	jqt '[.[].id] == ["T-01"]'
	# a missing file is not data we can judge: a runtime error, nothing added
	run --separate-stderr gov import "$BATS_TEST_TMPDIR/nope.json"
	[ "$status" -ne 0 ]
	store_dump | cmp - "$BATS_TEST_TMPDIR/q"
}

@test "import of an array with one bad entry exits 65 and adds nothing" {
	local f="$BATS_TEST_TMPDIR/legacy.json"
	gov add "existing" >/dev/null
	store_dump >"$BATS_TEST_TMPDIR/q"
	for bad in '{"prompt":5}' '{"prompt":"ok","priority":"urgent"}' '{"prompt":"ok","added_at":"yesterday"}' \
		'{"prompt":"   "}' '"just a string"' '{"prompt":"ok","metadata":[1]}' '{"prompt":"ok","priority":2.5}'; do
		printf '[{"prompt":"good one","priority":1},%s,{"prompt":"good two"}]' "$bad" >"$f"
		run --separate-stderr gov import "$f"
		[ "$status" -eq 65 ] || { echo "import with <$bad> exited $status" >&2; false; }
		[ -z "$output" ]
		assert_contains "$stderr" "entry 1"
		store_dump | cmp - "$BATS_TEST_TMPDIR/q"
	done
	run gov list --json
	jqt 'length == 1'
	# the next id is still T-02: the failed imports used none
	run gov add next
	[ "$output" = "T-02" ]
}

# --- config ------------------------------------------------------------------------------------

@test "config prints every key with its origin" {
	conf '; a comment' '[policy]' 'max_cpu_percent = 50' '' '[lock]' 'ttl = 90s'
	run --separate-stderr env GOVERNOR_POLICY_MAX_CONCURRENT=2 "$GOVERNOR" -d "$STATE" -c "$CONF" config
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	for k in policy:max_concurrent policy:max_cpu_percent policy:min_mem_available_percent \
		policy:max_load_per_cpu policy:min_disk_free_percent policy:max_interactive_sessions \
		policy:claim_ttl policy:lease policy:max_retries policy:backoff_min policy:backoff_max \
		policy:aging models:allowed lock:ttl probe.cpu:sample probe.cpu:max_age store:backend; do
		local section=${k%%:*} key=${k#*:}
		grep -qx "\[$section\]" <<<"$output" || { echo "no [$section]" >&2; false; }
		grep -Eq "^$key = .* ; (default|env GOVERNOR_[A-Z_]+|.+:[0-9]+)$" <<<"$output" ||
			{ echo "no line for $k" >&2; false; }
	done
	grep -Eqx 'max_concurrent = 2 +; env GOVERNOR_POLICY_MAX_CONCURRENT' <<<"$output"
	grep -Eqx "max_cpu_percent = 50 +; $CONF:3" <<<"$output"
	grep -Eqx "ttl = 90s +; $CONF:6" <<<"$output"
	grep -Eqx 'claim_ttl = 5m +; default' <<<"$output"
	grep -Eqx 'allowed = google-gemini-flash, claude-haiku-3-5 +; default' <<<"$output"
	grep -Eqx 'min_mem_available_percent = 15 +; default' <<<"$output"
	grep -qx "; file: $CONF (from -c)" <<<"$output"
	grep -qx "; state dir: $STATE" <<<"$output"
}

@test "config shows session sources with their origin" {
	conf '[sessions.agents]' 'kind = background' 'type = process' 'match = (^|/)claude( |$)'
	run --separate-stderr gov config
	[ "$status" -eq 0 ]
	grep -Eqx "\[sessions.agents\] +; $CONF:[12]" <<<"$output"
	grep -Fqx 'match = (^|/)claude( |$)' <<<"$output"
}

@test "config --check exits 0 on a valid config and prints nothing" {
	conf '[policy]' 'max_concurrent = 3' 'claim_ttl = 90' 'lease = 2h' '[models]' 'allowed = a, b'
	run --separate-stderr gov config --check
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
	run gov config
	grep -Eqx 'claim_ttl = 90 +; .*:3' <<<"$output"
}

@test "an unknown key exits 78 naming file and line, for every command" {
	conf '; header' '[policy]' 'max_concurent = 2'
	for args in "config --check" "config" "check" "list" "add x"; do
		run --separate-stderr gov $args
		[ "$status" -eq 78 ] || { echo "$args exited $status" >&2; false; }
		[ -z "$output" ]
		assert_contains "$stderr" "$CONF:3"
		assert_contains "$stderr" "max_concurent"
	done
	[ ! -e "$QF" ]
}

@test "bad values exit 78 naming file and line" {
	local cases=(
		'[policy]|max_concurrent = -1|max_concurrent'
		'[policy]|claim_ttl = 5x|claim_ttl'
		'[policy]|max_cpu_percent = 101|max_cpu_percent'
		'[policy]|min_mem_available_percent = abc|min_mem_available_percent'
		'[policy]|max_retries = 1.5|max_retries'
		'[lock]|ttl = -3s|ttl'
		'[models]|allowed = a, , b|allowed'
		'[store]|backend = sqlite|backend'
	)
	for c in "${cases[@]}"; do
		IFS='|' read -r section line key <<<"$c"
		printf '; line one\n%s\n%s\n' "$section" "$line" >"$CONF"
		run --separate-stderr gov config --check
		[ "$status" -eq 78 ] || { echo "<$line> exited $status" >&2; false; }
		assert_contains "$stderr" "$CONF:3"
		assert_contains "$stderr" "$key"
	done
}

@test "an unknown section or a syntax error exits 78" {
	conf '[policy]' 'max_concurrent = 1' '[polcy]' 'max_concurrent = 1'
	run --separate-stderr gov config --check
	[ "$status" -eq 78 ]
	# the section's line or its first key's
	[[ "$stderr" =~ $CONF:[34]: ]]
	assert_contains "$stderr" "unknown section [polcy]"
	: >"$CONF"
	conf '[policy]' 'this is not a key value line'
	run --separate-stderr gov config --check
	[ "$status" -eq 78 ]
	assert_contains "$stderr" "$CONF:2"
}

@test "bad or unknown environment overrides exit 78" {
	run --separate-stderr env GOVERNOR_POLICY_MAX_CONCURRENT=many "$GOVERNOR" -d "$STATE" -c "$CONF" config --check
	[ "$status" -eq 78 ]
	assert_contains "$stderr" "GOVERNOR_POLICY_MAX_CONCURRENT"
	run --separate-stderr env GOVERNOR_POLICY_FOO=1 "$GOVERNOR" -d "$STATE" -c "$CONF" config --check
	[ "$status" -eq 78 ]
	assert_contains "$stderr" "GOVERNOR_POLICY_FOO"
	run --separate-stderr env GOVERNOR_LOCK_TTL=5x "$GOVERNOR" -d "$STATE" -c "$CONF" check
	[ "$status" -eq 78 ]
	[ -z "$output" ]
	# a good override is taken
	run --separate-stderr env GOVERNOR_POLICY_MAX_CONCURRENT=0 "$GOVERNOR" -d "$STATE" -c "$CONF" config
	[ "$status" -eq 0 ]
	grep -Eqx 'max_concurrent = 0 +; env GOVERNOR_POLICY_MAX_CONCURRENT' <<<"$output"
}

# --- check -------------------------------------------------------------------------------------

@test "check on an empty queue is NO_TASKS without probing" {
	run --separate-stderr gov check
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	assert_decision NO_TASKS
	jqt '.pending_count == 0 and .waiting_count == 0 and (has("readings") | not)'
	jqt '.decided_at | test("^[0-9-]+T[0-9:]+Z$")'
	# no command is check
	run --separate-stderr gov
	[ "$status" -eq 0 ]
	assert_decision NO_TASKS
}

@test "check --exit-code maps READY 0, NO_TASKS 3, DEFERRED 75, lock held 2" {
	calm_snapshot
	run --separate-stderr gov check --exit-code --snapshot "$CALM"
	[ "$status" -eq 3 ]
	assert_decision NO_TASKS
	gov add "t1" >/dev/null
	gov add "t2" >/dev/null
	run --separate-stderr gov check --exit-code --snapshot "$CALM"
	[ "$status" -eq 0 ]
	assert_decision READY
	run --separate-stderr gov check --exit-code --snapshot "$CALM"
	[ "$status" -eq 75 ]
	assert_decision DEFERRED concurrency_limit
	conf '[policy]' 'max_concurrent = 0'
	run --separate-stderr gov check --exit-code --snapshot "$CALM"
	[ "$status" -eq 75 ]
	assert_decision DEFERRED draining
	# without --exit-code any decision is 0
	run gov check --snapshot "$CALM"
	[ "$status" -eq 0 ]
	assert_decision DEFERRED draining
	# hold the decision lock with flock(1) on a private lock file
	install -m 600 /dev/null "$STATE/lock"
	start_bg holder bash -c 'exec 9<>"$1" && flock -x 9 && exec sleep 30' _ "$STATE/lock"
	wait_until 50 bash -c "! flock -n -x '$STATE/lock' true"
	run --separate-stderr gov check --exit-code --snapshot "$CALM"
	[ "$status" -eq 2 ]
	assert_decision DEFERRED lock_held
	run gov check --snapshot "$CALM"
	[ "$status" -eq 0 ]
	assert_decision DEFERRED lock_held
}

@test "draining (max_concurrent = 0) defers even a calm host" {
	calm_snapshot
	conf '[policy]' 'max_concurrent = 0'
	gov add x >/dev/null
	run --separate-stderr gov check --snapshot "$CALM"
	assert_decision DEFERRED draining
	jqt '.pending_count == 1 and .in_flight == 0'
	run gov list --json
	jqt '.[0].status == "pending"'
}

@test "-n / --dry-run changes nothing" {
	calm_snapshot
	gov add "dry" >/dev/null
	local hist_before
	hist_before=$(wc -l <"$STATE/history.jsonl")
	store_dump >"$BATS_TEST_TMPDIR/q"
	for args in "-n check" "--dry-run check" "check -n" "check --dry-run"; do
		run --separate-stderr gov $args --snapshot "$CALM"
		[ "$status" -eq 0 ]
		assert_decision READY
		jqt '.recommendation.task_id == "T-01" and .claim_expires_at == null'
		store_dump | cmp - "$BATS_TEST_TMPDIR/q"
	done
	# a live dry-run check too
	run gov -n check
	assert_json_line
	store_dump | cmp - "$BATS_TEST_TMPDIR/q"
	[ "$(wc -l <"$STATE/history.jsonl")" -eq "$hist_before" ]
	run gov list --json
	jqt '[.[].status] == ["pending"]'
	# add -n validates and prints, queues nothing
	run gov -n add "not really"
	[ "$status" -eq 0 ]
	[ "$output" = "T-02" ]
	store_dump | cmp - "$BATS_TEST_TMPDIR/q"
	# pop -n after a real claim leaves the claim
	gov check --snapshot "$CALM" >/dev/null
	store_dump >"$BATS_TEST_TMPDIR/q2"
	hist_before=$(wc -l <"$STATE/history.jsonl")
	run gov pop -n
	[ "$status" -eq 0 ]
	jqt '.id == "T-01" and .status == "running"'
	store_dump | cmp - "$BATS_TEST_TMPDIR/q2"
	[ "$(wc -l <"$STATE/history.jsonl")" -eq "$hist_before" ]
	run gov list --json
	jqt '[.[].status] == ["claimed"]'
}

@test "check --snapshot: each reading defers with its reason" {
	local s="$BATS_TEST_TMPDIR/s.json"
	gov add "task" >/dev/null
	store_dump >"$BATS_TEST_TMPDIR/q"

	write_snapshot "$s" cpu=95
	run --separate-stderr gov check --exit-code --snapshot "$s"
	[ "$status" -eq 75 ]
	[ -z "$stderr" ]
	assert_decision DEFERRED cpu_load
	jqt '.readings.cpu_percent == 95 and .pending_count == 1 and .active_sessions == 0'
	jqt '.detail == "cpu 95.0% busy, limit 80%"'

	write_snapshot "$s" mem=5
	run gov check --exit-code --snapshot "$s"
	[ "$status" -eq 75 ]
	assert_decision DEFERRED memory_pressure
	jqt '.readings.mem_available_percent == 5'

	write_snapshot "$s" disk=1
	run gov check --exit-code --snapshot "$s"
	[ "$status" -eq 75 ]
	assert_decision DEFERRED disk_space
	jqt '.readings.disk_free_percent == 1'

	# load_average is off by default ...
	write_snapshot "$s" load=10 ncpu=2
	run gov check -n --snapshot "$s"
	assert_decision READY
	# ... and on with max_load_per_cpu
	conf '[policy]' 'max_load_per_cpu = 1'
	run gov check --exit-code --snapshot "$s"
	[ "$status" -eq 75 ]
	assert_decision DEFERRED load_average
	jqt '.readings.loadavg1 == 10 and .readings.ncpu == 2'

	# vip_busy is off by default ...
	write_snapshot "$s" inter=1
	run gov check -n --snapshot "$s"
	assert_decision READY
	# ... and on with max_interactive_sessions
	conf 'max_interactive_sessions = 1'
	run gov check --exit-code --snapshot "$s"
	[ "$status" -eq 75 ]
	assert_decision DEFERRED vip_busy
	jqt '.active_sessions == 1'

	write_snapshot "$s" bg=3
	run gov check --exit-code --snapshot "$s"
	[ "$status" -eq 75 ]
	assert_decision DEFERRED concurrency_limit
	jqt '.active_sessions == 3 and .in_flight == 3 and .readings.sessions.background == 3'

	# none of these claimed anything
	store_dump | cmp - "$BATS_TEST_TMPDIR/q"
	# and the calm one does
	write_snapshot "$s"
	run gov check --exit-code --snapshot "$s"
	[ "$status" -eq 0 ]
	assert_decision READY
	jqt '.task.id == "T-01" and (.claim_expires_at | type == "string")'
}

@test "a bad snapshot file is an ERROR line and exit 65" {
	local s="$BATS_TEST_TMPDIR/s.json"
	gov add "task" >/dev/null
	store_dump >"$BATS_TEST_TMPDIR/q"
	for body in 'not json' '[1,2]' '{"readings":{"cpu_percent":150}}' '{"readings":{"cpu_percent":"hot"}}' \
		'{"readings":{"sessions":{"background":1.5}}}' '{"readings":{"sessions":[]}}'; do
		printf '%s\n' "$body" >"$s"
		run --separate-stderr gov check --snapshot "$s"
		[ "$status" -eq 65 ] || { echo "snapshot <$body> exited $status" >&2; false; }
		assert_json_line
		jqt '.status == "ERROR" and .error.code == "bad_snapshot" and (.error.message | length > 0)'
		assert_contains "$stderr" "governor: "
		store_dump | cmp - "$BATS_TEST_TMPDIR/q"
	done
	run --separate-stderr gov check --snapshot "$BATS_TEST_TMPDIR/missing.json"
	[ "$status" -eq 65 ]
	assert_json_line
	jqt '.status == "ERROR"'
	assert_contains "$stderr" "missing.json"
}

@test "check prints exactly one JSON line in every case, diagnostics only on stderr" {
	calm_snapshot
	local s="$BATS_TEST_TMPDIR/s.json"
	run --separate-stderr gov check
	assert_decision NO_TASKS
	[ -z "$stderr" ]
	gov add "one" >/dev/null
	gov add "two" >/dev/null
	run --separate-stderr gov check --snapshot "$CALM"
	assert_decision READY
	[ -z "$stderr" ]
	run --separate-stderr gov check
	assert_decision DEFERRED
	[ -z "$stderr" ]
	write_snapshot "$s" cpu=99
	run --separate-stderr gov check --snapshot "$s"
	assert_decision DEFERRED
	[ -z "$stderr" ]
	printf 'junk' >"$s"
	run --separate-stderr gov check --snapshot "$s"
	assert_decision ERROR
	[ -n "$stderr" ]
	corrupt_store
	run --separate-stderr gov check
	assert_decision ERROR
	[ -n "$stderr" ]
}
