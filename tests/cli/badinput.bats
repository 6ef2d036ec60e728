#!/usr/bin/env bats
# badinput.bats: the bad input corpus, tests/fixtures/bad/MANIFEST.
#
# Every case is fed to the real binary the way its KIND says (see the MANIFEST header); each
# command must exit with the documented code, print a message matching the case's regex on
# stderr, and change nothing on disk: the state dir, seeded with two tasks, is checksummed
# before and after.  The checksum leaves out the lock files (lock, queue.lock, lock.break): a
# check records its pid in `lock` by design, whatever it then decides.
#
# One test per kind runs all its cases and reports every failing case, not just the first.

load helpers

: "${FIXTURES:=$BATS_TEST_DIRNAME/../fixtures}"
BAD="$FIXTURES/bad"

# The cases of one kind: "FILE<TAB>EXIT<TAB>REGEX" lines.
cases() {
	grep -v '^#' "$BAD/MANIFEST" | awk -F'\t' -v k="$1" '$2 == k { print $1 "\t" $3 "\t" $4 }'
}

# input FILE: the path of the case's input (a .gen script's output is made once per test).
input() {
	if [[ "$1" == *.gen ]]; then
		local out="$BATS_TEST_TMPDIR/gen.${1%.gen}"
		[ -e "$out" ] || bash "$BAD/$1" >"$out"
		echo "$out"
	else
		echo "$BAD/$1"
	fi
}

# A fresh state dir with T-01 and T-02; the index written, so readers have nothing to rebuild.
seed() {
	rm -rf "$STATE"
	mkdir -m 700 "$STATE"
	gov add "first" >/dev/null
	gov add "second" >/dev/null
	gov list >/dev/null
}

checksum() {
	(cd "$STATE" && find . \( -name lock -o -name queue.lock -o -name lock.break \) -prune -o -type f -print0 |
		sort -z | xargs -0r sha256sum; find . -printf '%p %m\n' | grep -v -e '^./lock ' -e '^./queue.lock ' -e '^./lock.break ' | sort)
}

FAILURES=()
# expect CASE WHAT EXIT REGEX: judge the last `run --separate-stderr` and the state dir.
expect() {
	local name="$1" what="$2" code="$3" regex="$4"
	if [ "$status" -ne "$code" ]; then
		FAILURES+=("$name ($what): exit $status, expected $code; stderr: $stderr")
	elif ! [[ "$stderr" =~ $regex ]]; then
		FAILURES+=("$name ($what): stderr does not match /$regex/: $stderr")
	elif [ "$(checksum)" != "$BEFORE" ]; then
		FAILURES+=("$name ($what): the state dir changed")
	fi
}

report() {
	local n="$1"
	[ "$n" -gt 0 ] || { echo "no cases of this kind" >&2; return 1; }
	if [ "${#FAILURES[@]}" -gt 0 ]; then
		printf '%s\n' "${FAILURES[@]}" >&2
		return 1
	fi
	echo "# $n cases" >&3
}

@test "the manifest lists at least 40 cases, every file in the corpus, and only files that exist" {
	local n files
	n=$(grep -vc '^#' "$BAD/MANIFEST")
	[ "$n" -ge 40 ]
	run bash -c "grep -v '^#' '$BAD/MANIFEST' | awk -F'\t' 'NF != 4 || \$3 !~ /^[0-9]+\$/'"
	[ -z "$output" ] || { echo "malformed lines: $output" >&2; false; }
	for f in "$BAD"/*; do
		f="${f##*/}"
		[ "$f" = MANIFEST ] && continue
		grep -q "^$f	" "$BAD/MANIFEST" || { echo "$f is not in the manifest" >&2; false; }
	done
	while IFS=$'\t' read -r f _; do
		[ -e "$BAD/$f" ] || { echo "$f is missing" >&2; false; }
	done < <(grep -v '^#' "$BAD/MANIFEST")
	# every kind is represented
	for k in journal config snapshot legacy-import prompt argv; do
		[ -n "$(cases "$k")" ] || { echo "no $k case" >&2; false; }
	done
}

