#!/usr/bin/env bats
# diskfull.bats: a full filesystem and a read-only one under the state dir.
#
# As root, each test mounts a small filesystem (a 1 MiB tmpfs, or a 4 MiB ext4 image on a loop
# device for the real fdatasync path) at $MNT and puts the state dir on it; teardown unmounts it.
# Not root, or the mount fails (a container without CAP_SYS_ADMIN): skipped with a message.
#
# "Full" means: a filler file takes every free block, so the next write that needs a new block
# fails with ENOSPC.  Every refused command must exit 1 with "No space left on device" and leave
# the journal byte for byte as it was; readers keep working.

load ../cli/helpers

MNT=

mount_small() {
	local kind="$1"
	[ "$(id -u)" -eq 0 ] || skip "needs root to mount a small filesystem"
	MNT="$BATS_TEST_TMPDIR/mnt"
	mkdir -p "$MNT"
	case "$kind" in
	tmpfs)
		mount -t tmpfs -o size=1m,mode=700 tmpfs "$MNT" 2>/dev/null || skip "cannot mount a tmpfs here"
		;;
	ext4)
		command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 is not installed"
		truncate -s 4M "$BATS_TEST_TMPDIR/fs.img"
		mkfs.ext4 -q -F -m 0 "$BATS_TEST_TMPDIR/fs.img" >/dev/null 2>&1 || skip "mkfs.ext4 failed"
		mount -o loop "$BATS_TEST_TMPDIR/fs.img" "$MNT" 2>/dev/null || skip "cannot mount a loop device here"
		chmod 700 "$MNT"
		;;
	esac
	STATE="$MNT/state"
	QF="$STATE/queue.jsonl"
	mkdir -m 700 "$STATE"
}

teardown() {
	if [ -n "$MNT" ] && mountpoint -q "$MNT"; then
		umount "$MNT" 2>/dev/null || umount -l "$MNT"
	fi
	local pid
	while read -r pid; do [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; done <"$PIDS" || true
	return 0
}

# fill [KB]: take every free block but KB KiB (default 0) with filler files (ENOSPC ends dd).
fill() {
	local leave="${1:-0}" avail
	if [ "$leave" -gt 0 ]; then
		avail=$(df -k --output=avail "$MNT" | tail -n 1 | tr -d ' ')
		dd if=/dev/zero of="$MNT/filler" bs=1k count=$((avail - leave)) 2>/dev/null || true
		sync -f "$MNT" 2>/dev/null || true
		return 0
	fi
	dd if=/dev/zero of="$MNT/filler" bs=4k 2>/dev/null || true
	dd if=/dev/zero of="$MNT/filler2" bs=512 2>/dev/null || true
	sync -f "$MNT" 2>/dev/null || true
	avail=$(df -k --output=avail "$MNT" | tail -n 1 | tr -d ' ')
	[ "$avail" -le 4 ] || { echo "filesystem not full: $avail KiB free" >&2; return 1; }
}

# A prompt that needs new blocks whatever slack the journal's last block has: 60 KB.
big_prompt() {
	head -c 45000 /dev/urandom | base64 -w 0 | head -c 60000 >"$BATS_TEST_TMPDIR/big"
}

# save / unchanged: the journal (and the whole state dir listing) as before the refused command.
save() {
	cp "$QF" "$BATS_TEST_TMPDIR/journal.before"
	gov list --all --json >"$BATS_TEST_TMPDIR/list.before"
}
unchanged() {
	cmp "$QF" "$BATS_TEST_TMPDIR/journal.before"
	run --separate-stderr gov list --all --json
	[ "$status" -eq 0 ]
	[ "$output" = "$(cat "$BATS_TEST_TMPDIR/list.before")" ]
	[ -z "$(find "$STATE" -name '*.tmp.*')" ]
}

add_fails_cleanly() {
	big_prompt
	for i in 1 2 3; do gov add "task $i" >/dev/null; done
	save
	fill
	run --separate-stderr gov add - <"$BATS_TEST_TMPDIR/big"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ "$stderr" == "governor: cannot write queue 'queue.jsonl': No space left on device" ]]
	unchanged
	# a short add may fit in the journal's last block, or fail the same way; never half-written
	local n=3
	run --separate-stderr gov add "short"
	if [ "$status" -ne 0 ]; then
		[ "$status" -eq 1 ]
		[[ "$stderr" == *"No space left on device"* ]]
		unchanged
	else
		[ "$output" = "T-04" ]
		n=4
	fi
	# space again: adds work, and every line of the journal parses
	rm -f "$MNT/filler" "$MNT/filler2"
	run --separate-stderr gov add - <"$BATS_TEST_TMPDIR/big"
	[ "$status" -eq 0 ]
	[ "$output" = "T-0$((n + 1))" ]
	jq -c . "$QF" >/dev/null
	run gov list --json
	jqt "length == $((n + 1))"
}

