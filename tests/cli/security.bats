#!/usr/bin/env bats
# security.bats: modes, ownership, symlinks, descriptors, shell metacharacters and secrets
# (DESIGN 8).  Complements queue.bats (0700/0600 of the core files, symlinks at queue.jsonl,
# queue.idx and lock, a world-writable dir or journal) and lock.bats (the descriptors of a
# running check): here every other file, other owners, and every command's descriptors.
#
# Ownership tests need root (chown nobody) and skip otherwise.  The descriptor tests stop a
# governor inside a commit with strace's syscall injection (SIGSTOP at fdatasync, or at its
# first write to stdout for readers) and skip without strace.

load helpers

NOBODY=65534

need_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (chown to another user)"
}

# A state dir that has been through most of what governor does: every file it creates.
full_life() {
	calm_snapshot
	gov add "one" >/dev/null
	gov add "two" >/dev/null
	gov check --snapshot "$CALM" >/dev/null
	gov pop >/dev/null
	gov done T-01 >/dev/null
	gov archive --older-than 0 >/dev/null
	printf '[{"prompt":"legacy"}]\n' >"$BATS_TEST_TMPDIR/legacy.json"
	gov import "$BATS_TEST_TMPDIR/legacy.json" >/dev/null
	gov schedule add nightly --every 1h "scheduled" >/dev/null 2>&1 || true
	gov check >/dev/null 2>&1 || true          # real probes: cpu.sample and friends
}

@test "under umask 000 every file governor creates is 0600 and every dir 0700" {
	file_store_only
	conf '[policy]' 'max_concurrent = 3'
	umask 000
	rm -rf "$STATE"
	STATE="$BATS_TEST_TMPDIR/fresh/nested/state"
	full_life
	if gov run --help >/dev/null 2>&1; then
		gov add "for run" >/dev/null
		gov run --wait --exit-code -- true >/dev/null 2>&1 || true   # logs/ and its file
	fi
	local bad
	bad=$(find "$BATS_TEST_TMPDIR/fresh" \( -type d ! -perm 700 -o -type f ! -perm 600 \) -printf '%m %p\n')
	[ -z "$bad" ] || { echo "wrong modes: $bad" >&2; false; }
	# and there is something to have checked
	[ "$(find "$STATE" -type f | wc -l)" -ge 6 ]
	[ -d "$STATE/archive" ]
	find "$STATE" -type f -printf '%m %P\n' | sort >&3
}

@test "a state dir owned by another user is refused, saying how to fix it; nothing is written" {
	need_root
	calm_snapshot
	gov add "mine" >/dev/null
	chown "$NOBODY" "$STATE"
	local listing
	listing=$(find "$STATE" -mindepth 1 -printf '%P %s %m %u %T@\n' | sort)
	for args in "add x" "list" "check --snapshot $CALM" "pop" "done T-01" "probe" "log"; do
		run --separate-stderr gov $args
		[ "$status" -eq 1 ] || { echo "$args exited $status" >&2; false; }
		assert_contains "$stderr" "is owned by uid $NOBODY, not by you (uid 0); use a dir of your own (-d)"
	done
	[ "$(find "$STATE" -mindepth 1 -printf '%P %s %m %u %T@\n' | sort)" = "$listing" ]
	chown 0 "$STATE"
	run gov list --json
	jqt '[.[].id] == ["T-01"]'
}

@test "files owned by another user are refused with the chown that fixes them, and left as they are" {
	file_store_only
	need_root
	calm_snapshot
	gov add "mine" >/dev/null
	gov check --snapshot "$CALM" >/dev/null       # creates lock
	local f sum
	for f in queue.jsonl queue.lock lock; do
		chown "$NOBODY" "$STATE/$f"
		sum=$(sha256sum "$STATE/$f")
		case "$f" in
		queue.jsonl) run --separate-stderr gov list ;;
		queue.lock) run --separate-stderr gov add x ;;
		lock) run --separate-stderr gov check --snapshot "$CALM" ;;
		esac
		[ "$status" -eq 1 ] || { echo "$f: exit $status" >&2; false; }
		assert_contains "$stderr" "'$f': owned by uid $NOBODY, not by you (uid 0); fix with: chown 0 $f"
		[ "$(sha256sum "$STATE/$f")" = "$sum" ]
		[ "$(stat -c %u "$STATE/$f")" = "$NOBODY" ]
		chown 0 "$STATE/$f"
	done
	# the journal refuses writers too, and check reports it as an ERROR line
	chown "$NOBODY" "$QF"
	run --separate-stderr gov add x
	[ "$status" -eq 1 ]
	run --separate-stderr gov check --snapshot "$CALM"
	[ "$status" -eq 1 ]
	jqt '.status == "ERROR" and (.error.message | contains("owned by uid"))'
	chown 0 "$QF"
	run gov list --json
	jqt 'length == 1'
}

