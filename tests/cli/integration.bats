#!/usr/bin/env bats
# Heartbeat integration, end to end on the real binary: helpers/heartbeat.sh and add-task.sh, the
# systemd units and the crontab line, and the original tool's Node.js client
# (tests/clients/node/client.js).  Each spawned command records what it received, and the
# records are compared byte for byte with what was queued.

load helpers

ROOT="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
HELPERS="$ROOT/helpers"
CLIENT="$ROOT/tests/clients/node/client.js"

# A prompt no shell could carry through unharmed: quotes, backslashes, JSON-looking escapes,
# command substitutions, globs, a leading dash, a tab, control bytes, non-ASCII, placeholders,
# and trailing newlines.
NASTY=$'-n "double" \'single\' back\\slash \\n \\u0041 \\\\" $(touch pwned) `touch pwned2` ${HOME} ; | & * ? [a] ~ > <\ttab \x01\x1f é ✓ 😀 {prompt} {model}\n\nlast line\n\n'

setup_file() {
	export ROOT HELPERS CLIENT
}

# recorder: a command that writes each argument and the GOVERNOR_* values it was given to
# $REC.argN / $REC.env_NAME (byte for byte), touches $REC.started, then exits $REC_EXIT (0) after
# sleeping $REC_SLEEP seconds (0).
make_recorder() {
	REC="$BATS_TEST_TMPDIR/rec"
	RECORDER="$BATS_TEST_TMPDIR/recorder"
	cat >"$RECORDER" <<'EOF'
#!/bin/sh
i=0
for a in "$@"; do
	i=$((i + 1))
	printf '%s' "$a" >"$REC.arg$i"
done
echo "$i" >"$REC.argc"
printf '%s' "$GOVERNOR_TASK_ID" >"$REC.env_id"
printf '%s' "$GOVERNOR_PROMPT" >"$REC.env_prompt"
printf '%s' "$GOVERNOR_MODEL" >"$REC.env_model"
printf '%s' "$GOVERNOR_FALLBACK_MODEL" >"$REC.env_fallback"
echo $$ >"$REC.pid"
: >"$REC.started"
[ "${REC_SLEEP:-0}" = 0 ] || exec sleep "$REC_SLEEP"
exit "${REC_EXIT:-0}"
EOF
	chmod +x "$RECORDER"
	export REC
}

# same_bytes FILE TEXT: FILE holds exactly TEXT.
same_bytes() {
	printf '%s' "$2" >"$BATS_TEST_TMPDIR/expected"
	if ! cmp "$BATS_TEST_TMPDIR/expected" "$1"; then
		echo "--- expected:" >&2
		od -c "$BATS_TEST_TMPDIR/expected" | head -20 >&2
		echo "--- got ($1):" >&2
		od -c "$1" | head -20 >&2
		return 1
	fi
}

heartbeat() {
	timeout 60 "$HELPERS/heartbeat.sh" -c "$CONF" -d "$STATE" "$@"
}

status_of() {
	gov show --json "$1" | jq -r .status
}

# ---- heartbeat.sh ---------------------------------------------------------------------------

@test "heartbeat.sh: READY runs the command with prompt and model byte for byte, pops, reports done" {
	conf_ignore_host_load
	make_recorder
	run gov add -- "$NASTY"
	[ "$status" -eq 0 ]
	id="$output"
	gov show --json "$id" | jq -j .prompt >"$BATS_TEST_TMPDIR/stored"
	same_bytes "$BATS_TEST_TMPDIR/stored" "$NASTY"

	cd "$BATS_TEST_TMPDIR"
	run heartbeat -- "$RECORDER" {prompt} {model} {id} {fallback_model} literal
	[ "$status" -eq 0 ]
	assert_contains "$output" "READY $id on google-gemini-flash"

	[ "$(cat "$REC.argc")" = 5 ]
	same_bytes "$REC.arg1" "$NASTY"
	same_bytes "$REC.arg2" google-gemini-flash
	same_bytes "$REC.arg3" "$id"
	same_bytes "$REC.arg4" claude-haiku-3-5
	same_bytes "$REC.arg5" literal
	same_bytes "$REC.env_prompt" "$NASTY"
	same_bytes "$REC.env_model" google-gemini-flash
	same_bytes "$REC.env_id" "$id"
	same_bytes "$REC.env_fallback" claude-haiku-3-5
	[ ! -e pwned ] && [ ! -e pwned2 ]

	[ "$(status_of "$id")" = done ]
	run gov show --json "$id"
	jqt '.attempts | length == 1 and .[0].outcome == "done"'
}

