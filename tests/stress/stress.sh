#!/bin/bash
# stress.sh [--long]: many governors on one state dir at once; nothing lost, nothing handed out
# twice, never more in flight than max_concurrent.
#
#   8 adders     x ADDS `add` each (CI: 40, --long: 500)
#   4 checkers   loop check -> pop -> done until the adders are finished and the queue is empty
#   2 listers    loop `list` and `list --all --json`
#   1 archiver   `archive --older-than 0` every 0.3 s (moves done tasks out, compacts the journal)
#   1 follower   journal-follow: records every commit to queue.jsonl in commit order
#
# Config: max_concurrent = 1; the checkers decide on a calm recorded snapshot (check --snapshot),
# so the host's load cannot defer them and every DEFERRED is a lock or concurrency deferral.
#
# Checked at the end:
#  1. every add exited 0 and printed an id; ids are unique, and increasing within each adder;
#  2. the ids in the queue (list --all --json) plus those in archive/*.jsonl are exactly the
#     ids printed by add, none in both, each once, every one done;
#  3. no task was READY to two checkers: the READY task ids of all check outputs are unique and
#     are exactly the added ids; every pop and done of a READY task exited 0;
#  4. history.jsonl: every decision line has in_flight <= max_concurrent = 1; one READY, one pop
#     and one done event per task, in that order;
#  5. the commit order itself (the journal, as journal-follow saw it): every task went
#     pending -> claimed -> running -> done exactly once, and when a task was claimed no other
#     task was claimed or running (max_concurrent = 1, proven on the serialisation order of
#     commits, which the history log, written after each commit, cannot give);
#  6. every list and archive run exited 0; the journal and its .bak load.
#
# Environment: GOVERNOR (default build/governor/governor), JOURNAL_FOLLOW (the follower binary;
# default: compiled from journal-follow.c with cc), STRESS_ADDS (adds per adder),
# STRESS_KEEP=1 keeps the work dir.  Prints a summary line; exit 0 when every check held.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
long=0
case "${1:-}" in
--long) long=1 ;;
"") ;;
*) echo "usage: $0 [--long]" >&2; exit 64 ;;
esac
GOVERNOR="${GOVERNOR:-$repo/build/governor/governor}"
[ -x "$GOVERNOR" ] || { echo "stress: no governor binary at $GOVERNOR (set GOVERNOR)" >&2; exit 1; }
ADDERS=8 CHECKERS=4 LISTERS=2
ADDS="${STRESS_ADDS:-$([ "$long" = 1 ] && echo 500 || echo 40)}"
DEADLINE=$(( $(date +%s) + (long ? 1800 : 240) ))   # a bound on every loop

work=$(mktemp -d "${TMPDIR:-/tmp}/governor-stress.XXXXXX")
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ "${STRESS_KEEP:-0}" = 1 ] || [ "${failed:-0}" = 1 ]; then
		echo "stress: work dir kept: $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
failed=0
fail() {
	echo "stress: FAIL: $*" >&2
	failed=1
}

FOLLOW="${JOURNAL_FOLLOW:-}"
if [ -z "$FOLLOW" ]; then
	FOLLOW="$work/journal-follow"
	cc -O2 -o "$FOLLOW" "$here/journal-follow.c"
fi

STATE="$work/state" CONF="$work/governor.conf" CALM="$work/calm.json"
mkdir -m 700 "$STATE"
printf '[policy]\nmax_concurrent = 1\n' >"$CONF"
chmod 600 "$CONF"
printf '{"readings":{"cpu_percent":5,"mem_available_percent":80,"loadavg1":0.1,"ncpu":2,"disk_free_percent":50,"sessions":{"background":0,"interactive":0}}}\n' >"$CALM"
export GOVERNOR STATE CONF CALM work DEADLINE
gov() { "$GOVERNOR" -d "$STATE" -c "$CONF" "$@"; }
export -f gov
for v in $(compgen -e); do
	case "$v" in GOVERNOR_* | XDG_CONFIG_HOME | XDG_STATE_HOME) unset "$v" ;; esac
done

adder() {
	local i="$1" k out rc
	for ((k = 1; k <= ADDS; k++)); do
		rc=0
		out=$(gov add "stress adder $i task $k" 2>>"$work/add.$i.err") || rc=$?
		if [ "$rc" -eq 0 ]; then echo "$out" >>"$work/add.$i"; else echo "add rc $rc" >>"$work/add.$i.err"; fi
	done
	touch "$work/adder.$i.done"
}

