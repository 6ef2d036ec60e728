#!/usr/bin/env bats
# schedule.bats: recurring schedules: the subcommands, their bad inputs, at most one instance,
# and check queueing due schedules (one catch-up run after a gap, never a pile-up).

load helpers

SF_NAME=schedules.json

setup_file() {
	export TZ=UTC
}

sf() {
	echo "$STATE/$SF_NAME"
}

# set_field NAME KEY JSON: edit one schedule in schedules.json (as a person with jq would).
set_field() {
	local tmp="$BATS_TEST_TMPDIR/sf.tmp"
	jq --arg n "$1" --arg k "$2" --argjson v "$3" \
		'.schedules |= map(if .name == $n then .[$k] = $v else . end)' "$(sf)" >"$tmp"
	chmod 600 "$tmp"
	mv -f "$tmp" "$(sf)"
}

# sched NAME [KEY]: one schedule (or one of its keys) from list --json.
sched() {
	gov schedule list --json | jq -c --arg n "$1" ".[] | select(.name == \$n) | ${2:-.}"
}

epoch() {
	jq -rn --arg t "$1" '$t | fromdateiso8601'
}

ago() {
	date -u -d "@$(($(date +%s) - $1))" +%Y-%m-%dT%H:%M:%SZ
}

task_count() {
	gov list --all --json | jq 'length'
}

# --- help and usage ------------------------------------------------------------------------

@test "schedule --help documents every subcommand; help schedule too" {
	for args in "schedule --help" "schedule -h" "help schedule"; do
		run --separate-stderr gov $args
		[ "$status" -eq 0 ] || { echo "$args exited $status" >&2; false; }
		[ -z "$stderr" ]
		[[ "${lines[0]}" == "usage: governor schedule "* ]]
		for w in add list rm enable disable run --every --cron --manual --disabled --json; do
			assert_contains "$output" "$w"
		done
	done
	run gov --help
	grep -Eq '^  schedule ' <<<"$output"
	# a subcommand's --help is its own
	run --separate-stderr gov schedule add --help
	[ "$status" -eq 0 ] && [ -z "$stderr" ]
	[[ "${lines[0]}" == "usage: governor schedule add NAME "* ]]
	for w in --every --cron --manual --disabled --json; do
		assert_contains "$output" "$w"
	done
	[ ! -e "$(sf)" ]
}

@test "schedule: usage errors exit 64" {
	for args in "schedule" "schedule frob" "schedule add" "schedule add x" \
		"schedule add x prompt" "schedule add x --every 1h --cron @daily prompt" \
		"schedule add x --every 1h --manual prompt" "schedule add x --every 1h a b" \
		"schedule add x --frob --every 1h p" "schedule add x --every" \
		"schedule rm" "schedule rm a b" "schedule enable" "schedule disable a b" \
		"schedule run" "schedule list extra" "schedule list --frob" "schedule rm --frob x"; do
		run --separate-stderr gov $args
		[ "$status" -eq 64 ] || { echo "'$args' exited $status: $stderr" >&2; false; }
		[ -z "$output" ]
		assert_contains "$stderr" "usage: governor schedule"
	done
	[ ! -e "$(sf)" ]
}

# --- add and list --------------------------------------------------------------------------

@test "schedule add and list: every, cron, aliases, manual" {
	gov schedule add q15 --every 900 -p high "every quarter hour"
	gov schedule add nightly --cron "0 3 * * *" "reflect on the day"
	gov schedule add hourly --cron @hourly "hourly check"
	gov schedule add weekly --cron @Weekly -m claude-haiku-3-5 "weekly review"
	gov schedule add by-hand --manual "only when asked"
	echo "from stdin" | gov schedule add piped --every 2h -
	run --separate-stderr gov schedule list --json
	[ "$status" -eq 0 ]
	assert_json_line
	jqt 'length == 6'
	jqt '[.[].name] == ["q15","nightly","hourly","weekly","by-hand","piped"]'
	# the stored shape
	jqt '.[0] | .rule == "every" and .every == "15m" and .priority == 2 and .enabled == true
		and .run_count == 0 and .last_run == null and .last_task_id == null and .model == null
		and .prompt == "every quarter hour" and (.created_at | test("Z$")) and (has("cron") | not)'
	jqt '.[1] | .rule == "cron" and .cron == "0 3 * * *" and (.next_run | endswith("T03:00:00Z"))'
	jqt '.[2].next_run | test(":00:00Z$")'
	jqt '.[3] | .model == "claude-haiku-3-5" and (.next_run | endswith("T00:00:00Z"))'
	jqt '.[4] | .rule == "manual" and .next_run == null and (has("every") or has("cron") | not)'
	jqt '.[5].prompt == "from stdin"'
	# every: first run one period after it was added
	local created next
	created=$(epoch "$(jget '.[0].created_at')")
	next=$(epoch "$(jget '.[0].next_run')")
	[ $((next - created)) -eq 900 ]
	# the file: {"version":1,"schedules":[...]}, mode 0600
	jq -e '.version == 1 and (.schedules | length) == 6' "$(sf)"
	[ "$(stat -c %a "$(sf)")" = 600 ]
	# the table
	run --separate-stderr gov schedule list
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == NAME*ENABLED*RULE*NEXT_RUN*LAST_RUN*RUNS*LAST_TASK ]]
	[ "${#lines[@]}" -eq 7 ]
	grep -Eq '^q15 +yes +every 15m ' <<<"$output"
	grep -Eq '^nightly +yes +cron 0 3 \* \* \* ' <<<"$output"
	grep -Eq '^by-hand +yes +manual +- +- +0 +-$' <<<"$output"
	# adding schedules queued nothing
	[ "$(task_count)" -eq 0 ]
}