@test "corrupt journals: every reader and writer refuses them, and nothing is written over them" {
	calm_snapshot
	local n=0 file code regex
	while IFS=$'\t' read -r file code regex; do
		n=$((n + 1))
		seed
		cp "$(input "$file")" "$QF"
		chmod 600 "$QF"
		rm -f "$STATE/queue.idx"
		BEFORE=$(checksum)
		run --separate-stderr gov list --all --json
		expect "$file" list "$code" "$regex"
		[ -z "$output" ] || FAILURES+=("$file (list): printed $output")
		run --separate-stderr gov add "a new task"
		expect "$file" add "$code" "$regex"
		run --separate-stderr gov check --snapshot "$CALM"
		expect "$file" check "$code" "$regex"
		jq -e '.status == "ERROR" and .error.code == "queue_corrupt"' <<<"$output" >/dev/null 2>&1 ||
			FAILURES+=("$file (check): not an ERROR queue_corrupt line: $output")
		run --separate-stderr gov pop
		expect "$file" pop "$code" "$regex"
		run --separate-stderr gov done T-01
		expect "$file" done "$code" "$regex"
	done < <(cases journal)
	report "$n"
}

@test "bad configs: config --check and add exit 78 naming the file and line; nothing is touched" {
	local n=0 file code regex cfg
	while IFS=$'\t' read -r file code regex; do
		n=$((n + 1))
		seed
		cfg=$(input "$file")
		chmod go-w "$cfg" 2>/dev/null || true
		BEFORE=$(checksum)
		run --separate-stderr "$GOVERNOR" -d "$STATE" -c "$cfg" config --check
		expect "$file" "config --check" "$code" "$regex"
		run --separate-stderr "$GOVERNOR" -d "$STATE" -c "$cfg" add "a new task"
		expect "$file" add "$code" "$regex"
		[ -z "$output" ] || FAILURES+=("$file (add): printed $output")
	done < <(cases config)
	report "$n"
}

@test "bad snapshots: check --snapshot prints an ERROR line and exits 65; nothing is claimed" {
	local n=0 file code regex
	while IFS=$'\t' read -r file code regex; do
		n=$((n + 1))
		seed
		BEFORE=$(checksum)
		run --separate-stderr gov check --snapshot "$(input "$file")"
		expect "$file" check "$code" "$regex"
		jq -e '.status == "ERROR" and .error.code == "bad_snapshot"' <<<"$output" >/dev/null 2>&1 ||
			FAILURES+=("$file (check): not an ERROR bad_snapshot line: $output")
	done < <(cases snapshot)
	report "$n"
}

@test "bad legacy files: import exits 65 and queues nothing" {
	local n=0 file code regex
	while IFS=$'\t' read -r file code regex; do
		n=$((n + 1))
		seed
		BEFORE=$(checksum)
		run --separate-stderr gov import "$(input "$file")"
		expect "$file" import "$code" "$regex"
	done < <(cases legacy-import)
	report "$n"
}

@test "bad prompts on stdin: add - exits 65 and queues nothing" {
	local n=0 file code regex
	while IFS=$'\t' read -r file code regex; do
		n=$((n + 1))
		seed
		BEFORE=$(checksum)
		run --separate-stderr gov add - <"$(input "$file")"
		expect "$file" "add -" "$code" "$regex"
		[ -z "$output" ] || FAILURES+=("$file (add -): printed $output")
	done < <(cases prompt)
	report "$n"
}

@test "bad arguments: the documented exit code and message; nothing changes" {
	local n=0 file code regex args
	while IFS=$'\t' read -r file code regex; do
		n=$((n + 1))
		seed
		mapfile -t args <"$(input "$file")"
		BEFORE=$(checksum)
		run --separate-stderr gov "${args[@]}"
		expect "$file" "${args[*]}" "$code" "$regex"
	done < <(cases argv)
	report "$n"
}