@test "tmpfs full: add exits 1 with ENOSPC and the journal is byte-identical" {
	mount_small tmpfs
	add_fails_cleanly
}

@test "ext4 full (loop device, real fdatasync): add exits 1 with ENOSPC and the journal is byte-identical" {
	mount_small ext4
	add_fails_cleanly
}

@test "disk full: the first add, which creates the journal, fails and leaves no journal and no temp file" {
	mount_small tmpfs
	big_prompt
	fill
	run --separate-stderr gov add - <"$BATS_TEST_TMPDIR/big"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ "$stderr" == *"cannot write queue 'queue.jsonl': No space left on device"* ]]
	[ ! -e "$QF" ]
	[ -z "$(find "$STATE" -name '*.tmp.*')" ]
	run --separate-stderr gov list --json
	[ "$status" -eq 0 ]
	[ "$output" = "[]" ]
}

@test "disk full: a claim fails with an ERROR line, the queue unchanged; readers and dry runs still work" {
	mount_small tmpfs
	big_prompt
	calm_snapshot
	gov add - <"$BATS_TEST_TMPDIR/big" >/dev/null
	gov check --snapshot "$CALM" >/dev/null     # creates the lock file while there is room
	gov pop >/dev/null
	gov done T-01 >/dev/null
	gov add - <"$BATS_TEST_TMPDIR/big" >/dev/null
	save
	fill
	run --separate-stderr gov check --snapshot "$CALM"
	[ "$status" -eq 1 ]
	assert_json_line
	jqt '.status == "ERROR" and (.error.code == "claim_failed" or .error.code == "lock_failed")'
	jqt '.error.message | test("No space left on device")'
	[[ "$stderr" == *"No space left on device"* ]]
	unchanged
	run --separate-stderr gov -n check --snapshot "$CALM"
	[ "$status" -eq 0 ]
	assert_decision READY
	run --separate-stderr gov show T-02
	[ "$status" -eq 0 ]
}