@test "schedule add --disabled, --json and -n" {
	run --separate-stderr gov schedule add paused --every 1h --disabled --json "later"
	[ "$status" -eq 0 ]
	assert_json_line
	jqt '.name == "paused" and .enabled == false and .rule == "every" and .every == "1h"'
	run --separate-stderr gov -n schedule add dry --every 1h "not stored"
	[ "$status" -eq 0 ]
	run --separate-stderr gov schedule add dry2 -n --every 1h "not stored"
	[ "$status" -eq 0 ]
	[ "$(gov schedule list --json | jq length)" -eq 1 ]
}

@test "schedule list with no schedules: a header, or an empty array" {
	run --separate-stderr gov schedule list
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	run --separate-stderr gov schedule list --json
	[ "$output" = "[]" ]
	[ ! -e "$(sf)" ]
}

@test "schedule add: bad input exits 65 and stores nothing" {
	conf '[models]' 'allowed = cheap-model'
	local -a cases=(
		"bad!|--every|1h|invalid schedule name 'bad!'"
		"$(printf 'x%.0s' {1..65})|--every|1h|invalid schedule name"
		"a|--every|30s|shorter than one minute"
		"a|--every|0|shorter than one minute"
		"a|--every|3651d|longer than 3650 days"
		"a|--every|soon|not a duration"
		"a|--every|-5m|not a duration"
		"a|--cron|0 24 * * *|hour field: 24 is out of range 0-23"
		"a|--cron|*/0 * * * *|minute field: step '0'"
		"a|--cron|* * * *|expected 5 fields"
		"a|--cron|* * * foo *|month field: unknown name 'foo'"
		"a|--cron|@reboot|unknown alias '@reboot'"
		"a|--cron|0 0 30 2 *|matches no time"
	)
	local c name opt val want
	for c in "${cases[@]}"; do
		IFS='|' read -r name opt val want <<<"$c"
		run --separate-stderr gov schedule add "$name" "$opt" "$val" "a prompt"
		[ "$status" -eq 65 ] || { echo "$c: exited $status: $stderr" >&2; false; }
		[ -z "$output" ]
		assert_contains "$stderr" "$want"
	done
	run --separate-stderr gov schedule add a --every 1h -p urgent "p"
	[ "$status" -eq 65 ]
	assert_contains "$stderr" "invalid priority 'urgent'"
	run --separate-stderr gov schedule add a --every 1h -m gpt-huge "p"
	[ "$status" -eq 65 ]
	assert_contains "$stderr" "model 'gpt-huge' is not allowed"
	assert_contains "$stderr" "cheap-model"
	run --separate-stderr gov schedule add a --every 1h "   "
	[ "$status" -eq 65 ]
	assert_contains "$stderr" "prompt is empty"
	[ ! -e "$(sf)" ]
	[ ! -e "$QF" ]
}

@test "schedule add: a duplicate name exits 65 and changes nothing" {
	gov schedule add dup --every 1h "first"
	cp "$(sf)" "$BATS_TEST_TMPDIR/before"
	run --separate-stderr gov schedule add dup --cron @daily "second"
	[ "$status" -eq 65 ]
	assert_contains "$stderr" "schedule 'dup' already exists"
	cmp "$(sf)" "$BATS_TEST_TMPDIR/before"
}

# --- rm, enable, disable -------------------------------------------------------------------