@test "heartbeat.sh: HEARTBEAT_CMD is split at blanks only; placeholders are whole words; no fallback is empty" {
	conf_ignore_host_load
	conf '[models]' 'allowed = only-model'
	make_recorder
	gov add -p high 'say "hi" * $HOME' >/dev/null
	HEARTBEAT_CMD="$RECORDER --model {model} x{prompt} * {prompt} {fallback_model}" run heartbeat
	[ "$status" -eq 0 ]
	[ "$(cat "$REC.argc")" = 6 ]
	same_bytes "$REC.arg1" --model
	same_bytes "$REC.arg2" only-model
	same_bytes "$REC.arg3" 'x{prompt}'
	same_bytes "$REC.arg4" '*'
	same_bytes "$REC.arg5" 'say "hi" * $HOME'
	same_bytes "$REC.arg6" ''
	same_bytes "$REC.env_fallback" ''
	[ "$(status_of T-01)" = done ]
}

@test "heartbeat.sh: a 64 KiB prompt of escapes arrives whole" {
	conf_ignore_host_load
	make_recorder
	# 65536 bytes: quotes, backslashes, newlines and a control byte, each escaped in JSON.
	big=$(awk 'BEGIN { for (i = 0; i < 16383; i++) printf "\"\\\n\002"; printf "abcZ" }')
	[ "$(printf '%s' "$big" | wc -c)" -eq 65536 ]
	printf '%s' "$big" | gov add - >/dev/null
	run heartbeat -- "$RECORDER" {prompt}
	[ "$status" -eq 0 ]
	same_bytes "$REC.arg1" "$big"
	same_bytes "$REC.env_prompt" "$big"
}

@test "heartbeat.sh: NO_TASKS and DEFERRED start nothing and exit 0" {
	conf_ignore_host_load
	make_recorder
	run heartbeat -- "$RECORDER"
	[ "$status" -eq 0 ]
	assert_contains "$output" NO_TASKS
	[ ! -e "$REC.started" ]

	gov add "wait for me" >/dev/null
	GOVERNOR_POLICY_MAX_CONCURRENT=0 run heartbeat -- "$RECORDER"
	[ "$status" -eq 0 ]
	assert_contains "$output" "DEFERRED draining"
	[ ! -e "$REC.started" ]
	[ "$(status_of T-01)" = pending ]
}

@test "heartbeat.sh: a failing command is reported as a failed attempt, exit 1" {
	conf_ignore_host_load
	conf 'backoff_min = 0'
	make_recorder
	gov add "this fails" >/dev/null
	REC_EXIT=3 run heartbeat -- "$RECORDER"
	[ "$status" -eq 1 ]
	run gov show --json T-01
	jqt '.status == "pending" and .retries == 1 and .last_error == "exit status 3"'
	jqt '.attempts | length == 1 and .[0].ended_at != null'
}

@test "heartbeat.sh: -t stops a command that runs too long and records a timeout" {
	conf_ignore_host_load
	make_recorder
	gov add "this hangs" >/dev/null
	SECONDS=0
	REC_SLEEP=30 HEARTBEAT_GRACE=2 run heartbeat -t 1 -- "$RECORDER"
	[ "$status" -eq 1 ]
	[ "$SECONDS" -lt 15 ]
	[ -e "$REC.started" ]
	! kill -0 "$(cat "$REC.pid")" 2>/dev/null
	run gov show --json T-01
	jqt '.retries == 1 and .last_error == "timeout after 1s"'
}

@test "heartbeat.sh: SIGTERM to the heartbeat stops the command and records the failure" {
	conf_ignore_host_load
	make_recorder
	gov add "interrupted" >/dev/null
	export REC_SLEEP=30
	start_bg hb "$HELPERS/heartbeat.sh" -c "$CONF" -d "$STATE" -- "$RECORDER"
	hb=$BG_PID
	wait_until 100 test -e "$REC.started"
	wait_until 50 sh -c "$GOVERNOR -d '$STATE' -c '$CONF' show --json T-01 | grep -q '\"status\":\"running\"'"
	kill -TERM "$hb"
	SECONDS=0
	rc=0
	wait "$hb" || rc=$?
	[ "$SECONDS" -lt 10 ]
	[ "$rc" -eq 1 ]
	run gov show --json T-01
	jqt '.retries == 1 and .last_error == "heartbeat stopped by SIGTERM"'
	# The command is gone, not left running.
	! kill -0 "$(cat "$REC.pid")" 2>/dev/null
}

@test "heartbeat.sh: a command that cannot run claims nothing; no command is a usage error" {
	conf_ignore_host_load
	gov add "never claimed" >/dev/null
	run -127 heartbeat -- "$BATS_TEST_TMPDIR/no-such-command" {prompt}
	[ "$status" -eq 127 ]
	assert_contains "$output" "not found"
	[ "$(status_of T-01)" = pending ]
	run gov show --json T-01
	jqt '.claimed_at == null'

	run heartbeat
	[ "$status" -eq 64 ]
	assert_contains "$output" usage
	run heartbeat -t 5x -- true
	[ "$status" -eq 64 ]
}

