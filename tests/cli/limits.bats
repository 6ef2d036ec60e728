#!/usr/bin/env bats
# limits.bats: custom limits ([limits.NAME]) with real commands (a fake nvidia-smi on PATH) and a
# real HTTP server, the exit-status mode, PSI thresholds, and the resume margin (no flapping).

load helpers

HELPERS_DIR="$BATS_TEST_DIRNAME/../../helpers"

# fake_nvidia_smi LINES...: an nvidia-smi on PATH that checks its arguments, prints LINES (one
# per GPU, "util, used, total") and counts its runs.
fake_nvidia_smi() {
	mkdir -p "$BATS_TEST_TMPDIR/bin"
	printf '%s\n' "$@" >"$BATS_TEST_TMPDIR/gpus.csv"
	cat >"$BATS_TEST_TMPDIR/bin/nvidia-smi" <<EOF
#!/bin/sh
[ "\$1" = "--query-gpu=utilization.gpu,memory.used,memory.total" ] || { echo "bad query: \$1" >&2; exit 2; }
[ "\$2" = "--format=csv,noheader,nounits" ] || { echo "bad format: \$2" >&2; exit 2; }
n=\$(cat '$BATS_TEST_TMPDIR/smi.runs' 2>/dev/null || echo 0)
echo \$((n + 1)) >'$BATS_TEST_TMPDIR/smi.runs'
cat '$BATS_TEST_TMPDIR/gpus.csv'
EOF
	chmod +x "$BATS_TEST_TMPDIR/bin/nvidia-smi"
	export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
}

# gpu_conf: the shipped example plus a quiet host.
gpu_conf() {
	cp "$HELPERS_DIR/examples/gpu.conf" "$CONF"
	conf_ignore_host_load
}

@test "gpu example: a busy GPU defers with custom_limit, name and value in the detail" {
	fake_nvidia_smi "37, 8120, 24576" "91, 1024, 24576"
	gpu_conf
	run --separate-stderr gov config --check
	[ "$status" -eq 0 ]
	gov add "task" >/dev/null
	run --separate-stderr gov check
	assert_decision DEFERRED custom_limit
	jqt '.detail == "limits.gpu_util = 91, max 80"'
	jqt '.readings.limits.gpu_util == 91 and (.readings.limits.gpu_memory | floor) == 33'
	# two limits, one command: one run
	assert_eq "$(cat "$BATS_TEST_TMPDIR/smi.runs")" 1 "nvidia-smi runs"
}

@test "gpu example: memory is column 2 / column 3; calm GPUs are READY" {
	fake_nvidia_smi "10, 23000, 24576"
	gpu_conf
	gov add "task" >/dev/null
	run --separate-stderr gov check -n
	assert_decision DEFERRED custom_limit
	jqt '.detail | startswith("limits.gpu_memory = 93.5")'
	fake_nvidia_smi "10, 2000, 24576" "12, 4000, 24576"
	rm -f "$STATE"/source.*.cache
	run --separate-stderr gov check
	assert_decision READY
	jqt '.readings.limits.gpu_util == 12'
}

@test "gpu example: no nvidia-smi is probe_failed, or ignored with on_error = ignore" {
	mkdir -p "$BATS_TEST_TMPDIR/empty"
	gpu_conf
	gov add "task" >/dev/null
	PATH="$BATS_TEST_TMPDIR/empty:/usr/bin:/bin" run --separate-stderr "$GOVERNOR" -d "$STATE" -c "$CONF" check -n
	assert_decision DEFERRED probe_failed
	jqt '.detail == "limits: limits.gpu_util: cannot run '"'nvidia-smi'"': No such file or directory"'
	sed -i 's/^cache_ttl = 10s$/cache_ttl = 10s\non_error = ignore/' "$CONF"
	PATH="$BATS_TEST_TMPDIR/empty:/usr/bin:/bin" run --separate-stderr "$GOVERNOR" -d "$STATE" -c "$CONF" check -n
	assert_decision READY
	jqt '.readings.limits == {"gpu_util": null, "gpu_memory": null}'
	# "[N/A]" where a number should be is a failure of that limit too
	fake_nvidia_smi "[N/A], 1, 2"
	sed -i '/^on_error = ignore$/d' "$CONF"
	run --separate-stderr gov check -n
	assert_decision DEFERRED probe_failed
	jqt '.detail | contains("line 1: column 1 is not a number")'
}

