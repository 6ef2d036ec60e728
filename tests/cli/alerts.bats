#!/usr/bin/env bats
# alerts.bats: the alert outbox (alerts/pending.json): a task that becomes blocked, a starved
# lane and a source that keeps failing each raise one alert; delivery to a webhook on a real
# HTTP server on 127.0.0.1 (its body, a 500, a server that never answers); `governor alerts`
# and --clear; the [alerts] config keys.

load helpers

OUTBOX_REL=alerts/pending.json

# start_http_server: python3 tests/cli/http-server.py on a free loopback port; $BASE, $HTTP_LOG.
start_http_server() {
	DOCROOT="$BATS_TEST_TMPDIR/docroot"
	HTTP_LOG="$BATS_TEST_TMPDIR/http.log"
	mkdir -p "$DOCROOT"
	: >"$HTTP_LOG"
	start_bg http python3 "$BATS_TEST_DIRNAME/http-server.py" "$BATS_TEST_TMPDIR/port" "$DOCROOT" "$HTTP_LOG"
	wait_until 100 test -s "$BATS_TEST_TMPDIR/port"
	BASE="http://127.0.0.1:$(cat "$BATS_TEST_TMPDIR/port")"
}

posts() {
	grep -c '"method": "POST"' "$HTTP_LOG" || true
}

# block_task PROMPT REASON: add a task with one retry, claim, pop and fail it: it is blocked.
block_task() {
	local id
	id=$(gov add --max-retries 1 "$1")
	gov check --snapshot "$CALM" >/dev/null
	gov pop "$id" >/dev/null
	gov fail --reason "$2" "$id" >/dev/null
	[ "$(gov show --json "$id" | jq -r .status)" = blocked ]
}

alerts_json() {
	gov alerts --json
}

now_ms() {
	date +%s%3N
}

# drained ARGS...: gov with max_concurrent = 0: every eligible task is deferred (draining).
drained() {
	GOVERNOR_POLICY_MAX_CONCURRENT=0 gov "$@"
}

@test "a task blocked after its retries raises one alert, in governor alerts and pending.json" {
	conf_ignore_host_load
	conf 'backoff_min = 0' 'max_retries = 2'
	calm_snapshot
	gov add "summarise the inbox" >/dev/null
	gov check --snapshot "$CALM" >/dev/null && gov pop >/dev/null
	gov fail --reason "boom one" T-01 >/dev/null
	# a failed attempt that leaves retries is not an alert
	run gov alerts --json
	[ "$status" -eq 0 ]
	[ "$output" = "[]" ]
	gov check --snapshot "$CALM" >/dev/null && gov pop >/dev/null
	run --separate-stderr gov fail --reason "boom two" T-01
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]

	run alerts_json
	assert_json_line
	jqt 'length == 1'
	jqt '.[0].kind == "task_blocked" and .[0].task == "T-01" and .[0].sent == false'
	assert_eq "$(jget '.[0].text')" "governor: task T-01 blocked after 2 failed attempts: boom two"
	jqt '.[0].at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$")'
	# the file itself: a JSON array, one alert a line, private
	jq -e 'length == 1 and .[0].task == "T-01"' "$STATE/$OUTBOX_REL" >/dev/null
	[ "$(stat -c %a "$STATE/$OUTBOX_REL")" = 600 ]
	[ "$(stat -c %a "$STATE/alerts")" = 700 ]
	# nothing else raises it again
	gov list >/dev/null
	gov check --snapshot "$CALM" >/dev/null
	[ "$(alerts_json | jq length)" -eq 1 ]

	run --separate-stderr gov alerts
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "Alerts — 1 total, 1 unsent" ]
	[[ "${lines[1]}" == AT*KIND*SENT*TEXT ]]
	assert_contains "${lines[2]}" "task_blocked"
	assert_contains "${lines[2]}" "governor: task T-01 blocked after 2 failed attempts: boom two"
}