@test "schedule rm, enable, disable; unknown names exit 65" {
	gov schedule add a --every 1h "a"
	gov schedule add b --every 1h "b"
	gov schedule disable a
	[ "$(sched a .enabled)" = false ]
	gov schedule disable a                      # already disabled: fine
	gov schedule enable a
	[ "$(sched a .enabled)" = true ]
	gov schedule rm a
	[ "$(gov schedule list --json | jq -c '[.[].name]')" = '["b"]' ]
	[ -e "$(sf).bak" ]
	for v in rm enable disable run; do
		run --separate-stderr gov schedule "$v" a
		[ "$status" -eq 65 ] || { echo "$v exited $status" >&2; false; }
		assert_contains "$stderr" "no schedule 'a'"
	done
	gov schedule rm b
	run gov schedule list --json
	[ "$output" = "[]" ]
}

@test "schedule enable: missed runs are not made up" {
	gov schedule add s --every 5m "five"
	gov schedule disable s
	set_field s next_run "\"$(ago 3600)\""
	gov schedule enable s
	local next now
	next=$(epoch "$(sched s .next_run | tr -d '"')")
	now=$(date +%s)
	[ "$next" -gt "$now" ]
	[ "$next" -le $((now + 300)) ]
	calm_snapshot
	gov check --snapshot "$CALM" >/dev/null
	[ "$(task_count)" -eq 0 ]
}

# --- run and at most one instance ----------------------------------------------------------

@test "schedule run queues one task now; a second run while it is queued exits 65" {
	gov add "an unrelated task" >/dev/null
	gov schedule add refl --manual -p 2 "reflect"
	run --separate-stderr gov schedule run refl
	[ "$status" -eq 0 ]
	[ "$output" = T-02 ]
	run gov show --json T-02
	jqt '.prompt == "reflect" and .priority == 2 and .source == "schedule:refl"
		and .metadata.schedule == "refl" and .status == "pending"'
	[ "$(sched refl .run_count)" = 1 ]
	[ "$(sched refl .last_task_id)" = '"T-02"' ]
	[ "$(sched refl .last_run)" != null ]
	[ "$(sched refl .next_run)" = null ]
	# at most one instance: pending, then claimed
	run --separate-stderr gov schedule run refl
	[ "$status" -eq 65 ]
	assert_contains "$stderr" "schedule 'refl' already has task T-02 pending"
	[ "$(task_count)" -eq 2 ]
	# once the task is finished (here: cancelled), run works again
	gov cancel T-02 >/dev/null
	run --separate-stderr gov schedule run refl
	[ "$status" -eq 0 ]
	[ "$output" = T-03 ]
	[ "$(sched refl .run_count)" = 2 ]
	# a disabled schedule can still be run by hand
	gov cancel T-03 >/dev/null
	gov schedule disable refl
	run gov schedule run refl
	[ "$status" -eq 0 ]
	[ "$output" = T-04 ]
	# the history records the adds
	grep -c '"source":"schedule:refl"' "$STATE/history.jsonl" | grep -qx 3
}

@test "schedule run: a claimed or running last task also blocks a second instance" {
	conf_ignore_host_load
	calm_snapshot
	gov schedule add s --manual "claimed soon"
	gov schedule run s >/dev/null
	run gov check --snapshot "$CALM"
	assert_decision READY
	jqt '.task.id == "T-01"'
	run --separate-stderr gov schedule run s
	[ "$status" -eq 65 ]
	assert_contains "$stderr" "T-01 claimed"
	gov pop T-01 >/dev/null
	run --separate-stderr gov schedule run s
	[ "$status" -eq 65 ]
	assert_contains "$stderr" "T-01 running"
}

# --- check materialises due schedules ------------------------------------------------------

@test "check queues exactly one task for a schedule ten periods overdue, and moves next_run" {
	file_store_only
	conf_ignore_host_load
	calm_snapshot
	gov add "queued by hand" >/dev/null
	gov schedule add every-min --every 1m -p high "one minute"
	local journal_before
	journal_before=$(head -n 2 "$QF")
	set_field every-min next_run "\"$(ago 600)\""
	run gov check --snapshot "$CALM"
	assert_json_line
	[ "$(task_count)" -eq 2 ]
	run gov show --json T-02
	jqt '.prompt == "one minute" and .priority == 2 and .source == "schedule:every-min"
		and .metadata.schedule == "every-min"'
	local next now
	next=$(epoch "$(sched every-min .next_run | tr -d '"')")
	now=$(date +%s)
	[ "$next" -gt "$now" ]
	[ "$next" -le $((now + 60)) ]
	[ "$(sched every-min .run_count)" = 1 ]
	[ "$(sched every-min .last_task_id)" = '"T-02"' ]
	# not due again yet: nothing more
	gov check --snapshot "$CALM" >/dev/null
	[ "$(task_count)" -eq 2 ]
	# the queue is intact: the journal kept its lines, the hand-added task is there
	[ "$(head -n 2 "$QF")" = "$journal_before" ]
	run gov show --json T-01
	jqt '.prompt == "queued by hand"'
}

@test "check: a due schedule whose last task is still queued gets no second task" {
	conf '[policy]' 'max_concurrent = 0'      # draining: nothing is claimed
	calm_snapshot
	gov schedule add s --every 1m "once at a time"
	set_field s next_run "\"$(ago 300)\""
	gov check --snapshot "$CALM" >/dev/null
	[ "$(task_count)" -eq 1 ]
	set_field s next_run "\"$(ago 300)\""
	run --separate-stderr gov -v check --snapshot "$CALM"
	assert_json_line
	[ "$(task_count)" -eq 1 ]
	assert_contains "$stderr" "still pending"
	# next_run still moved past now
	[ "$(epoch "$(sched s .next_run | tr -d '"')")" -gt "$(date +%s)" ]
	[ "$(sched s .run_count)" = 1 ]
	# once it is done with, the next due time queues a new one
	gov cancel T-01 >/dev/null
	set_field s next_run "\"$(ago 5)\""
	gov check --snapshot "$CALM" >/dev/null
	[ "$(task_count)" -eq 2 ]
	[ "$(sched s .last_task_id)" = '"T-02"' ]
	[ "$(sched s .run_count)" = 2 ]
}

@test "check: cron schedules run on the minute; disabled and manual schedules never run" {
	conf '[policy]' 'max_concurrent = 0'
	calm_snapshot
	gov schedule add minutely --cron "* * * * *" "cron"
	gov schedule add paused --every 1m --disabled "paused"
	gov schedule add by-hand --manual "manual"
	set_field minutely next_run "\"$(ago 7200)\""
	set_field paused next_run "\"$(ago 7200)\""
	set_field by-hand next_run "\"$(ago 7200)\""
	local paused_before
	paused_before=$(sched paused)
	gov check --snapshot "$CALM" >/dev/null
	[ "$(task_count)" -eq 1 ]
	run gov list --all --json
	jqt '.[0].source == "schedule:minutely"'
	[[ "$(sched minutely .next_run)" == *":00Z\"" ]]
	[ "$(epoch "$(sched minutely .next_run | tr -d '"')")" -gt "$(date +%s)" ]
	[ "$(sched paused)" = "$paused_before" ]
	[ "$(sched by-hand .run_count)" = 0 ]
	# check --dry-run queues nothing
	set_field minutely next_run "\"$(ago 60)\""
	gov cancel T-01 >/dev/null
	gov -n check --snapshot "$CALM" >/dev/null
	[ "$(task_count)" -eq 1 ]
}

@test "check without schedules.json creates nothing; nothing due changes nothing" {
	calm_snapshot
	gov check --snapshot "$CALM" >/dev/null
	[ ! -e "$(sf)" ]
	gov schedule add later --every 1h "later"
	cp "$(sf)" "$BATS_TEST_TMPDIR/before"
	gov check --snapshot "$CALM" >/dev/null
	cmp "$(sf)" "$BATS_TEST_TMPDIR/before"
	[ ! -e "$QF" ] || [ "$(task_count)" -eq 0 ]
}

# --- a corrupt schedules file ---------------------------------------------------------------

@test "corrupt schedules.json: every schedule command exits 65, check warns, the file is untouched" {
	calm_snapshot
	gov add "a task" >/dev/null
	gov schedule add s --every 1m "s"
	for bad in 'not json' '{"version":2,"schedules":[]}' \
		'{"version":1,"schedules":[{"name":"s","rule":"hourly"}]}'; do
		printf '%s\n' "$bad" >"$(sf)"
		cp "$(sf)" "$BATS_TEST_TMPDIR/orig"
		for args in "schedule list" "schedule list --json" "schedule add t --every 1h p" \
			"schedule rm s" "schedule enable s" "schedule disable s" "schedule run s"; do
			run --separate-stderr gov $args
			[ "$status" -eq 65 ] || { echo "$args exited $status" >&2; false; }
			[ -z "$output" ]
			assert_contains "$stderr" "schedules 'schedules.json'"
			assert_contains "$stderr" "left as it is"
		done
		run --separate-stderr gov check --snapshot "$CALM"
		[ "$status" -eq 0 ]
		assert_json_line
		assert_contains "$stderr" "warning: schedules 'schedules.json'"
		cmp "$(sf)" "$BATS_TEST_TMPDIR/orig"
	done
	[ "$(task_count)" -eq 1 ]
}