@test "mode = exit_status: 0 goes, 1 holds, anything else is a failure" {
	conf_ignore_host_load
	echo 0 >"$BATS_TEST_TMPDIR/answer"
	conf '[limits.gate]' "command = sh -c \"exit \$(cat $BATS_TEST_TMPDIR/answer)\"" 'mode = exit_status'
	gov add "task" >/dev/null
	run --separate-stderr gov check -n
	assert_decision READY
	jqt '.readings.limits.gate == 0'
	echo 1 >"$BATS_TEST_TMPDIR/answer"
	run --separate-stderr gov check -n
	assert_decision DEFERRED custom_limit
	jqt '.detail == "limits.gate: 1 (exit status: hold)"'
	echo 7 >"$BATS_TEST_TMPDIR/answer"
	run --separate-stderr gov check -n
	assert_decision DEFERRED probe_failed
	jqt '.detail | contains("exited with status 7 (expected 0 = go or 1 = hold)")'
}

@test "min and max of an HTTP limit, read with json_path" {
	DOCROOT="$BATS_TEST_TMPDIR/docroot"
	mkdir -p "$DOCROOT"
	start_bg http python3 "$BATS_TEST_DIRNAME/http-server.py" "$BATS_TEST_TMPDIR/port" "$DOCROOT" "$BATS_TEST_TMPDIR/http.log"
	wait_until 100 test -s "$BATS_TEST_TMPDIR/port"
	port=$(cat "$BATS_TEST_TMPDIR/port")
	echo '{"queue":{"depth":12,"workers":[{"up":true},{"up":true}]}}' >"$DOCROOT/stats.json"
	conf_ignore_host_load
	conf '[limits.depth]' 'type = http' "url = http://127.0.0.1:$port/file/stats.json" \
		'json_path = queue.depth' 'max = 10' \
		'[limits.workers]' "url = http://127.0.0.1:$port/file/stats.json" \
		'json_path = queue.workers' 'min = 2'
	gov add "task" >/dev/null
	run --separate-stderr gov check -n
	assert_decision DEFERRED custom_limit
	jqt '.detail == "limits.depth = 12, max 10"'
	echo '{"queue":{"depth":3,"workers":[{"up":true}]}}' >"$DOCROOT/stats.json"
	run --separate-stderr gov check -n
	assert_decision DEFERRED custom_limit
	jqt '.detail == "limits.workers = 1, min 2"'
	echo '{"queue":{"depth":3,"workers":[{},{},{}]}}' >"$DOCROOT/stats.json"
	run --separate-stderr gov check -n
	assert_decision READY
	jqt '.readings.limits == {"depth": 3, "workers": 3}'
}

@test "no flapping: after custom_limit, READY only once below max - resume_margin" {
	conf_ignore_host_load
	echo 85 >"$BATS_TEST_TMPDIR/value"
	conf 'resume_margin = 5' '[limits.load]' "command = cat $BATS_TEST_TMPDIR/value" 'max = 80'
	gov add "task" >/dev/null
	run --separate-stderr gov check
	assert_decision DEFERRED custom_limit
	[ "$(cat "$STATE/last-decision")" = "v1 custom_limit load" ]
	# below the max, within the margin: still deferred
	echo 78 >"$BATS_TEST_TMPDIR/value"
	run --separate-stderr gov check
	assert_decision DEFERRED custom_limit
	jqt '.detail | contains("resume_margin")'
	# a dry run decides the same way and remembers nothing
	echo 74 >"$BATS_TEST_TMPDIR/value"
	cp "$STATE/last-decision" "$BATS_TEST_TMPDIR/before"
	run --separate-stderr gov check -n
	assert_decision READY
	cmp "$STATE/last-decision" "$BATS_TEST_TMPDIR/before"
	# past the margin: READY, and the margin no longer applies
	run --separate-stderr gov check
	assert_decision READY
	[ "$(cat "$STATE/last-decision")" = "v1 none" ]
}