@test "dependants blocked by a cancelled task get one alert each; a retry that fails again, another" {
	conf_ignore_host_load
	conf 'backoff_min = 0'
	calm_snapshot
	gov add "first" >/dev/null
	gov add --after T-01 "second" >/dev/null
	gov add --after T-02 "third" >/dev/null
	gov cancel T-01 >/dev/null
	run alerts_json
	jqt 'length == 2'
	jqt '[.[].task] == ["T-02", "T-03"]'
	assert_eq "$(jget '.[0].text')" "governor: task T-02 blocked: depends on T-01, which is cancelled"
	assert_eq "$(jget '.[1].text')" "governor: task T-03 blocked: depends on T-02, which is blocked"

	# the same task blocked a second time, after a retry, is a new alert
	block_task "fourth" "first failure"
	gov retry T-04 >/dev/null
	gov check --snapshot "$CALM" >/dev/null && gov pop T-04 >/dev/null
	gov fail --reason "second failure" T-04 >/dev/null
	run alerts_json
	jqt 'length == 4'
	jqt '[.[].task] == ["T-02", "T-03", "T-04", "T-04"]'
	jqt '[.[].id] | unique | length == 4'
	assert_eq "$(jget '.[3].text')" "governor: task T-04 blocked after 1 failed attempt: second failure"
}

@test "a lease that lapses on the last retry: the next check records the block and raises it" {
	conf_ignore_host_load
	conf 'lease = 1s' 'max_retries = 1'
	calm_snapshot
	gov add "hangs" >/dev/null
	gov check --snapshot "$CALM" >/dev/null && gov pop >/dev/null
	sleep 1.2
	# a dry run changes nothing
	run gov check -n
	assert_decision NO_TASKS
	[ ! -e "$STATE/$OUTBOX_REL" ]
	[ "$(store_status T-01)" = running ]
	run gov check
	assert_decision NO_TASKS
	# recorded in the store, not only seen in this check's view
	[ "$(store_status T-01)" = blocked ]
	run alerts_json
	jqt 'length == 1'
	assert_eq "$(jget '.[0].text')" "governor: task T-01 blocked after 1 failed attempt: lease_expired"
	gov check >/dev/null
	[ "$(alerts_json | jq length)" -eq 1 ]
}

@test "webhook: the server receives exactly {\"text\": ...}; the alert is marked sent, and sent once" {
	conf_ignore_host_load
	calm_snapshot
	start_http_server
	conf '[alerts]' "webhook = $BASE/hook/slack"
	block_task 'deploy "blue" \ green' "exit status 1"
	# the fail command that raised it posted it
	[ "$(posts)" -eq 1 ]
	body=$(grep '"method": "POST"' "$HTTP_LOG" | jq -r .body)
	assert_eq "$body" '{"text":"governor: task T-01 blocked after 1 failed attempt: exit status 1"}'
	assert_eq "$(grep '"method": "POST"' "$HTTP_LOG" | jq -r '.path + " " + .content_type')" \
		"/hook/slack application/json"
	run alerts_json
	jqt '.[0].sent == true and (.[0].sent_at | type) == "string"'
	[ ! -e "$STATE/alerts/unsent" ]
	# later checks post nothing again
	gov check >/dev/null
	gov check >/dev/null
	[ "$(posts)" -eq 1 ]
}

