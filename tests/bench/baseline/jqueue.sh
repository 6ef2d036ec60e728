#!/bin/sh
# jqueue.sh FILE COMMAND [ARGS]: the baseline of the benchmark (issue 5).  The kind of queue users
# script today: one JSON document (a pending_tasks.json array, as `governor import` reads it),
# managed with POSIX sh, jq and flock.  Written to be reasonable, not a straw man:
#   - one jq process per command (it parses the whole file: that is the cost of the format);
#   - writers serialise on flock(1) and replace the file by rename (mv), so readers need no lock;
#   - compact JSON (jq -c), times from jq's own clock (no date(1) process);
#   - no fsync (governor's add and claim do fdatasync; this baseline does not pay for that).
# A task without "status" is pending.  There are no ids (the legacy format has none): pop takes
# the oldest claim, as `governor pop` does without an ID.
#
#   add [-p PRIORITY] PROMPT    append a pending task
#   check [-n]                  probe-less decision: NO_TASKS, DEFERRED (concurrency_limit: claimed
#                               or running >= JQUEUE_MAX_CONCURRENT, default 1) or READY; without
#                               -n the chosen task is marked claimed.  One JSON line on stdout.
#   pop                         the oldest claimed task becomes running
#   list                        the pending tasks as one JSON array
set -eu
q=$1
cmd=$2
shift 2
max=${JQUEUE_MAX_CONCURRENT:-1}

lock() {
	exec 9>>"$q.lock"
	flock -w 10 9
}

case $cmd in
add)
	prio=1
	if [ "${1-}" = -p ]; then
		prio=$2
		shift 2
	fi
	lock
	jq -c --arg p "$1" --argjson pr "$prio" \
		'. + [{prompt: $p, priority: $pr, added_at: (now | todate), status: "pending",
		       metadata: {source: "cli", retry_count: 0}}]' "$q" > "$q.tmp"
	mv -f "$q.tmp" "$q"
	;;
check)
	dry=0
	if [ "${1-}" = -n ]; then
		dry=1
	fi
	# Output line 1: the decision; line 2 (READY without -n only): the new document.
	# shellcheck disable=SC2016 # jq variables, not shell ones
	filter='(now | todate) as $now
		| [to_entries[] | select((.value.status // "pending") == "pending")] as $p
		| ([.[] | select(.status == "claimed" or .status == "running")] | length) as $inflight
		| if ($p | length) == 0 then
			{status: "NO_TASKS", pending_count: 0, decided_at: $now}
		  elif $inflight >= $max then
			{status: "DEFERRED", reason: "concurrency_limit",
			 detail: "\($inflight) in flight, limit \($max)",
			 pending_count: ($p | length), in_flight: $inflight, decided_at: $now}
		  else
			($p | min_by([-(.value.priority), .value.added_at, .key])) as $t
			| {status: "READY", task: $t.value,
			   recommendation: {prompt: $t.value.prompt,
			                    model: ($t.value.model // "google-gemini-flash")},
			   pending_count: ($p | length), in_flight: $inflight, decided_at: $now},
			  (if $dry == 1 then empty
			   else .[$t.key] |= . + {status: "claimed", claimed_at: $now} end)
		  end'
	if [ "$dry" = 1 ]; then
		# Readers take no lock: writers replace the file by rename.
		exec jq -c --argjson max "$max" --argjson dry 1 "$filter" "$q"
	fi
	lock
	jq -c --argjson max "$max" --argjson dry 0 "$filter" "$q" > "$q.out"
	{
		IFS= read -r decision
		cat > "$q.tmp"
	} < "$q.out"
	if [ -s "$q.tmp" ]; then
		mv -f "$q.tmp" "$q"
	fi
	printf '%s\n' "$decision"
	;;
pop)
	lock
	jq -c '(now | todate) as $now
		| (first(to_entries[] | select(.value.status == "claimed") | .key) // null) as $k
		| if $k == null then error("no claimed task")
		  else .[$k] |= . + {status: "running", started_at: $now} end' "$q" > "$q.tmp"
	mv -f "$q.tmp" "$q"
	;;
list)
	jq -c '[.[] | select((.status // "pending") == "pending")]' "$q"
	;;
*)
	echo "usage: jqueue.sh FILE add|check|pop|list [ARGS]" >&2
	exit 64
	;;
esac
