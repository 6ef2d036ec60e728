#!/usr/bin/env bats
# sources.bats: session sources of type command and http, with real processes and a real HTTP
# server on 127.0.0.1: JSON paths and filters, the cache, timeouts, on_error, the bearer token,
# the OpenClaw presets, and libcurl staying out of governor itself.

load helpers

HELPERS_DIR="$BATS_TEST_DIRNAME/../../helpers"

# The shape of `openclaw sessions --all-agents --active 30 --json`: 2 subagents, 2 main sessions.
OPENCLAW_JSON='{"path":null,"allAgents":true,"count":5,"activeMinutes":30,"sessions":[
 {"agentId":"main","key":"agent:main:main","model":"gpt-5"},
 {"agentId":"work","key":"agent:work:main","model":"claude"},
 {"agentId":"main","key":"agent:main:subagent:1f2e"},
 {"agentId":"work","key":"agent:work:subagent:77aa"},
 {"agentId":"main","key":"agent:main:telegram:dm:123"}]}'

# fake_cli NAME JSON: an executable NAME in $BATS_TEST_TMPDIR/bin that prints JSON and counts
# its runs in $BATS_TEST_TMPDIR/NAME.runs.
fake_cli() {
	mkdir -p "$BATS_TEST_TMPDIR/bin"
	printf '%s\n' "$2" >"$BATS_TEST_TMPDIR/$1.json"
	cat >"$BATS_TEST_TMPDIR/bin/$1" <<EOF
#!/bin/sh
n=\$(cat '$BATS_TEST_TMPDIR/$1.runs' 2>/dev/null || echo 0)
echo \$((n + 1)) >'$BATS_TEST_TMPDIR/$1.runs'
cat '$BATS_TEST_TMPDIR/$1.json'
EOF
	chmod +x "$BATS_TEST_TMPDIR/bin/$1"
}

runs_of() {
	cat "$BATS_TEST_TMPDIR/$1.runs" 2>/dev/null || echo 0
}

# start_http_server: python3 tests/cli/http-server.py on a free loopback port; $PORT, $BASE.
start_http_server() {
	DOCROOT="$BATS_TEST_TMPDIR/docroot"
	HTTP_LOG="$BATS_TEST_TMPDIR/http.log"
	mkdir -p "$DOCROOT"
	: >"$HTTP_LOG"
	start_bg http python3 "$BATS_TEST_DIRNAME/http-server.py" "$BATS_TEST_TMPDIR/port" "$DOCROOT" "$HTTP_LOG"
	wait_until 100 test -s "$BATS_TEST_TMPDIR/port"
	PORT=$(cat "$BATS_TEST_TMPDIR/port")
	BASE="http://127.0.0.1:$PORT"
}

# A check that should decide on the sources alone.
quiet_host() {
	conf_ignore_host_load
}

@test "ldd: governor does not link libcurl; governor-http does" {
	run ldd "$GOVERNOR"
	[ "$status" -eq 0 ]
	if grep -q libcurl <<<"$output"; then
		echo "governor links libcurl: $output" >&2
		false
	fi
	helper="$(dirname "$GOVERNOR")/governor-http"
	[ -x "$helper" ]
	ldd "$helper" | grep -q libcurl
}

@test "command source: json_path and filter count background and interactive sessions" {
	fake_cli openclaw "$OPENCLAW_JSON"
	export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
	conf '[sessions.sub]' 'kind = background' 'type = command' \
		'command = openclaw sessions --all-agents --active 30 --json' \
		'json_path = sessions' 'filter_field = key' 'filter_match = :subagent:' \
		'[sessions.main]' 'kind = interactive' \
		'command = openclaw sessions --all-agents --active 30 --json' \
		'json_path = sessions' 'filter_field = key' 'filter_match = ^agent:[^:]+:main$' \
		'[sessions.all]' 'kind = background' 'command = openclaw sessions --all-agents --active 30 --json' \
		'json_path = count' 'on_error = ignore'
	run --separate-stderr gov probe
	[ "$status" -eq 0 ]
	jqt '.readings.sessions.sources == {"sub": 2, "main": 2, "all": 5}'
	jqt '.readings.sessions.background == 7 and .readings.sessions.interactive == 2'
	# three sources, one command: one run
	assert_eq "$(runs_of openclaw)" 1 "runs"
}

