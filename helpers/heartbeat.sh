#!/bin/sh
# heartbeat.sh: one heartbeat cycle with nothing but governor and POSIX sh + awk.
#
#   heartbeat.sh [-c FILE] [-d STATE_DIR] [-t DUR] [-q] [--] CMD [ARG...]
#   HEARTBEAT_CMD='CMD ARG...' heartbeat.sh [-c FILE] [-d STATE_DIR] [-t DUR] [-q]
#
# 1. `governor check --exit-code`: NO_TASKS, DEFERRED or a held lock end the cycle (exit 0).
# 2. READY: CMD is started with these whole arguments replaced, never through a shell:
#      {id}  {prompt}  {model}  {fallback_model}   (an empty string when there is no fallback)
#    and with GOVERNOR_TASK_ID, GOVERNOR_PROMPT, GOVERNOR_MODEL, GOVERNOR_FALLBACK_MODEL in its
#    environment.  The values are the decision line's recommendation, byte for byte.
# 3. `governor pop ID` confirms the spawn (if the pop fails, the task is not ours: CMD is stopped).
# 4. The script waits for CMD and reports `governor done ID`, or `governor fail ID --reason ...`
#    for a non-zero exit status, a timeout (-t) or a signal that stopped the heartbeat.
#
# HEARTBEAT_CMD is split at blanks with globbing off; it has no quoting: use arguments (or a
# wrapper script) for words with spaces.  The prompt is never split: placeholders are replaced
# after splitting.  -c and -d set GOVERNOR_CONFIG and GOVERNOR_STATE_DIR for every governor call
# (and CMD).  -t DUR (or HEARTBEAT_TIMEOUT; seconds, or with s, m, h) sends SIGTERM to CMD after
# DUR and SIGKILL HEARTBEAT_GRACE seconds (default 10) later; keep it below policy.lease.
# GOVERNOR names the governor binary (default: governor from PATH).
#
# How the values are read without jq: `check --exit-code` tells READY by its exit status, and the
# small awk program below walks the one JSON line (governor prints exactly one) and decodes the
# string at a key path (every JSON escape, \uXXXX and surrogate pairs included) to raw bytes.
# Prompts cannot contain NUL, so every value fits in a shell variable.
#
# Exit status: 0 nothing to run or the task was done; 1 the task failed (reported as fail);
# 2 governor failed; 64 usage; 127 CMD not found.

set -u

me=heartbeat
quiet=
timeout=${HEARTBEAT_TIMEOUT:-0}
grace=${HEARTBEAT_GRACE:-10}
gov=${GOVERNOR:-governor}

say() { [ -n "$quiet" ] || printf '%s: %s\n' "$me" "$*" >&2; }
die() { code=$1; shift; printf '%s: %s\n' "$me" "$*" >&2; exit "$code"; }
usage() { # [STATUS]
	printf 'usage: heartbeat.sh [-c FILE] [-d STATE_DIR] [-t DUR] [-q] [--] CMD [ARG...]\n' >&2
	printf '       (or CMD from HEARTBEAT_CMD); placeholders: {id} {prompt} {model} {fallback_model}\n' >&2
	exit "${1:-64}"
}

# seconds DUR: a duration (N, Ns, Nm, Nh) in seconds.
seconds() {
	case $1 in
	'' | *[!0-9smh]* | [smh]* | *[smh]?*) return 1 ;;
	*s) echo "${1%s}" ;;
	*m) echo $((${1%m} * 60)) ;;
	*h) echo $((${1%h} * 3600)) ;;
	*) echo "$1" ;;
	esac
}

while getopts c:d:t:qh opt; do
	case $opt in
	c) GOVERNOR_CONFIG=$OPTARG && export GOVERNOR_CONFIG ;;
	d) GOVERNOR_STATE_DIR=$OPTARG && export GOVERNOR_STATE_DIR ;;
	t) timeout=$OPTARG ;;
	q) quiet=1 ;;
	h) usage 0 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))

timeout=$(seconds "$timeout") || die 64 "bad timeout '$timeout' (seconds, or with s, m, h)"
grace=$(seconds "$grace") || die 64 "bad HEARTBEAT_GRACE '$grace'"