@test "webhook answering 500: the alert stays unsent; the check after the server is fixed sends it" {
	conf_ignore_host_load
	calm_snapshot
	start_http_server
	conf '[alerts]' "webhook = $BASE/hook/slack"
	echo 500 >"$DOCROOT/slack.status"
	gov add --max-retries 1 "x" >/dev/null
	gov check --snapshot "$CALM" >/dev/null && gov pop >/dev/null
	run --separate-stderr gov fail --reason "broken" T-01
	[ "$status" -eq 0 ]                    # the failed post changes nothing about fail
	assert_contains "$stderr" "cannot post alerts to the webhook: HTTP 500"
	[ "$(posts)" -eq 1 ]
	run alerts_json
	jqt '.[0].sent == false and .[0].tries == 1 and .[0].error == "HTTP 500"'
	[ -e "$STATE/alerts/unsent" ]

	run --separate-stderr gov check
	[ "$status" -eq 0 ]
	assert_decision NO_TASKS
	[ "$(posts)" -eq 2 ]
	jqt '.[0].sent == false and .[0].tries == 2' "$(alerts_json)"

	rm "$DOCROOT/slack.status"
	run --separate-stderr gov check
	[ "$status" -eq 0 ]
	assert_decision NO_TASKS
	[ -z "$stderr" ]
	[ "$(posts)" -eq 3 ]
	jqt '.[0].sent == true' "$(alerts_json)"
	gov check >/dev/null
	[ "$(posts)" -eq 3 ]
	# every post was the same alert
	[ "$(grep '"method": "POST"' "$HTTP_LOG" | jq -r .body | sort -u | wc -l)" -eq 1 ]
}

@test "a webhook that never answers: check returns within 3 s with the same line and exit code" {
	conf_ignore_host_load
	calm_snapshot
	start_http_server
	gov add --delay 1h "later" >/dev/null
	block_task "x" "broken"                    # no webhook yet: unsent in the outbox
	run --separate-stderr gov check --exit-code
	[ "$status" -eq 3 ]
	expected=$(jq -c 'del(.decided_at)' <<<"$output")
	[ "$(posts)" -eq 0 ]

	conf '[alerts]' "webhook = $BASE/hang"
	t0=$(now_ms)
	run --separate-stderr gov check --exit-code
	elapsed=$(($(now_ms) - t0))
	[ "$status" -eq 3 ]
	assert_json_line
	assert_eq "$(jq -c 'del(.decided_at)' <<<"$output")" "$expected" "decision line"
	[ "$elapsed" -lt 3500 ] || { echo "check took $elapsed ms" >&2; false; }
	[ "$elapsed" -ge 1500 ] || { echo "check did not try to post ($elapsed ms)" >&2; false; }
	assert_contains "$stderr" "timed out"
	[ "$(posts)" -eq 1 ]
	run alerts_json
	jqt '.[0].sent == false and .[0].tries == 1'
	# the webhook's path (its secret) is not in the message
	[[ "$stderr" != *"/hang"* ]]
}

@test "starvation: raised once per episode after starvation_alert, re-armed by READY" {
	conf_ignore_host_load
	conf '[alerts]' 'starvation_alert = 2s'
	calm_snapshot
	gov add "waits" >/dev/null
	run drained check
	assert_decision DEFERRED draining
	[ "$(alerts_json | jq length)" -eq 0 ]
	sleep 2.1
	drained check >/dev/null
	drained check >/dev/null
	drained check >/dev/null
	run alerts_json
	jqt 'length == 1 and .[0].kind == "starved"'
	assert_contains "$(jget '.[0].text')" "governor: lane starved: 1 task pending and none started for 2s (since "
	assert_contains "$(jget '.[0].text')" "; last deferral: draining ("

	# READY ends the episode; a new one alerts again
	run gov check --snapshot "$CALM"
	assert_decision READY
	gov add "waits too" >/dev/null
	drained check >/dev/null
	[ "$(alerts_json | jq length)" -eq 1 ]
	sleep 2.1
	drained check >/dev/null
	run alerts_json
	jqt 'length == 2 and .[1].kind == "starved" and .[0].id != .[1].id'
}

@test "starvation: NO_TASKS is not starvation, and starvation_alert = 0 turns it off" {
	conf_ignore_host_load
	conf '[alerts]' 'starvation_alert = 1s'
	gov add --delay 1h "not yet" >/dev/null
	gov check >/dev/null
	sleep 1.1
	run gov check
	assert_decision NO_TASKS
	[ "$(alerts_json | jq length)" -eq 0 ]
	gov add "now" >/dev/null
	GOVERNOR_ALERTS_STARVATION_ALERT=0 drained check >/dev/null
	sleep 1.1
	GOVERNOR_ALERTS_STARVATION_ALERT=0 drained check >/dev/null
	[ "$(alerts_json | jq length)" -eq 0 ]
	[ ! -e "$STATE/alerts/starvation" ]
}