@test "command source: cache_ttl keeps a slow CLI from running on every check" {
	fake_cli openclaw "$OPENCLAW_JSON"
	export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
	quiet_host
	conf 'max_concurrent = 5' \
		'[sessions.sub]' 'command = openclaw sessions --json' 'json_path = sessions' \
		'filter_field = key' 'filter_match = :subagent:' 'cache_ttl = 1h'
	gov add "task" >/dev/null
	for i in 1 2 3; do
		run --separate-stderr gov check -n
		assert_decision READY
		jqt '.readings.sessions.background == 2 and .in_flight == 2'
	done
	gov probe >/dev/null
	assert_eq "$(runs_of openclaw)" 1 "runs with cache_ttl = 1h"
	# the cache is one file in the state dir, private to its user
	run find "$STATE" -maxdepth 1 -name 'source.*.cache' -perm 0600
	[ "${#lines[@]}" -eq 1 ]
	# without a cache, every check runs it
	sed -i 's/^cache_ttl = 1h$/cache_ttl = 0/' "$CONF"
	gov check -n >/dev/null
	gov check -n >/dev/null
	assert_eq "$(runs_of openclaw)" 3 "runs without cache"
}

@test "command source: background sessions count toward max_concurrent" {
	fake_cli agents '{"data":{"items":[{"state":"busy"},{"state":"busy"},{"state":"idle"}]}}'
	export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
	quiet_host
	conf 'max_concurrent = 2' '[sessions.workers]' 'command = agents' 'json_path = data.items' \
		'filter_field = state' 'filter_match = ^busy$'
	gov add "task" >/dev/null
	run --separate-stderr gov check
	assert_decision DEFERRED concurrency_limit
	jqt '.active_sessions == 2 and .in_flight == 2'
	# a plain number works too
	printf '1\n' >"$BATS_TEST_TMPDIR/agents.json"
	sed -i '/^json_path/d; /^filter_/d' "$CONF"
	run --separate-stderr gov check
	assert_decision READY
}

@test "command source that hangs: probe_failed naming the source, within about the timeout" {
	local name="gov-hang-$$-$RANDOM"
	mkdir -p "$BATS_TEST_TMPDIR/bin"
	printf '#!/bin/sh\necho started >&2\nsleep 30\n' >"$BATS_TEST_TMPDIR/bin/$name"
	chmod +x "$BATS_TEST_TMPDIR/bin/$name"
	export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
	quiet_host
	conf '[sessions.slow]' "command = $name --json" 'timeout = 500ms'
	gov add "task" >/dev/null
	start=$(date +%s%N)
	run --separate-stderr gov check
	took=$((($(date +%s%N) - start) / 1000000))
	assert_decision DEFERRED probe_failed
	jqt '.detail == "sessions: sessions.slow: '"'$name'"' timed out after 500ms"'
	[ "$took" -lt 3000 ] || { echo "took $took ms" >&2; false; }
	# its whole process group was killed: the script is gone
	! pgrep -f "$name" >/dev/null
	run gov show --json T-01
	jqt '.status == "pending"'
}

@test "command source: failures, garbage and on_error = ignore" {
	quiet_host
	gov add "task" >/dev/null
	conf '[sessions.broken]' "command = sh -c \"echo 'gateway not running' >&2 && exit 3\""
	run --separate-stderr gov check -n
	assert_decision DEFERRED probe_failed
	jqt '.detail == "sessions: sessions.broken: '"'sh'"' exited with status 3: gateway not running"'

	: >"$CONF"
	quiet_host
	conf '[sessions.garbage]' "command = echo sessions: lots"
	run --separate-stderr gov check -n
	assert_decision DEFERRED probe_failed
	jqt '.detail | endswith("output is neither a number nor valid JSON")'

	: >"$CONF"
	quiet_host
	conf '[sessions.missing]' 'command = gov-no-such-cli --json' 'json_path = sessions'
	run --separate-stderr gov check -n
	assert_decision DEFERRED probe_failed
	jqt '.detail | contains("cannot run '"'gov-no-such-cli'"': No such file or directory")'

	# ignore: the check goes on without that count
	conf 'on_error = ignore'
	run --separate-stderr gov check
	assert_decision READY
	jqt '.readings.sessions.sources.missing == null and .readings.sessions.background == null'
	[ -z "$stderr" ]
}