@test "lock files writable by group or others are refused with the chmod that fixes them" {
	file_store_only
	calm_snapshot
	gov add "mine" >/dev/null
	gov check --snapshot "$CALM" >/dev/null
	chmod 620 "$STATE/queue.lock"
	run --separate-stderr gov add x
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "data lock 'queue.lock': writable by group or others (mode 620); fix with: chmod 600 queue.lock"
	chmod 600 "$STATE/queue.lock"
	chmod 606 "$STATE/lock"
	run --separate-stderr gov check --snapshot "$CALM"
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "decision lock 'lock': writable by group or others (mode 606); fix with: chmod 600 lock"
	jqt '.status == "ERROR" and .error.code == "lock_failed"'
	chmod 600 "$STATE/lock"
	run gov list --json
	jqt '[.[].status] == ["claimed"]'
}

@test "a config owned by another user, or writable by group or others, is refused (78) saying how to fix it" {
	gov add "mine" >/dev/null
	conf '[policy]' 'max_concurrent = 2'
	chmod 664 "$CONF"
	run --separate-stderr gov add x
	[ "$status" -eq 78 ]
	assert_contains "$stderr" "is writable by group or others; fix with: chmod go-w"
	chmod 600 "$CONF"
	if [ "$(id -u)" -eq 0 ]; then
		# root reading a config another user owns: refused (a user's own config and a
		# root-owned one in /etc are the two trusted owners)
		chown "$NOBODY" "$CONF"
		run --separate-stderr gov config --check
		[ "$status" -eq 78 ]
		assert_contains "$stderr" "is owned by another user"
		chown 0 "$CONF"
	fi
	run gov list --json
	jqt 'length == 1'
}

@test "symlinks planted at queue.lock, history.jsonl, schedules.json, lock.break, archive/ and cpu.sample are never followed" {
	file_store_only
	calm_snapshot
	conf '[probe.cpu]' 'sample = 100ms'
	local target="$BATS_TEST_TMPDIR/precious" dir="$BATS_TEST_TMPDIR/precious.d"
	printf 'precious\n' >"$target"
	chmod 600 "$target"
	mkdir -m 700 "$dir"
	# history.jsonl before anything is logged: writers warn and go on, readers refuse
	ln -s "$target" "$STATE/history.jsonl"
	run --separate-stderr gov add "one"
	[ "$status" -eq 0 ]
	assert_contains "$stderr" "history.jsonl"
	run --separate-stderr gov log
	[ "$status" -ne 0 ]
	rm "$STATE/history.jsonl"
	# queue.lock: writers refuse
	ln -s "$target" "$STATE/queue.lock.new" && mv -T "$STATE/queue.lock.new" "$STATE/queue.lock"
	run --separate-stderr gov add "two"
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "'queue.lock': it is a symbolic link, which governor does not follow; remove it"
	rm "$STATE/queue.lock"
	# schedules.json: refused, the tick warns and check still decides
	ln -s "$target" "$STATE/schedules.json"
	run --separate-stderr gov schedule add nightly --every 1h "p"
	[ "$status" -ne 0 ]
	assert_contains "$stderr" "symbolic link"
	run --separate-stderr gov check --snapshot "$CALM"
	assert_decision READY
	rm "$STATE/schedules.json"
	# lock.break: only a breaker opens it; plant it and make a lock expire
	ln -s "$target" "$STATE/lock.break"
	# cpu.sample: the probe replaces it by rename, never writing through it
	ln -s "$target" "$STATE/cpu.sample"
	run --separate-stderr gov check
	[ "$status" -eq 0 ]
	[ ! -L "$STATE/cpu.sample" ] || [ "$(readlink "$STATE/cpu.sample")" = "$target" ]
	# archive/: refused
	gov pop >/dev/null
	gov done T-01 >/dev/null
	ln -s "$dir" "$STATE/archive"
	run --separate-stderr gov archive --older-than 0
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "'archive': it is a symbolic link, which governor does not follow; remove it"
	run gov list --all --json
	jqt '[.[] | select(.id == "T-01") | .status] == ["done"]'
	# every target is as it was
	[ "$(cat "$target")" = precious ]
	[ -z "$(ls -A "$dir")" ]
}