@test "a source failing source_failures times running raises one alert; a success resets the count" {
	conf_ignore_host_load
	mkdir -p "$BATS_TEST_TMPDIR/bin"
	cat >"$BATS_TEST_TMPDIR/bin/flaky" <<EOF
#!/bin/sh
if [ -e '$BATS_TEST_TMPDIR/broken' ]; then echo "gateway down" >&2; exit 2; fi
echo 0
EOF
	chmod +x "$BATS_TEST_TMPDIR/bin/flaky"
	touch "$BATS_TEST_TMPDIR/broken"
	conf '[alerts]' 'source_failures = 3' \
		'[sessions.flaky]' 'type = command' "command = $BATS_TEST_TMPDIR/bin/flaky"
	gov add "needs probes" >/dev/null
	for _ in 1 2; do
		run gov check
		assert_decision DEFERRED probe_failed
	done
	[ "$(alerts_json | jq length)" -eq 0 ]
	gov check >/dev/null
	run alerts_json
	jqt 'length == 1 and .[0].kind == "source_failing" and .[0].source == "sessions.flaky"'
	assert_contains "$(jget '.[0].text')" "governor: source sessions.flaky failed 3 times running: "
	assert_contains "$(jget '.[0].text')" "exited with status 2: gateway down"
	gov check >/dev/null
	gov check >/dev/null
	[ "$(alerts_json | jq length)" -eq 1 ]

	# a success resets the count: three more failures are a new alert
	rm "$BATS_TEST_TMPDIR/broken"
	run gov check
	assert_decision READY
	gov pop >/dev/null && gov 'done' T-01 >/dev/null
	gov add "again" >/dev/null
	touch "$BATS_TEST_TMPDIR/broken"
	gov check >/dev/null
	gov check >/dev/null
	[ "$(alerts_json | jq length)" -eq 1 ]
	gov check >/dev/null
	run alerts_json
	jqt 'length == 2 and .[1].source == "sessions.flaky" and .[0].id != .[1].id'
	# a dry run counts nothing
	gov check -n >/dev/null
	grep -q '^sessions.flaky 3 ' "$STATE/alerts/failures"
}

@test "alerts --clear empties the outbox and prints what it held; -n only shows it" {
	conf_ignore_host_load
	calm_snapshot
	block_task "one" "a"
	block_task "two" "b"
	run gov alerts --clear -n --json
	[ "$status" -eq 0 ]
	jqt 'length == 2'
	[ "$(alerts_json | jq length)" -eq 2 ]
	run gov alerts --clear --json
	[ "$status" -eq 0 ]
	jqt 'length == 2 and ([.[].task] == ["T-01", "T-02"])'
	[ "$(alerts_json)" = "[]" ]
	[ ! -e "$STATE/alerts/unsent" ]
	run gov alerts --clear
	[ "$status" -eq 0 ]
	[ "$output" = "Alerts cleared — 0 total, 0 unsent" ]
	# cleared alerts are gone for good: nothing raises them again
	gov check >/dev/null
	[ "$(alerts_json)" = "[]" ]
	run gov alerts --bogus
	[ "$status" -eq 64 ]
}