checker() {
	local j="$1" out rc id adders_done
	while [ "$(date +%s)" -lt "$DEADLINE" ]; do
		adders_done=$(find "$work" -maxdepth 1 -name 'adder.*.done' | wc -l)
		rc=0
		out=$(gov check --snapshot "$CALM" 2>>"$work/check.$j.err") || rc=$?
		printf '%s\n' "$out" >>"$work/check.$j"
		[ "$rc" -eq 0 ] || { echo "check rc $rc" >>"$work/check.$j.err"; [ "$rc" -lt 126 ] || break; continue; }
		case "$out" in
		'{"status":"READY"'*)
			[[ "$out" =~ \"recommendation\":\{\"task_id\":\"(T-[0-9]+)\" ]] || { echo "no task id: $out" >>"$work/check.$j.err"; continue; }
			id="${BASH_REMATCH[1]}"
			rc=0; gov pop "$id" >/dev/null 2>>"$work/check.$j.err" || rc=$?
			echo "pop $id $rc" >>"$work/ops.$j"
			rc=0; gov done "$id" >/dev/null 2>>"$work/check.$j.err" || rc=$?
			echo "done $id $rc" >>"$work/ops.$j"
			;;
		'{"status":"NO_TASKS"'*)
			# Nothing pending: once every adder has finished, nothing new can appear.
			[ "$adders_done" -lt "$ADDERS" ] || break
			sleep 0.01
			;;
		*) sleep 0.002 ;;
		esac
	done
}

lister() {
	local j="$1" n=0 bad=0 out
	while [ ! -e "$work/stop" ] && [ "$(date +%s)" -lt "$DEADLINE" ]; do
		gov list >/dev/null 2>>"$work/list.$j.err" || bad=$((bad + 1))
		out=$(gov list --all --json 2>>"$work/list.$j.err") || bad=$((bad + 1))
		[[ "$out" == '['*']' ]] || bad=$((bad + 1))
		n=$((n + 2))
	done
	echo "$n $bad" >"$work/list.$j"
}

archiver() {
	local n=0 bad=0
	while [ ! -e "$work/stop" ] && [ "$(date +%s)" -lt "$DEADLINE" ]; do
		gov archive --older-than 0 >/dev/null 2>>"$work/archive.err" || bad=$((bad + 1))
		n=$((n + 1))
		sleep 0.3
	done
	echo "$n $bad" >"$work/archive"
}
export -f adder checker lister archiver
export ADDS ADDERS

start=$(date +%s%N)
"$FOLLOW" "$STATE" "$work/commits" "$work/stop" 2>"$work/follow.err" &
follower=$!
pids+=("$follower")
for ((i = 1; i <= ADDERS; i++)); do bash -c 'adder "$1"' _ "$i" & pids+=($!); done
for ((j = 1; j <= CHECKERS; j++)); do bash -c 'checker "$1"' _ "$j" & pids+=($!); checkers+=($!); done
for ((j = 1; j <= LISTERS; j++)); do bash -c 'lister "$1"' _ "$j" & pids+=($!); done
bash -c archiver & pids+=($!)

for pid in "${checkers[@]}"; do wait "$pid"; done
touch "$work/stop"
for pid in "${pids[@]}"; do wait "$pid" || fail "a worker (pid $pid) exited $?"; done
pids=()
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
elapsed="$((elapsed / 1000)).$(printf '%03d' $((elapsed % 1000)) | cut -c1)"
[ "$(date +%s)" -lt "$DEADLINE" ] || fail "the run hit its deadline"

# --- 1. adds ------------------------------------------------------------------------------
total=$((ADDERS * ADDS))
cat "$work"/add.*.err 2>/dev/null | head -n 5 >&2 || true
for ((i = 1; i <= ADDERS; i++)); do cat "$work/add.$i" 2>/dev/null || true; done | sort >"$work/added"
[ "$(wc -l <"$work/added")" -eq "$total" ] || fail "$(wc -l <"$work/added") ids printed by add, expected $total"
[ "$(sort -u "$work/added" | wc -l)" -eq "$total" ] || fail "add printed duplicate ids"
for ((i = 1; i <= ADDERS; i++)); do
	sed 's/^T-//' "$work/add.$i" 2>/dev/null | awk -v a="$i" 'NR > 1 && $1 + 0 <= prev + 0 { print "adder " a ": id T-" $1 " after T-" prev; bad = 1 } { prev = $1 } END { exit bad }' >&2 ||
		fail "ids not increasing within adder $i"