@test "heartbeat.sh: a governor error is reported, exit 2" {
	conf_ignore_host_load
	gov add "x" >/dev/null
	corrupt_store
	run heartbeat -- true
	[ "$status" -eq 2 ]
	assert_contains "$output" "governor check failed (status 65)"
}

@test "add-task.sh: the original helper's call queues a task and prints its id" {
	run env GOVERNOR_CONFIG="$CONF" GOVERNOR_STATE_DIR="$STATE" "$HELPERS/add-task.sh" "Task description"
	[ "$status" -eq 0 ]
	[ "$output" = T-01 ]
	run env GOVERNOR_CONFIG="$CONF" GOVERNOR_STATE_DIR="$STATE" "$HELPERS/add-task.sh" -p high "Urgent"
	[ "$output" = T-02 ]
	run gov list --json
	jqt '.[0].prompt == "Task description" and .[0].source == "manual" and .[1].priority == 2'
	run "$HELPERS/add-task.sh"
	[ "$status" -eq 64 ]
}

@test "the helpers are POSIX sh (sh -n; shellcheck and checkbashisms when installed)" {
	for f in "$HELPERS/heartbeat.sh" "$HELPERS/add-task.sh"; do
		sh -n "$f"
		[ "$(head -1 "$f")" = "#!/bin/sh" ]
		[ -x "$f" ]
	done
	if command -v shellcheck >/dev/null; then
		shellcheck -s sh "$HELPERS/heartbeat.sh" "$HELPERS/add-task.sh"
		shellcheck -s bash "$HELPERS/completion/governor.bash"
	else
		echo "# shellcheck not installed: skipped that part" >&3
	fi
	if command -v checkbashisms >/dev/null; then
		checkbashisms "$HELPERS/heartbeat.sh" "$HELPERS/add-task.sh"
	fi
}

# ---- systemd and cron -----------------------------------------------------------------------

# fill TEMPLATE OUT: the install-time substitution, pointing at this tree and binary.
fill() {
	sed -e "s|@GOVERNOR_HELPERS_DIR@|$HELPERS|g" -e "s|@GOVERNOR_BIN@|$GOVERNOR|g" "$1" >"$2"
}

@test "systemd: the heartbeat units pass systemd-analyze verify" {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
	d="$BATS_TEST_TMPDIR/units"
	mkdir -p "$d"
	fill "$HELPERS/systemd/governor-heartbeat.service.in" "$d/governor-heartbeat.service"
	cp "$HELPERS/systemd/governor-heartbeat.timer" "$d/"
	run systemd-analyze verify --man=no "$d/governor-heartbeat.service" "$d/governor-heartbeat.timer"
	[ "$status" -eq 0 ]
	[ -z "$output" ]          # warnings (unknown keys, bad values) would be printed here
	grep -qx 'OnCalendar=\*:0/15' "$d/governor-heartbeat.timer"
	grep -qx 'Persistent=true' "$d/governor-heartbeat.timer"
	run systemd-analyze calendar --iterations=2 '*:0/15'
	[ "$status" -eq 0 ]
	# The verifier can fail: a unit whose ExecStart does not exist is refused.
	sed "s|^ExecStart=.*|ExecStart=$BATS_TEST_TMPDIR/missing|" "$d/governor-heartbeat.service" >"$d/bad.service"
	run systemd-analyze verify --man=no "$d/bad.service"
	[ "$status" -ne 0 ]
}

@test "systemd: the service's ExecStart with its environment runs a queued task" {
	conf_ignore_host_load
	make_recorder
	svc="$BATS_TEST_TMPDIR/governor-heartbeat.service"
	fill "$HELPERS/systemd/governor-heartbeat.service.in" "$svc"
	gov add 'from the "timer"' >/dev/null
	# What systemd would do: Environment= lines, the EnvironmentFile (here: HEARTBEAT_CMD), ExecStart.
	envs=()
	while IFS= read -r l; do envs+=("${l#Environment=}"); done < <(grep '^Environment=' "$svc")
	exec_start=$(sed -n 's/^ExecStart=//p' "$svc")
	run env "${envs[@]}" GOVERNOR_CONFIG="$CONF" GOVERNOR_STATE_DIR="$STATE" \
		HEARTBEAT_CMD="$RECORDER {model} {prompt}" timeout 60 $exec_start
	[ "$status" -eq 0 ]
	same_bytes "$REC.arg2" 'from the "timer"'
	[ "$(status_of T-01)" = done ]
}