@test "http source: GET a JSON file from a real server on 127.0.0.1" {
	start_http_server
	printf '%s\n' "$OPENCLAW_JSON" >"$DOCROOT/sessions.json"
	quiet_host
	conf 'max_concurrent = 3' \
		'[sessions.web]' 'type = http' "url = $BASE/file/sessions.json" 'json_path = sessions' \
		'filter_field = key' 'filter_match = :subagent:' 'header = X-Test: one' 'cache_ttl = 1m'
	gov add "task" >/dev/null
	run --separate-stderr gov check -n
	assert_decision READY
	jqt '.readings.sessions.background == 2 and .readings.sessions.sources.web == 2'
	gov check -n >/dev/null
	# one request (the second check used the cache), with the extra header
	run jq -s 'length' "$HTTP_LOG"
	[ "$output" = 1 ]
	jqt '.x_test == "one" and .method == "GET"' "$(head -1 "$HTTP_LOG")"
}

@test "http source: the gateway preset with a bearer token that never appears anywhere" {
	secret="s3cr3t-$RANDOM-$RANDOM-token"
	export EXPECTED_TOKEN="$secret"       # what the server accepts
	start_http_server
	echo '{"count":3,"sessions":[{"key":"agent:main:main"},{"key":"agent:main:subagent:a"},{"key":"agent:main:subagent:b"}]}' \
		>"$DOCROOT/gateway.json"
	sed "s|http://127.0.0.1:18789|$BASE|" "$HELPERS_DIR/openclaw/gateway.conf" >"$CONF"
	quiet_host
	conf 'max_concurrent = 5' 'max_interactive_sessions = 0'
	gov add "task" >/dev/null

	# without the variable: probe_failed, naming the variable, not a value
	run --separate-stderr gov check -n
	assert_decision DEFERRED probe_failed
	jqt '.detail | contains("OPENCLAW_GATEWAY_TOKEN") and contains("not set")'

	# a wrong token: the server says 401
	OPENCLAW_GATEWAY_TOKEN=wrong run --separate-stderr "$GOVERNOR" -d "$STATE" -c "$CONF" check -n
	assert_decision DEFERRED probe_failed
	jqt '.detail | contains("HTTP 401")'

	export OPENCLAW_GATEWAY_TOKEN="$secret"
	run --separate-stderr gov -v check
	assert_decision READY
	jqt '.readings.sessions.background == 2 and .readings.sessions.interactive == 1'
	all="$output $stderr"
	# both sources share one POST, with the JSON body and the right token
	run jq -s '[.[] | select(.method == "POST")] | length' "$HTTP_LOG"
	[ "$output" = 2 ]      # none without a token, one refused, one served: a 401 is not cached
	jqt '.auth_ok and .content_type == "application/json" and (.body | fromjson | .tool == "sessions_list")' \
		"$(tail -1 "$HTTP_LOG")"
	# the token is nowhere: not in the decision line, stderr, config, history, the state dir
	all="$all $(gov config) $(gov log --json) $(gov probe 2>&1)"
	[[ "$all" != *"$secret"* ]] || { echo "token leaked" >&2; false; }
	if grep -rqF "$secret" "$STATE"; then echo "token in the state dir" >&2; false; fi
	gov config | grep -qx 'token_env = OPENCLAW_GATEWAY_TOKEN'
}

@test "http source: 500, malformed JSON, a huge body, no answer, a closed port" {
	start_http_server
	quiet_host
	gov add "task" >/dev/null
	check_detail() {      # check_detail PATH TEXT
		: >"$CONF"
		quiet_host
		conf '[sessions.web]' "url = $BASE$1" 'json_path = sessions' 'timeout = 700ms'
		run --separate-stderr gov check -n
		assert_decision DEFERRED probe_failed
		jqt '.detail | contains("sessions.web") and contains("'"$2"'")'
	}
	check_detail /status/500 "HTTP 500"
	check_detail /status/404 "HTTP 404"
	check_detail /malformed "output is not valid JSON"
	check_detail /huge "larger than 1048576 bytes"
	start=$(date +%s%N)
	check_detail /hang "timed out"
	took=$((($(date +%s%N) - start) / 1000000))
	[ "$took" -lt 3000 ] || { echo "took $took ms" >&2; false; }
	kill "$BG_PID"
	wait "$BG_PID" 2>/dev/null || true
	check_detail /file/x.json "127.0.0.1"
	jqt '.detail | test("[Cc]ouldn.t connect|Connection refused|Failed to connect")'
}