done

# --- 2. queue + archive ---------------------------------------------------------------------
gov list --all --json >"$work/final.json" || fail "final list exited $?"
jq -r '.[].id' "$work/final.json" | sort >"$work/in-queue"
if compgen -G "$STATE/archive/*.jsonl" >/dev/null; then
	cat "$STATE"/archive/*.jsonl | jq -r '.id' | sort >"$work/archived"
	cat "$STATE"/archive/*.jsonl | jq -r 'select(.status != "done") | .id' >"$work/archived-not-done"
else
	: >"$work/archived"
	: >"$work/archived-not-done"
fi
in_queue=$(wc -l <"$work/in-queue")
archived=$(wc -l <"$work/archived")
[ "$(sort -u "$work/in-queue" | wc -l)" -eq "$in_queue" ] || fail "an id is twice in the queue"
[ "$(sort -u "$work/archived" | wc -l)" -eq "$archived" ] || fail "an id is twice in the archive"
[ -z "$(comm -12 "$work/in-queue" "$work/archived")" ] || fail "ids both in the queue and in the archive"
sort "$work/in-queue" "$work/archived" | cmp -s - "$work/added" || fail "queue + archive ids differ from the ids add printed"
[ "$(jq '[.[] | select(.status != "done")] | length' "$work/final.json")" -eq 0 ] || fail "tasks left undone in the queue"
[ ! -s "$work/archived-not-done" ] || fail "archived tasks not done"

# --- 3. check outputs ------------------------------------------------------------------------
for ((j = 1; j <= CHECKERS; j++)); do cat "$work/check.$j"; done >"$work/checks"
nchecks=$(wc -l <"$work/checks")
jq -c . "$work/checks" >/dev/null || fail "a check printed something that is not JSON"
jq -r 'select(.status == "READY") | .recommendation.task_id' "$work/checks" | sort >"$work/ready"
nready=$(wc -l <"$work/ready")
[ "$(sort -u "$work/ready" | wc -l)" -eq "$nready" ] || fail "a task was READY to two checkers: $(uniq -d "$work/ready" | head -n 3 | tr '\n' ' ')"
cmp -s "$work/ready" "$work/added" || fail "READY ids ($nready) differ from the added ids ($total)"
bad_status=$(jq -r 'select(.status != "READY" and .status != "NO_TASKS" and .reason != "lock_held" and .reason != "concurrency_limit") | .status + " " + (.reason // "")' "$work/checks" | sort | uniq -c)
[ -z "$bad_status" ] || fail "unexpected decisions: $bad_status"
read -r deferred_lock deferred_conc no_tasks <<<"$(jq -s -r '"\(map(select(.reason == "lock_held")) | length) \(map(select(.reason == "concurrency_limit")) | length) \(map(select(.status == "NO_TASKS")) | length)"' "$work/checks")"
cat "$work"/ops.* >"$work/ops" 2>/dev/null || : >"$work/ops"
[ "$(awk '$3 != 0' "$work/ops" | wc -l)" -eq 0 ] || fail "pop or done failed: $(awk '$3 != 0' "$work/ops" | head -n 3 | tr '\n' ' ')"
grep -h . "$work"/check.*.err >&2 2>/dev/null && fail "checkers reported errors" || true

# --- 4. history ------------------------------------------------------------------------------
H="$STATE/history.jsonl"
[ ! -e "$STATE/history.jsonl.1" ] || H="$STATE/history.jsonl.1 $STATE/history.jsonl"
# shellcheck disable=SC2086
cat $H >"$work/history"
read -r ndecisions max_in_flight bad_max <<<"$(jq -s -r '[.[] | select(.event == "decision")] |
	"\(length) \(map(.in_flight) | max) \(map(select(.max_concurrent != 1)) | length)"' "$work/history")"
[ "$bad_max" -eq 0 ] || fail "decision lines with max_concurrent != 1"
[ "$max_in_flight" -le 1 ] || fail "a decision line says in_flight = $max_in_flight > max_concurrent = 1"
jq -s -e '[.[] | select(.event == "decision" and .status == "READY")] | all(.in_flight == 0)' "$work/history" >/dev/null ||
	fail "a READY decision was made with a task in flight"
order=$(jq -r 'select(.event == "decision" and .status == "READY") // select(.event == "pop" or .event == "done") |
	"\(.task_id) \(if .event == "decision" then "ready" else .event end)"' "$work/history" |
	awk '{ seq[$1] = seq[$1] " " $2 } END { for (id in seq) if (seq[id] != " ready pop done") { print id ":" seq[id]; bad++ } ; exit (bad > 0) }') ||
	fail "history events out of order or repeated: $(head -n 3 <<<"$order" | tr '\n' ' ')"
[ "$(jq -r 'select(.event == "decision" and .status == "READY") | .task_id' "$work/history" | sort | cmp -s - "$work/added" && echo ok)" = ok ] ||
	fail "READY decisions in the history differ from the added ids"

# --- 5. commit order ---------------------------------------------------------------------------
ncommits=$(wc -l <"$work/commits")
replay_status=0
replay=$(awk -v max=1 '
	{ id = $1; to = $2; from = (id in st) ? st[id] : "new" }
	from == "new" && to == "pending" { st[id] = to; next }
	from == "pending" && to == "claimed" {
		if (inflight + 1 > max) { print "T " id " claimed while " inflight " in flight: " running; bad++ }
		inflight++; claims[id]++; st[id] = to; peak = inflight > peak ? inflight : peak; running = running " " id; next }
	from == "claimed" && to == "running" { st[id] = to; next }
	from == "running" && to == "done" { inflight--; sub(" " id, "", running); st[id] = to; next }
	{ print "bad transition " id ": " from " -> " to " (line " NR ")"; bad++ }
	END {
		for (id in st) { n++; if (st[id] != "done") { print id " ends " st[id]; bad++ } if (claims[id] != 1) { print id " claimed " claims[id] + 0 " times"; bad++ } }
		print "tasks " n " peak " peak + 0
		exit (bad > 0) }' "$work/commits") || replay_status=$?
if [ "$replay_status" -ne 0 ] || ! tail -n 1 <<<"$replay" | grep -q "^tasks $total peak 1$"; then
	fail "commit order: $(head -n 5 <<<"$replay" | tr '\n' ';')"
fi
peak=$(tail -n 1 <<<"$replay" | sed -n 's/.* peak //p')
generations=$(grep -o '[0-9]* journal generations' "$work/follow.err" | cut -d' ' -f1)

# --- 6. listers, archiver, journal --------------------------------------------------------------
read -r nlists bad_lists < <(for ((j = 1; j <= LISTERS; j++)); do cat "$work/list.$j"; done | awk '{ n += $1; b += $2 } END { print n, b }')
read -r narchive bad_archive <"$work/archive"
[ "$bad_lists" -eq 0 ] || fail "$bad_lists list runs failed: $(head -n 3 "$work"/list.*.err | tr '\n' ' ')"
[ "$bad_archive" -eq 0 ] || fail "$bad_archive archive runs failed: $(head -n 3 "$work/archive.err" | tr '\n' ' ')"
tail -n +2 "$STATE/queue.jsonl" | jq -c . >/dev/null || fail "a journal line does not parse"
if [ -e "$STATE/queue.jsonl.bak" ]; then
	mkdir -m 700 "$work/bak"
	cp "$STATE/queue.jsonl.bak" "$work/bak/queue.jsonl"
	"$GOVERNOR" -d "$work/bak" -c "$CONF" list --all --json >/dev/null || fail "queue.jsonl.bak does not load"
fi

printf 'stress: %s adders x %s adds = %s tasks, %s checkers, %s listers, 1 archiver: %s s; %s checks (%s READY, %s lock_held, %s concurrency_limit, %s NO_TASKS), %s history decisions (max in_flight %s), %s commits followed over %s journal generations (peak in flight %s), %s list runs, %s archive runs, %s archived, %s left in the queue: %s\n' \
	"$ADDERS" "$ADDS" "$total" "$CHECKERS" "$LISTERS" "$elapsed" "$nchecks" "$nready" "$deferred_lock" "$deferred_conc" "$no_tasks" \
	"$ndecisions" "$max_in_flight" "$ncommits" "$generations" "${peak:-?}" "$nlists" "$narchive" "$archived" "$in_queue" \
	"$([ "$failed" = 0 ] && echo PASS || echo FAIL)"
exit "$failed"