@test "disk full: archive fails with exit 1; no task is lost and the archive has no torn line" {
	mount_small ext4
	big_prompt
	for i in 1 2 3 4 5 6; do gov add - <"$BATS_TEST_TMPDIR/big" >/dev/null; gov done "T-0$i" >/dev/null; done
	gov archive --older-than 0 >/dev/null          # archive/ exists, with six whole lines
	for i in 7 8 9; do gov add - <"$BATS_TEST_TMPDIR/big" >/dev/null; gov done "T-0$i" >/dev/null; done
	save
	fill 100            # room for part of the three 60 KB lines, not all: a short write
	run --separate-stderr gov archive --older-than 0
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"No space left on device"* ]]
	unchanged
	# every archive line is whole, and the three tasks are still in the queue, done
	for f in "$STATE"/archive/*.jsonl; do
		[ -z "$(tail -c 1 "$f")" ]
		jq -c . "$f" >/dev/null
	done
	run gov list --all --json
	jqt '[.[].id] == ["T-07","T-08","T-09"] and all(.[]; .status == "done")'
	# with space again they move, and the archive stays whole
	rm -f "$MNT/filler" "$MNT/filler2"
	run --separate-stderr gov archive --older-than 0
	[ "$status" -eq 0 ]
	for f in "$STATE"/archive/*.jsonl; do jq -c . "$f" >/dev/null; done
	[ "$(cat "$STATE"/archive/*.jsonl | jq -r .id | sort -u | wc -l)" -eq 9 ]
}

@test "disk full during a compaction: the commit stands, the compaction is skipped, no temp file is left" {
	mount_small ext4
	big_prompt
	for i in 1 2 3 4 5 6 7 8; do gov add - <"$BATS_TEST_TMPDIR/big" >/dev/null; done
	# supersede lines until the journal is over 1 MiB and mostly dead; stop one commit short
	local verb=cancel tries=0 expect
	while [ "$(stat -c %s "$QF")" -lt $((1024 * 1024 - 62000)) ] && [ $((tries += 1)) -lt 100 ]; do
		gov $verb T-01 >/dev/null
		if [ $verb = cancel ]; then verb=retry; else verb=cancel; fi
	done
	[ ! -e "$STATE/queue.jsonl.bak" ]
	# the next $verb crosses 1 MiB
	# leave room for one more appended line, not for a compacted copy (~500 KB)
	dd if=/dev/zero of="$MNT/filler" bs=1k count=$(( $(df -k --output=avail "$MNT" | tail -n 1) - 200 )) 2>/dev/null
	cp "$QF" "$BATS_TEST_TMPDIR/journal.before"
	run --separate-stderr gov $verb T-01
	[ "$status" -eq 0 ]
	[ "$(stat -c %s "$QF")" -gt $((1024 * 1024)) ]
	[ ! -e "$STATE/queue.jsonl.bak" ]              # no compaction happened
	[ -z "$(find "$STATE" -name '*.tmp.*')" ]
	# the journal is the old one plus the committed line
	[ "$(head -c "$(stat -c %s "$BATS_TEST_TMPDIR/journal.before")" "$QF" | cmp - "$BATS_TEST_TMPDIR/journal.before" && echo same)" = same ]
	if [ $verb = cancel ]; then expect=cancelled verb=retry; else expect=pending verb=cancel; fi
	run gov show --json T-01
	jqt ".status == \"$expect\""
	rm -f "$MNT/filler"
	run --separate-stderr gov $verb T-01
	[ "$status" -eq 0 ]
	[ -e "$STATE/queue.jsonl.bak" ]                # and with room, the next commit compacts
	[ "$(gov list --all --json | jq length)" -eq 8 ]
}

@test "read-only state dir: writers exit 1 naming the read-only filesystem; readers work" {
	mount_small tmpfs
	calm_snapshot
	gov add "one" >/dev/null
	gov add "two" >/dev/null
	save
	mount -o remount,ro "$MNT"
	run --separate-stderr gov add "three"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "$stderr" = "governor: cannot open data lock 'queue.lock': Read-only file system" ]
	run --separate-stderr gov check --snapshot "$CALM"
	[ "$status" -eq 1 ]
	jqt '.status == "ERROR" and (.error.message | test("Read-only file system"))'
	[[ "$stderr" == *"Read-only file system"* ]]
	for verb in pop "done T-01" "cancel T-01" "archive --older-than 0"; do
		run --separate-stderr gov $verb
		[ "$status" -eq 1 ] || { echo "$verb exited $status" >&2; false; }
		[[ "$stderr" == *"Read-only file system"* ]] || { echo "$verb: $stderr" >&2; false; }
	done
	run --separate-stderr gov list --json
	[ "$status" -eq 0 ]
	jqt '[.[].id] == ["T-01","T-02"]'
	run --separate-stderr gov -n check --snapshot "$CALM"
	[ "$status" -eq 0 ]
	assert_decision READY
	mount -o remount,rw "$MNT"
	unchanged
}

@test "a state dir that cannot be created (read-only parent) is a clear error" {
	mount_small tmpfs
	mount -o remount,ro "$MNT"
	run --separate-stderr "$GOVERNOR" -d "$MNT/new/state" -c "$CONF" add "x"
	[ "$status" -eq 1 ]
	[[ "$stderr" == "governor: cannot create state dir '$MNT/new/state': Read-only file system" ]]
}