@test "no flapping with snapshots: cpu_load holds until 5 points under the limit" {
	conf '[policy]' 'max_cpu_percent = 80' 'min_mem_available_percent = 0' 'min_disk_free_percent = 0'
	gov add "task" >/dev/null
	write_snapshot "$BATS_TEST_TMPDIR/busy.json" cpu=85
	write_snapshot "$BATS_TEST_TMPDIR/near.json" cpu=77
	write_snapshot "$BATS_TEST_TMPDIR/calm.json" cpu=74
	run gov check --snapshot "$BATS_TEST_TMPDIR/near.json" -n
	assert_decision READY                       # no previous deferral: the limit itself
	run gov check --snapshot "$BATS_TEST_TMPDIR/busy.json"
	assert_decision DEFERRED cpu_load
	run gov check --snapshot "$BATS_TEST_TMPDIR/near.json"
	assert_decision DEFERRED cpu_load
	jqt '.detail | contains("resuming below 75%")'
	run gov check -n --snapshot "$BATS_TEST_TMPDIR/calm.json"
	assert_decision READY
	# resume_margin = 0 turns it off: at the limit itself again
	conf 'resume_margin = 0'
	run gov check -n --snapshot "$BATS_TEST_TMPDIR/near.json"
	assert_decision READY
	run gov check --snapshot "$BATS_TEST_TMPDIR/calm.json"
	assert_decision READY
	[ "$(cat "$STATE/last-decision")" = "v1 none" ]
}

@test "PSI thresholds: cpu_pressure, memory_stall, io_pressure; null skips the rule" {
	conf '[policy]' 'max_cpu_pressure = 20' 'max_memory_pressure = 10' 'max_io_pressure = 40' \
		'max_cpu_percent = 0' 'min_mem_available_percent = 0' 'min_disk_free_percent = 0'
	gov add "task" >/dev/null
	snap() {
		printf '{"readings":{"ncpu":2,"loadavg1":0.1,"pressure_cpu":%s,"pressure_memory":%s,"pressure_io":%s}}\n' \
			"$1" "$2" "$3" >"$BATS_TEST_TMPDIR/psi.json"
	}
	snap 35 0 0
	run gov check -n --snapshot "$BATS_TEST_TMPDIR/psi.json"
	assert_decision DEFERRED cpu_pressure
	jqt '.detail == "cpu pressure 35.0% (some avg10), limit 20%"'
	snap 1 12.5 0
	run gov check -n --snapshot "$BATS_TEST_TMPDIR/psi.json"
	assert_decision DEFERRED memory_stall
	snap 1 1 55
	run gov check -n --snapshot "$BATS_TEST_TMPDIR/psi.json"
	assert_decision DEFERRED io_pressure
	snap null null null
	run gov check -n --snapshot "$BATS_TEST_TMPDIR/psi.json"
	assert_decision READY
	jqt '.readings.pressure_cpu == null and .readings.pressure_io == null'
	# out of range is a bad snapshot
	snap 101 0 0
	run --separate-stderr gov check -n --snapshot "$BATS_TEST_TMPDIR/psi.json"
	[ "$status" -eq 65 ]
	# live: a check with a PSI rule reads it (a number here, null where the kernel has none)
	run --separate-stderr gov check -n
	jqt '.readings.pressure_cpu == null or (.readings.pressure_cpu | type == "number")'
}

@test "limits config: errors name the file and line" {
	conf '[limits.gpu]' 'type = command' 'command = nvidia-smi'
	run --separate-stderr gov config --check
	[ "$status" -eq 78 ]
	assert_contains "$stderr" "$CONF:1: [limits.gpu] needs 'max' and/or 'min'"
	: >"$CONF"
	conf '[limits.gpu]' 'command = nvidia-smi' 'max = 80' 'colour = red'
	run --separate-stderr gov config --check
	[ "$status" -eq 78 ]
	assert_contains "$stderr" "$CONF:4: unknown key 'colour' in [limits.gpu]"
}