@test "an expired lock is broken without following a symlink planted at lock.break" {
	calm_snapshot
	conf '[lock]' 'ttl = 1s' '[probe.cpu]' 'sample = 900ms'
	gov add "task" >/dev/null
	printf 'precious\n' >"$BATS_TEST_TMPDIR/precious"
	chmod 600 "$BATS_TEST_TMPDIR/precious"
	ln -s "$BATS_TEST_TMPDIR/precious" "$STATE/lock.break"
	start_bg holder "$GOVERNOR" -d "$STATE" -c "$CONF" check
	wait_until 50 grep -qs "^pid=$BG_PID " "$STATE/lock"
	kill -STOP "$BG_PID"
	sleep 1.2
	run --separate-stderr gov check --snapshot "$CALM"
	[ "$status" -eq 1 ]
	assert_contains "$stderr" "'lock.break': it is a symbolic link"
	[ "$(cat "$BATS_TEST_TMPDIR/precious")" = precious ]
	kill -CONT "$BG_PID"
}

# stopped_fds ARGS...: run governor ARGS under strace, stopped (SIGSTOP) at its first fdatasync,
# or, for a command that commits nothing, at its first write to stdout; print "fd flags target"
# for every descriptor above 2, then let it finish.  Descriptors above 2 are closed first.
stopped_fds() {
	local point="fdatasync" out="$BATS_TEST_TMPDIR/stopped.out" pid i st f fd
	case "$1" in list | show | log | stats | probe | config) point="write" ;; esac
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd="${fd##*/}"
			[ "$fd" -gt 2 ] && eval "exec $fd>&-"
		done
		exec strace -o /dev/null -e trace="$point" -e inject="$point:signal=STOP:when=1" \
			"$GOVERNOR" -d "$STATE" -c "$CONF" "$@"
	) >"$out" 2>&1 </dev/null &
	local tracer=$!
	track "$tracer"
	for ((i = 0; i < 100; i++)); do
		pid=$(pgrep -P "$tracer" -x governor || true)
		if [ -n "$pid" ]; then
			st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
			[ "$st" = t ] || [ "$st" = T ] && break
		fi
		sleep 0.05
	done
	[ -n "$pid" ] && { [ "$st" = t ] || [ "$st" = T ]; } || { echo "governor $* was never stopped" >&2; return 1; }
	for f in /proc/"$pid"/fdinfo/*; do
		fd=${f##*/}
		[ "$fd" -gt 2 ] || continue
		echo "$fd $(awk '/^flags:/ {print $2}' "$f") $(readlink "/proc/$pid/fd/$fd")"
	done
	kill -CONT "$pid"
	wait "$tracer" || true
}