@test "cron: the crontab line runs a queued task every 15 minutes" {
	conf_ignore_host_load
	tab="$BATS_TEST_TMPDIR/governor.crontab"
	fill "$HELPERS/cron/governor.crontab.in" "$tab"
	line=$(grep -v '^#' "$tab" | grep -v '^$')
	[ "$(printf '%s\n' "$line" | wc -l)" -eq 1 ]
	read -r m h dom mon dow cmd <<<"$line"
	[ "$m $h $dom $mon $dow" = "*/15 * * * *" ]
	# cron runs the rest with /bin/sh; `llm` is a stand-in that records its arguments.
	bin="$BATS_TEST_TMPDIR/bin"
	mkdir -p "$bin"
	printf '#!/bin/sh\ni=0\nfor a; do i=$((i+1)); printf "%%s" "$a" >"%s/llm.$i"; done\n' "$BATS_TEST_TMPDIR" >"$bin/llm"
	chmod +x "$bin/llm"
	gov add $'cron\'s $(task)' >/dev/null
	run env -i HOME="$HOME" PATH="$bin:/usr/bin:/bin" GOVERNOR_CONFIG="$CONF" GOVERNOR_STATE_DIR="$STATE" \
		${GOVERNOR_STORE_DSN:+"GOVERNOR_STORE_BACKEND=postgres" "GOVERNOR_STORE_DSN=$GOVERNOR_STORE_DSN"} \
		timeout 60 /bin/sh -c "$cmd"
	[ "$status" -eq 0 ]
	same_bytes "$BATS_TEST_TMPDIR/llm.1" -m
	same_bytes "$BATS_TEST_TMPDIR/llm.2" google-gemini-flash
	same_bytes "$BATS_TEST_TMPDIR/llm.3" $'cron\'s $(task)'
	[ ! -e "$BATS_TEST_TMPDIR/llm.4" ]
	[ "$(status_of T-01)" = done ]
}

# ---- the Node.js client ---------------------------------------------------------------------

need_node() {
	command -v node >/dev/null || skip "node is not installed: the Node.js client test needs it (Debian package nodejs)"
}

client() {
	GOVERNOR_CONFIG="$CONF" GOVERNOR_STATE_DIR="$STATE" timeout 60 node "$CLIENT" "$BATS_TEST_TMPDIR/out"
}

@test "node client: execSync check, JSON.parse the whole line, spawn on the model, pop, done" {
	need_node
	conf_ignore_host_load
	gov add -- "$NASTY" >/dev/null
	cd "$BATS_TEST_TMPDIR"
	run client
	[ "$status" -eq 0 ]
	[ "$output" = "READY T-01 google-gemini-flash done" ]
	same_bytes "$BATS_TEST_TMPDIR/out.prompt" "$NASTY"
	same_bytes "$BATS_TEST_TMPDIR/out.model" google-gemini-flash
	[ ! -e pwned ] && [ ! -e pwned2 ]
	run gov show --json T-01
	jqt '.status == "done" and (.attempts | length) == 1 and .attempts[0].outcome == "done"'
}

@test "node client: a child that fails is reported with governor fail" {
	need_node
	conf_ignore_host_load
	gov add "child fails" >/dev/null
	CLIENT_CHILD_EXIT=4 run client
	[ "$status" -eq 0 ]
	[ "$output" = "READY T-01 google-gemini-flash failed" ]
	run gov show --json T-01
	jqt '.retries == 1 and .last_error == "exit status 4"'
}

@test "node client: DEFERRED and NO_TASKS spawn nothing" {
	need_node
	conf_ignore_host_load
	run client
	[ "$status" -eq 0 ]
	[ "$output" = NO_TASKS ]
	gov add "later" >/dev/null
	GOVERNOR_POLICY_MAX_CONCURRENT=0 run client
	[ "$status" -eq 0 ]
	[ "$output" = "DEFERRED draining" ]
	[ ! -e "$BATS_TEST_TMPDIR/out.prompt" ]
	[ "$(status_of T-01)" = pending ]
}

@test "node client: the original /\\{[^}]+\\}/ cannot read a READY line; the whole line can" {
	need_node
	conf_ignore_host_load
	gov add "nested" >/dev/null
	run gov check -n
	assert_decision READY
	line="$output"
	run node -e '
		const line = process.argv[1];
		const m = line.match(/\{[^}]+\}/);
		let old = null;
		try { old = JSON.parse(m[0]); } catch (e) { old = "unparsable"; }
		const ok = old === "unparsable" || !old.recommendation;
		const whole = JSON.parse(line);
		console.log(ok && whole.recommendation.model === "google-gemini-flash" ? "as documented" : "unexpected");
	' "$line"
	[ "$output" = "as documented" ]
}