if [ $# -eq 0 ]; then
	[ -n "${HEARTBEAT_CMD:-}" ] || usage
	set -f
	# shellcheck disable=SC2086 # split at blanks on purpose; globbing is off
	set -- $HEARTBEAT_CMD
	set +f
	[ $# -gt 0 ] || usage
fi
command -v -- "$1" >/dev/null 2>&1 || die 127 "cannot run '$1': not found"

# The JSON walker: prints the value at key path `want` (a.b.c) of the first input line; strings
# decoded to raw bytes, numbers and booleans as written.  Exit 1: missing or null; 2: bad JSON.
# shellcheck disable=SC2016 # awk code, not shell
jget_awk='
function bad(msg) { printf "heartbeat: cannot read the decision line: %s\n", msg > "/dev/stderr"; err = 1; exit }
function ws() { while (p <= n && index(" \t\r", substr(s, p, 1))) p++ }
function strtok(   t) {
	if (!match(substr(s, p), /^"([^"\\]|\\.)*"/)) bad("unterminated string")
	t = substr(s, p + 1, RLENGTH - 2); p += RLENGTH; return t
}
function value(path,   c, k, t) {
	ws(); c = substr(s, p, 1)
	if (c == "{") {
		p++; ws()
		if (substr(s, p, 1) == "}") { p++; return }
		for (;;) {
			ws(); if (substr(s, p, 1) != "\"") bad("expected a key")
			k = strtok(); ws()
			if (substr(s, p, 1) != ":") bad("expected a colon"); p++
			value(path == "" ? k : path "." k)
			ws(); c = substr(s, p, 1); p++
			if (c == "}") return
			if (c != ",") bad("expected , or }")
		}
	}
	if (c == "[") {
		p++; ws()
		if (substr(s, p, 1) == "]") { p++; return }
		for (;;) {
			value(path "[]"); ws(); c = substr(s, p, 1); p++
			if (c == "]") return
			if (c != ",") bad("expected , or ]")
		}
	}
	if (c == "\"") { t = strtok(); if (path == want) { emit(t); found = 1; exit } return }
	if (match(substr(s, p), /^(-?[0-9][-+.eE0-9]*|true|false|null)/)) {
		t = substr(s, p, RLENGTH); p += RLENGTH
		if (path == want) { if (t != "null") { printf "%s", t; found = 1 } exit }
		return
	}
	bad("unexpected character at byte " p)
}
function raw(x,   m, j, part) {
	m = split(x, part, /\001/)
	for (j = 1; j <= m; j++) { if (j > 1) printf "\\"; printf "%s", part[j] }
}
function hex4(h,   i, v) {
	if (h !~ /^[0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f][0-9A-Fa-f]$/) bad("bad \\u escape")
	v = 0
	for (i = 1; i <= 4; i++) v = v * 16 + index("0123456789abcdef", tolower(substr(h, i, 1))) - 1
	return v
}
function utf8(cp) {
	if (cp < 128) return sprintf("%c", cp)
	if (cp < 2048) return sprintf("%c%c", 192 + int(cp / 64), 128 + cp % 64)
	if (cp < 65536) return sprintf("%c%c%c", 224 + int(cp / 4096), 128 + int(cp / 64) % 64, 128 + cp % 64)
	return sprintf("%c%c%c%c", 240 + int(cp / 262144), 128 + int(cp / 4096) % 64, 128 + int(cp / 64) % 64, 128 + cp % 64)
}
function emit(t,   m, i, seg, c, rest, cp, lo, out) {
	gsub(/\\\\/, "\001", t)          # escaped backslashes out of the way: no raw control
	m = split(t, seg, /\\/)           # bytes are in a JSON string, so \001 is free
	raw(seg[1])
	for (i = 2; i <= m; i++) {
		c = substr(seg[i], 1, 1); rest = substr(seg[i], 2)
		if (c == "n") out = "\n"; else if (c == "t") out = "\t"; else if (c == "r") out = "\r"
		else if (c == "\"") out = "\""; else if (c == "/") out = "/"
		else if (c == "b") out = "\b"; else if (c == "f") out = "\f"
		else if (c == "u") {
			cp = hex4(substr(rest, 1, 4)); rest = substr(rest, 5)
			if (cp >= 55296 && cp < 56320 && rest == "" && i < m && seg[i + 1] ~ /^u[dD][c-fC-F]/) {
				lo = hex4(substr(seg[i + 1], 2, 4)); i++; rest = substr(seg[i], 6)
				cp = 65536 + (cp - 55296) * 1024 + (lo - 56320)
			}
			if (cp == 0) bad("NUL in a string")
			out = utf8(cp)
		} else bad("bad escape")
		printf "%s", out; raw(rest)
	}
}
NR == 1 { s = $0; n = length(s); p = 1; value("") }
END { if (err) exit 2; exit found ? 0 : 1 }
'

# stop SIG: signal CMD's process group, or CMD alone before it has one (or without setsid).
stop() {
	[ -n "$child" ] || return 0
	kill -"$1" -"$child" 2>/dev/null || kill -"$1" "$child" 2>/dev/null
}

line=
# jget PATH: the value at PATH in the decision line, exactly (trailing newlines kept).
jget() {
	printf '%s\n' "$line" | LC_ALL=C awk -v want="$1" "$jget_awk"
}

line=$("$gov" check --exit-code)
rc=$?
case $rc in
0) ;;
3)
	say "NO_TASKS"
	exit 0
	;;