@test "every descriptor of add, pop, done, fail, archive, check (claiming), list and show is close-on-exec" {
	file_store_only
	command -v strace >/dev/null || skip "strace is not installed"
	[ "$(head -c 2 "$GOVERNOR")" != '#!' ] || skip "\$GOVERNOR is a wrapper (valgrind): the default and asan runs check the binary"
	calm_snapshot
	conf '[policy]' 'max_concurrent = 5' 'backoff_min = 0'
	gov add "one" >/dev/null
	gov add "two" >/dev/null
	gov add "three" >/dev/null
	gov check --snapshot "$CALM" >/dev/null
	local args out bad=() line fd flags n
	for args in "add four" "check --snapshot $CALM" "pop T-01" "done T-01" "fail T-02" "archive --older-than 0" "list" "show T-03"; do
		out=$(stopped_fds $args) || { echo "$out" >&2; false; }
		n=0
		while read -r fd flags target; do
			[ -n "$fd" ] || continue
			n=$((n + 1))
			(((8#$flags & 8#2000000) != 0)) || bad+=("$args: fd $fd -> $target (flags $flags)")
		done <<<"$out"
		# at least the state dir (and for writers the data lock and the journal) are open
		[ "$n" -ge 1 ] || { echo "$args: no descriptor open: $out" >&2; false; }
		case "$args" in list* | show*) ;; *) [ "$n" -ge 3 ] || { echo "$args: only $n open: $out" >&2; false; } ;; esac
		echo "# $args: $n descriptors above 2, all O_CLOEXEC" >&3
	done
	if [ "${#bad[@]}" -gt 0 ]; then
		printf 'not O_CLOEXEC: %s\n' "${bad[@]}" >&2
		false
	fi
}

@test "a task spawned after the pop (governor run) sees only descriptors 0, 1 and 2" {
	gov run --help >/dev/null 2>&1 || skip "governor run is not available"
	conf_ignore_host_load
	gov add "list your descriptors" >/dev/null
	run --separate-stderr gov run --wait -- /bin/sh -c 'ls /proc/$$/fd; echo end'
	[ "$status" -eq 0 ]
	jqt '.status == "READY"'
	local log="$STATE/$(jget .log)"
	# the log holds the listing, "end", then the supervisor's own line
	[ "$(sed '/^end$/,$d' "$log" | sort -n | tr '\n' ' ')" = "0 1 2 " ] || { cat "$log" >&2; false; }
	run gov show --json T-01
	jqt '.status == "done"'
}

@test "prompts full of shell metacharacters arrive byte for byte and execute nothing" {
	calm_snapshot
	conf '[policy]' 'max_concurrent = 20'
	local canary="$BATS_TEST_TMPDIR/canary" p n   # not i: bats' run uses a global i
	local prompts=(
		"\$(touch $canary)"
		"\`touch $canary\`"
		"; touch $canary"
		"| touch $canary"
		"&& touch $canary || touch $canary"
		"'; touch $canary; echo '"
		"\"; touch $canary; echo \""
		$'first line\ntouch '"$canary"$'\n\tthird line with a tab'
		"\${IFS}touch\${IFS}$canary > /dev/null 2>&1 &"
		"<(touch $canary) >(touch $canary) {a,b} * ? [x] ~ !! \\ %s %n %% \\\\x41 \\u0000"
		'{"status":"READY","prompt":"json inside"} </script> \r'
	)
	for ((n = 0; n < ${#prompts[@]}; n++)); do
		printf '%s' "${prompts[n]}" >"$BATS_TEST_TMPDIR/p.$n"
		if ((n % 2)); then
			gov add "${prompts[n]}" >/dev/null
		else
			gov add - <"$BATS_TEST_TMPDIR/p.$n" >/dev/null
		fi
	done
	for ((n = 0; n < ${#prompts[@]}; n++)); do
		local id
		id=$(printf 'T-%02d' $((n + 1)))
		# check hands out T-(n+1): its recommendation.prompt is the prompt, byte for byte
		run --separate-stderr gov check --snapshot "$CALM"
		assert_decision READY
		[ "$(jget .recommendation.task_id)" = "$id" ]
		jq -j '.recommendation.prompt' <<<"$output" | cmp - "$BATS_TEST_TMPDIR/p.$n" || { echo "$output" >&2; false; }
		jq -j '.task.prompt' <<<"$output" | cmp - "$BATS_TEST_TMPDIR/p.$n"
		gov show --json "$id" | jq -j .prompt | cmp - "$BATS_TEST_TMPDIR/p.$n"
		gov pop "$id" | jq -j .prompt | cmp - "$BATS_TEST_TMPDIR/p.$n"
		gov list >/dev/null
	done
	# a legacy import carries them the same way
	jq -n --rawfile a "$BATS_TEST_TMPDIR/p.0" --rawfile b "$BATS_TEST_TMPDIR/p.7" '[{prompt: $a}, {prompt: $b}]' \
		>"$BATS_TEST_TMPDIR/legacy.json"
	gov import "$BATS_TEST_TMPDIR/legacy.json" >/dev/null
	gov show --json T-12 | jq -j .prompt | cmp - "$BATS_TEST_TMPDIR/p.0"
	gov show --json T-13 | jq -j .prompt | cmp - "$BATS_TEST_TMPDIR/p.7"
	# the journal (or the store's rows) and the history are still one JSON object per line
	if [ -z "${TEST_PG_FILE-}" ]; then
		jq -c . "$QF" >/dev/null
		[ "$(jq -c . "$QF" | wc -l)" -eq "$(wc -l <"$QF")" ]
	else
		psql_store "SELECT doc FROM governor_tasks" | jq -c . >/dev/null
	fi
	jq -c . "$STATE/history.jsonl" >/dev/null
	[ ! -e "$canary" ]
}

@test "governor run passes a hostile prompt as one argument and one variable, through no shell" {
	gov run --help >/dev/null 2>&1 || skip "governor run is not available"
	conf_ignore_host_load
	local canary="$BATS_TEST_TMPDIR/canary"
	local prompt="\$(touch $canary); \`touch $canary\` | touch $canary"$'\n'"'\"*"
	printf '%s' "$prompt" >"$BATS_TEST_TMPDIR/prompt"
	gov add "$prompt" >/dev/null
	run --separate-stderr gov run --wait -- /usr/bin/printf '%s' '{prompt}'
	[ "$status" -eq 0 ]
	# the log: the prompt exactly, then the supervisor's line
	head -c "$(stat -c %s "$BATS_TEST_TMPDIR/prompt")" "$STATE/$(jget .log)" | cmp - "$BATS_TEST_TMPDIR/prompt"
	gov add "$prompt" >/dev/null
	run --separate-stderr gov run --wait -- /usr/bin/env
	grep -a "^GOVERNOR_PROMPT=" "$STATE/$(jget .log)" >/dev/null
	[ ! -e "$canary" ]
}

@test "a secret never reaches a command line: the bearer token goes to governor-http on stdin" {
	command -v strace >/dev/null || skip "strace is not installed"
	[ -x "$(dirname "$GOVERNOR")/governor-http" ] || skip "no governor-http helper (HTTP sources not built)"
	local secret="tok-$RANDOM$RANDOM-secret"
	export SEC_TOKEN="$secret"
	conf_ignore_host_load
	conf '[sessions.gw]' 'type = http' 'url = http://127.0.0.1:1/sessions' 'token_env = SEC_TOKEN' \
		'json_path = count' 'timeout = 2s'
	gov add "task" >/dev/null
	run --separate-stderr strace -f -s 4096 -e trace=execve -o "$BATS_TEST_TMPDIR/execve" \
		"$GOVERNOR" -d "$STATE" -c "$CONF" -v check
	# the helper ran (so the token was handed over), the server was down: probe_failed
	grep -q 'governor-http' "$BATS_TEST_TMPDIR/execve"
	assert_decision DEFERRED probe_failed
	! grep -qF "$secret" "$BATS_TEST_TMPDIR/execve"
	[[ "$output$stderr" != *"$secret"* ]]
	! grep -rqF "$secret" "$STATE"
	[[ "$(gov config)" != *"$secret"* ]]
}

@test "credentials written into a source URL are refused, and never echoed" {
	conf_ignore_host_load
	conf '[sessions.gw]' 'type = http' 'url = http://admin:hunter2pass@127.0.0.1:1/x' 'timeout = 2s'
	run --separate-stderr gov add "task"
	[ "$status" -eq 78 ]
	[[ "$stderr" == *"may not carry credentials"* ]]
	run --separate-stderr gov check
	[ "$status" -eq 78 ]
	[[ "$output$stderr" != *hunter2pass* ]]
	run --separate-stderr gov config
	[ "$status" -eq 78 ]
	[[ "$output$stderr" != *hunter2pass* ]]
	! grep -rqF hunter2pass "$STATE"
}