@test "the OpenClaw CLI preset counts subagents and defers on the main session" {
	fake_cli openclaw "$OPENCLAW_JSON"
	export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
	cp "$HELPERS_DIR/openclaw/governor.conf" "$CONF"
	quiet_host
	conf 'max_concurrent = 5'
	run --separate-stderr gov config --check
	[ "$status" -eq 0 ]
	gov add "task" >/dev/null
	run --separate-stderr gov check
	assert_decision DEFERRED vip_busy
	jqt '.readings.sessions.background == 2 and .readings.sessions.interactive == 2'
	assert_eq "$(runs_of openclaw)" 1 "runs"
	# the VIP lane goes quiet: READY (after the 60 s cache, so use a fresh state dir's view)
	fake_cli openclaw '{"sessions":[{"key":"agent:main:subagent:1"}]}'
	rm -f "$STATE"/source.*.cache
	run --separate-stderr gov check
	assert_decision READY
	jqt '.readings.sessions.background == 1 and .readings.sessions.interactive == 0'
}

@test "config prints every key of a source, token_env by name only" {
	conf '[sessions.gw]' 'kind = interactive' 'url = http://127.0.0.1:1/x' 'body = {"a":1}' \
		'header = X-A: 1' 'header = X-B: 2' 'token_env = MY_TOKEN' 'json_path = a.b' \
		'filter_field = key' 'filter_match = ^x' 'timeout = 750ms' 'cache_ttl = 2m' 'on_error = ignore'
	MY_TOKEN=do-not-print run --separate-stderr "$GOVERNOR" -d "$STATE" -c "$CONF" config
	[ "$status" -eq 0 ]
	for line in 'kind = interactive' 'type = http' 'url = http://127.0.0.1:1/x' 'method = POST' \
		'body = {"a":1}' 'header = X-A: 1' 'header = X-B: 2' 'token_env = MY_TOKEN' \
		'json_path = a.b' 'filter_field = key' 'filter_match = ^x' 'timeout = 750ms' \
		'cache_ttl = 2m' 'on_error = ignore'; do
		grep -Fqx "$line" <<<"$output" || { echo "no line: $line" >&2; false; }
	done
	[[ "$output" != *do-not-print* ]]
}

@test "probe shows host and cgroup figures side by side" {
	run --separate-stderr gov probe
	[ "$status" -eq 0 ]
	jqt '.readings.host | has("cpu_percent") and has("mem_available_percent") and has("ncpu")'
	jqt '.readings.cgroup | has("version") and has("cpu_quota") and has("mem_limit_bytes")'
	jqt '.readings | has("pressure_cpu") and has("pressure_memory") and has("pressure_io")'
	# the decision figures are never looser than the host's
	jqt '.readings.cpu_percent >= .readings.host.cpu_percent'
	jqt '.readings.ncpu <= .readings.host.ncpu'
	jqt '.readings.mem_available_percent <= .readings.host.mem_available_percent + 0.01 or .readings.cgroup.mem_limit_bytes != null'
	# PSI is a number where the kernel has it, null where not, never missing
	for r in cpu memory io; do
		if [ -r "/proc/pressure/$r" ] && cat "/proc/pressure/$r" >/dev/null 2>&1; then
			jqt ".readings.pressure_$r | type == \"number\""
		else
			jqt ".readings.pressure_$r == null"
		fi
	done
}

@test "an installed tree, even moved elsewhere, finds governor-http in ../libexec/governor" {
	B="$(cd "$(dirname "$GOVERNOR")/.." && pwd)"
	[ -f "$B/cmake_install.cmake" ] || skip "GOVERNOR is not in a CMake build tree"
	cmake --install "$B" --prefix "$BATS_TEST_TMPDIR/prefix" >/dev/null
	mv "$BATS_TEST_TMPDIR/prefix" "$BATS_TEST_TMPDIR/moved"
	[ -x "$BATS_TEST_TMPDIR/moved/libexec/governor/governor-http" ]
	[ ! -e "$BATS_TEST_TMPDIR/moved/bin/governor-http" ]
	start_http_server
	echo '[1,2,3]' >"$DOCROOT/three.json"
	conf '[sessions.web]' "url = $BASE/file/three.json"
	run --separate-stderr "$BATS_TEST_TMPDIR/moved/bin/governor" -d "$STATE" -c "$CONF" probe
	[ "$status" -eq 0 ]
	jqt '.readings.sessions.sources.web == 3 and (.readings | has("failed") | not)'
}