75 | 2)
	say "DEFERRED $(jget reason) $(jget detail)"
	exit 0
	;;
*)
	msg=$(jget error.message) || msg="(no decision line)"
	die 2 "governor check failed (status $rc): $msg"
	;;
esac

# READY.  Each value gets a trailing '.' inside the substitution so that trailing newlines survive.
id=$(jget recommendation.task_id) || die 2 "READY without recommendation.task_id: $line"
case $id in T-[0-9]*) ;; *) die 2 "unexpected task id '$id'" ;; esac
model=$(jget recommendation.model && echo .) || die 2 "READY without recommendation.model"
model=${model%.}
fallback=$(jget recommendation.fallback_model && echo .) || fallback=.
fallback=${fallback%.}
prompt=$(jget recommendation.prompt && echo .) || die 2 "READY without recommendation.prompt"
prompt=${prompt%.}

# Replace whole-argument placeholders; the for list is expanded once, so appending is safe.
n=$#
for a in "$@"; do
	case $a in
	'{id}') a=$id ;;
	'{prompt}') a=$prompt ;;
	'{model}') a=$model ;;
	'{fallback_model}') a=$fallback ;;
	esac
	set -- "$@" "$a"
done
shift "$n"

cmdname=$1
say "READY $id on $model: starting $cmdname"
child=
stopped=
trap 'stopped=TERM; stop TERM' TERM
trap 'stopped=INT; stop TERM' INT
trap 'stopped=HUP; stop TERM' HUP
# With setsid (util-linux, on every Debian system) CMD leads its own process group, so a stop
# reaches the processes it started too; without it, only CMD itself is signalled.
command -v setsid >/dev/null 2>&1 && set -- setsid "$@"
[ -z "$stopped" ] || die 2 "stopped by SIG$stopped before $id was started (its claim lapses after claim_ttl)"
GOVERNOR_TASK_ID=$id GOVERNOR_PROMPT=$prompt GOVERNOR_MODEL=$model \
	GOVERNOR_FALLBACK_MODEL=$fallback "$@" &
child=$!

if ! "$gov" pop "$id" >/dev/null; then
	stop TERM
	wait "$child"
	die 2 "governor pop $id failed: the task is not ours any more; stopped $cmdname"
fi
say "$id popped: running under a lease"

watchdog=
if [ "$timeout" -gt 0 ]; then
	# Polls once a second, so it ends by itself within a second of CMD (no signal to race with
	# its start-up): exit 10 when CMD ended in time, 11 once it had to stop CMD.
	(
		i=0
		while [ "$i" -lt "$timeout" ]; do
			kill -0 "$child" 2>/dev/null || exit 10
			sleep 1
			i=$((i + 1))
		done
		stop TERM
		i=0
		while [ "$i" -lt "$grace" ]; do
			kill -0 "$child" 2>/dev/null || exit 11
			sleep 1
			i=$((i + 1))
		done
		stop KILL
		exit 11
	) </dev/null >/dev/null 2>&1 &
	watchdog=$!
fi

# Wait for CMD; a trapped signal interrupts `wait`, so wait again while it is still there.
while :; do
	wait "$child"
	status=$?
	kill -0 "$child" 2>/dev/null || break
done

timed_out=
if [ -n "$watchdog" ]; then
	wait "$watchdog"
	[ $? -eq 11 ] && timed_out=1
fi

if [ -n "$timed_out" ]; then
	reason="timeout after ${timeout}s"
elif [ -n "$stopped" ]; then
	reason="heartbeat stopped by SIG$stopped"
elif [ "$status" -eq 0 ]; then
	if "$gov" 'done' "$id" >/dev/null; then
		say "$id done"
		exit 0
	fi
	die 2 "governor done $id failed"
elif [ "$status" -gt 128 ]; then
	reason="killed by signal $((status - 128))"
else
	reason="exit status $status"
fi
"$gov" fail "$id" --reason "$reason" >/dev/null || die 2 "governor fail $id failed"
say "$id failed: $reason"
exit 1