@test "a corrupt outbox: governor alerts exits 65 and leaves it; the next alert moves it aside" {
	conf_ignore_host_load
	calm_snapshot
	mkdir -m 700 "$STATE/alerts"
	printf '[{"id": "half' >"$STATE/$OUTBOX_REL"
	chmod 600 "$STATE/$OUTBOX_REL"
	run --separate-stderr gov alerts
	[ "$status" -eq 65 ]
	assert_contains "$stderr" "alerts/pending.json"
	assert_contains "$stderr" "corrupt"
	run --separate-stderr gov alerts --clear
	[ "$status" -eq 65 ]
	[ "$(cat "$STATE/$OUTBOX_REL")" = '[{"id": "half' ]

	gov add --max-retries 1 "x" >/dev/null
	gov check --snapshot "$CALM" >/dev/null && gov pop >/dev/null
	run --separate-stderr gov fail T-01
	[ "$status" -eq 0 ]
	assert_contains "$stderr" "pending.json.bad"
	[ "$(cat "$STATE/$OUTBOX_REL.bad")" = '[{"id": "half' ]
	[ "$(alerts_json | jq length)" -eq 1 ]
}

@test "check with a webhook and nothing unsent posts nothing and writes nothing" {
	conf_ignore_host_load
	start_http_server
	conf '[alerts]' "webhook = $BASE/hook/slack"
	gov add "x" >/dev/null
	run gov check
	assert_decision READY
	run gov check
	assert_decision NO_TASKS
	[ ! -e "$STATE/alerts" ]
	[ "$(posts)" -eq 0 ]
}

@test "bad [alerts] values exit 78 naming file and line; a webhook URL is never echoed" {
	local cases=(
		'webhook = ftp://example.com/x|expected http'
		'webhook = http://user:s3cret@example.com/hook|credentials'
		'webhook = https://example.com/a b|white space'
		'starvation_alert = 5x|starvation_alert'
		'source_failures = -1|source_failures'
		'source_failures = 2.5|source_failures'
		'webhooks = http://example.com/|unknown key'
	)
	for c in "${cases[@]}"; do
		IFS='|' read -r line why <<<"$c"
		printf '; line one\n[alerts]\n%s\n' "$line" >"$CONF"
		run --separate-stderr gov config --check
		[ "$status" -eq 78 ] || { echo "<$line> exited $status" >&2; false; }
		assert_contains "$stderr" "$CONF:3"
		assert_contains "$stderr" "$why"
		[[ "$stderr" != *s3cret* ]] || { echo "echoed the secret: $stderr" >&2; false; }
	done
	: >"$CONF"
	GOVERNOR_ALERTS_WEBHOOK='http://u:s3cret@h/x' run --separate-stderr gov check
	[ "$status" -eq 78 ]
	assert_contains "$stderr" "GOVERNOR_ALERTS_WEBHOOK"
	[[ "$stderr" != *s3cret* ]]
	GOVERNOR_ALERTS_WEBHOK=http://h/ run --separate-stderr gov check
	[ "$status" -eq 78 ]
	assert_contains "$stderr" "GOVERNOR_ALERTS_WEBHOK"
}

@test "governor config prints the [alerts] keys, the webhook as scheme and host only" {
	run gov config
	[ "$status" -eq 0 ]
	grep -Eqx 'webhook = +; default' <<<"$output"
	grep -Eqx 'starvation_alert = 6h +; default' <<<"$output"
	grep -Eqx 'source_failures = 3 +; default' <<<"$output"
	conf '[alerts]' 'webhook = https://hooks.example.com/services/T0/B0/S3CRET' 'source_failures = 0'
	run gov config
	[ "$status" -eq 0 ]
	grep -Eqx "webhook = https://hooks.example.com/\.\.\. +; $CONF:2" <<<"$output"
	grep -Eqx "source_failures = 0 +; $CONF:3" <<<"$output"
	[[ "$output" != *S3CRET* ]]
	GOVERNOR_ALERTS_STARVATION_ALERT=30m run gov config
	grep -Eqx 'starvation_alert = 30m +; env GOVERNOR_ALERTS_STARVATION_ALERT' <<<"$output"
}

@test "alerts --help tells the truth" {
	run gov alerts --help
	[ "$status" -eq 0 ]
	assert_contains "$output" "usage: governor alerts [--clear] [--json] [-n]"
	assert_contains "$output" "--clear"
	assert_contains "$output" "--json"
}
