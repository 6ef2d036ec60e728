#!/bin/sh
# run.sh [GOVERNOR]: the benchmark suite of issue 5, in one command.
#
#   .ci/setup bench && cmake --workflow --preset test && tests/bench/run.sh
#
# 1. Generates queues of 10, 1k, 10k and 100k pending tasks (prompts of 100-2,000 bytes,
#    priorities 0-2) once, with `governor import` of a generated legacy array.
# 2. Per size, ONE hyperfine run (-N, warmups, medians, --export-json) of every governor scenario,
#    the floor `governor --version`, the POSIX sh + jq + flock baseline (baseline/jqueue.sh, up to
#    BENCH_JQ_MAX tasks) and task-spooler (`tsp true` enqueue and `tsp -l`, up to what tsp holds).
# 3. Peak RSS of every scenario with GNU time (%M, the maximum over BENCH_RSS_RUNS runs).
# 4. Concurrency: 1, 2, 4 and 8 processes x 500 adds into one fresh state dir, counted afterwards.
# 5. Profiles of the governor scenarios behind any missed target: callgrind (instructions) and
#    strace -T (time blocked in system calls); also an add with a full index rebuild, timed.
# 6. results/bench.json (all numbers; results/ is not committed), then report.sh writes
#    docs/bench.md, docs/bench.json and the charts docs/bench-*.svg.
#
# Knobs (environment): BENCH_SIZES ("10 1000 10000 100000"), BENCH_JQ_MAX (10000),
# BENCH_MIN_RUNS (10), BENCH_MAX_RUNS (300), BENCH_WARMUP (3), BENCH_RSS_RUNS (5),
# BENCH_CONC_ADDS (500), BENCH_CONC_PROCS ("1 2 4 8"), BENCH_PROFILE (1), BENCH_OUT (results dir),
# BENCH_DOCS (where the report goes; default docs/, set it elsewhere for a trial run),
# BENCH_COMMIT (the commit GOVERNOR was built from, when it is not this tree's build).
# Not part of ctest: timing belongs in a benchmark, never in a test.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
gov_src=${1:-$root/build/governor/governor}
out=${BENCH_OUT:-$here/results}
docs=${BENCH_DOCS:-$root/docs}
sizes=${BENCH_SIZES:-10 1000 10000 100000}
jq_max=${BENCH_JQ_MAX:-10000}
min_runs=${BENCH_MIN_RUNS:-10}
max_runs=${BENCH_MAX_RUNS:-300}
warmup=${BENCH_WARMUP:-3}
rss_runs=${BENCH_RSS_RUNS:-5}
conc_adds=${BENCH_CONC_ADDS:-500}
conc_procs=${BENCH_CONC_PROCS:-1 2 4 8}
profile=${BENCH_PROFILE:-1}

for tool in hyperfine jq flock tsp gnuplot /usr/bin/time truncate; do
	command -v "$tool" > /dev/null || {
		echo "run.sh: $tool is missing; run .ci/setup bench" >&2
		exit 1
	}
done
[ -x "$gov_src" ] || {
	echo "run.sh: no governor binary at $gov_src; build it first" >&2
	exit 1
}

# Only what this script sets may steer governor: no GOVERNOR_* from the caller's environment.
for v in $(env | sed -n 's/^\(GOVERNOR_[A-Za-z0-9_]*\)=.*/\1/p'); do
	unset "$v"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/governor-bench.XXXXXX")
tsp_blocker=
cleanup() {
	if [ -n "${TS_SOCKET-}" ] && [ -S "$TS_SOCKET" ]; then
		tsp -K > /dev/null 2>&1 || true   # the server; its queued clients exit with it
	fi
	if [ -n "$tsp_blocker" ]; then
		kill "$tsp_blocker" 2> /dev/null || true   # the blocker job's sleep (ours, by pid)
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$out"
rm -f "$out"/hyperfine-*.json "$out"/callgrind-* "$out/bench.json"   # no stale numbers
t_start=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
log() { printf '\n== %s (%ss)\n' "$*" "$(($(date +%s) - t_start))" >&2; }

# A private copy of the binary: a rebuild during the run cannot change what is measured.
mkdir "$work/bin"
cp "$gov_src" "$work/bin/governor"
gov=$work/bin/governor
jqueue=$work/bin/jqueue.sh
cp "$here/baseline/jqueue.sh" "$jqueue"

# The default config, except three values that change no measured code path:
# - max_cpu_percent = 100: the CPU is still probed as by default, but a busy shared machine must
#   not turn the READY scenarios into DEFERRED cpu_load;
# - probe.cpu max_age = 1h: no measured run may include the 250 ms sampling window that the
#   default takes when the saved sample is older than 2 minutes (a warmup always leaves one);
# - claim_ttl = 1h: the claimed state restored before every `pop` must not lapse during a run.
conf=$work/bench.conf
cat > "$conf" << 'EOF'
[policy]
max_cpu_percent = 100
claim_ttl = 1h
[probe.cpu]
max_age = 1h
EOF

# A 1,000-byte prompt for add (no quote characters: it sits inside hyperfine's command line).
prompt=$(awk 'BEGIN { s = "bench add:"; while (length(s) < 1000) s = s " reflect on the notes of today"; print substr(s, 1, 1000) }')

# ---------------------------------------------------------------------------------------------
# 1. Queues, generated once.
# ---------------------------------------------------------------------------------------------
mkdir -m 700 "$work/empty"
printf '[]\n' > "$work/empty.json"
for n in $sizes; do
	log "generating $n tasks"
	d=$work/$n
	mkdir -p "$d"
	"$here/gen-legacy.sh" "$n" > "$d/legacy.json"
	mkdir -m 700 "$d/base"
	t0=$(date +%s.%N)
	"$gov" -d "$d/base" import "$d/legacy.json" > /dev/null
	t1=$(date +%s.%N)
	echo "$n $t0 $t1 $(stat -c %s "$d/legacy.json") $(stat -c %s "$d/base/queue.jsonl")" >> "$work/import.txt"
	for s in claim pop defer add; do
		cp -a "$d/base" "$d/$s"
	done
	for s in base claim pop defer add; do  # leave a CPU sample in every state dir
		"$gov" -c "$conf" -d "$d/$s" check -n > /dev/null
	done
	# check READY + claim: before every run, cut the journal back and restore the index.
	cp "$d/claim/queue.idx" "$d/claim.idx"
	printf 'truncate -s %s %s/claim/queue.jsonl && cp %s/claim.idx %s/claim/queue.idx\n' \
		"$(stat -c %s "$d/claim/queue.jsonl")" "$d" "$d" "$d" > "$d/claim.sh"
	# pop: a claimed task exists before every run.
	"$gov" -c "$conf" -d "$d/pop" check > /dev/null
	cp "$d/pop/queue.idx" "$d/pop.idx"
	printf 'truncate -s %s %s/pop/queue.jsonl && cp %s/pop.idx %s/pop/queue.idx\n' \
		"$(stat -c %s "$d/pop/queue.jsonl")" "$d" "$d" "$d" > "$d/pop.sh"
	# check DEFERRED: one task claimed and popped, so in_flight = 1 = max_concurrent.
	"$gov" -c "$conf" -d "$d/defer" check > /dev/null
	"$gov" -c "$conf" -d "$d/defer" pop > /dev/null
	if [ "$n" -le "$jq_max" ]; then
		mkdir "$d/jq"
		for s in pending claim claimed running add; do
			cp "$d/legacy.json" "$d/jq/$s.json"
		done
		sh "$jqueue" "$d/jq/claimed.json" check > /dev/null
		sh "$jqueue" "$d/jq/running.json" check > /dev/null
		sh "$jqueue" "$d/jq/running.json" pop
		cp "$d/jq/claimed.json" "$d/jq/claimed.orig"
		printf 'cp %s/legacy.json %s/jq/claim.json\n' "$d" "$d" > "$d/jq-claim.sh"
		printf 'cp %s/jq/claimed.orig %s/jq/claimed.json\n' "$d" "$d" > "$d/jq-pop.sh"
	fi
done

# ---------------------------------------------------------------------------------------------
# task-spooler: a dedicated server; one long job occupies the single slot so the others stay
# queued.  tsp 1.0.1 keeps one waiting client process (and server connection) per queued job and
# accepts at most MAXCONN = 1000 connections, so it cannot hold 10k or 100k queued jobs: it is
# measured at the sizes it can hold, and its capacity is recorded.
# ---------------------------------------------------------------------------------------------
mkdir -m 700 "$work/tsp"
export TS_SOCKET="$work/tsp/socket" TS_SAVELIST="$work/tsp/savelist" TS_MAXFINISHED=10
export TS_SLOTS=1 TMPDIR="$work/tsp"
tsp_queued=0
tsp_full=0
tsp_cap=
tsp sleep 3600 > /dev/null
i=0
while [ "$(tsp -s 0 2> /dev/null)" != running ] && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
tsp_blocker=$(tsp -p 0)
# tsp_fill N: N jobs queued behind the blocker, or as many as tsp takes (one slot kept free for the
# enqueue benchmark, whose --prepare removes the job the previous run added).
tsp_fill() {
	while [ "$tsp_full" = 0 ] && [ "$tsp_queued" -lt "$1" ]; do
		if tsp -B true > /dev/null 2>&1; then
			tsp_queued=$((tsp_queued + 1))
		else
			tsp_full=1
			tsp_cap=$tsp_queued
			tsp -r > /dev/null
			tsp_queued=$((tsp_queued - 1))
		fi
	done
}

# ---------------------------------------------------------------------------------------------
# 2. One hyperfine run per size.
# ---------------------------------------------------------------------------------------------
for n in $sizes; do
	d=$work/$n
	sc=$d/scenarios.tsv   # name, prepare, command (hyperfine's -N words; also eval'd by sh)
	g="$gov -c $conf -d"
	{
		printf '%s\t%s\t%s\n' version true "$gov --version"
		printf '%s\t%s\t%s\n' check_no_tasks true "$g $work/empty check"
		printf '%s\t%s\t%s\n' check_deferred true "$g $d/defer check"
		printf '%s\t%s\t%s\n' check_dry true "$g $d/base check -n"
		printf '%s\t%s\t%s\n' check_ready "sh $d/claim.sh" "$g $d/claim check"
		printf '%s\t%s\t%s\n' add true "$g $d/add add -p 1 -s bench '$prompt'"
		printf '%s\t%s\t%s\n' pop "sh $d/pop.sh" "$g $d/pop pop"
		printf '%s\t%s\t%s\n' list true "$g $d/base list --json"
		if [ "$n" -le "$jq_max" ]; then
			j="sh $jqueue"
			printf '%s\t%s\t%s\n' jq_check_no_tasks true "$j $work/empty.json check"
			printf '%s\t%s\t%s\n' jq_check_deferred true "$j $d/jq/running.json check"
			printf '%s\t%s\t%s\n' jq_check_dry true "$j $d/jq/pending.json check -n"
			printf '%s\t%s\t%s\n' jq_check_ready "sh $d/jq-claim.sh" "$j $d/jq/claim.json check"
			printf '%s\t%s\t%s\n' jq_add true "$j $d/jq/add.json add -p 1 '$prompt'"
			printf '%s\t%s\t%s\n' jq_pop "sh $d/jq-pop.sh" "$j $d/jq/claimed.json pop"
			printf '%s\t%s\t%s\n' jq_list true "$j $d/jq/pending.json list"
		fi
	} > "$sc"
	tsp_fill "$n"
	if [ "$tsp_full" = 0 ] || [ "$n" -le $((tsp_cap + 10)) ]; then
		printf '%s\t%s\t%s\n' tsp_enqueue "tsp -r" "tsp true" >> "$sc"
		printf '%s\t%s\t%s\n' tsp_list true "tsp -l" >> "$sc"
		echo "$n $tsp_queued" >> "$work/tsp-sizes.txt"
	fi
	log "hyperfine, $n tasks: $(wc -l < "$sc") commands"
	set --
	while IFS="$(printf '\t')" read -r name prep cmd; do
		set -- "$@" --prepare "$prep" -n "$name" "$cmd"
	done < "$sc"
	hyperfine -N --style basic --warmup "$warmup" --min-runs "$min_runs" --max-runs "$max_runs" \
		--export-json "$out/hyperfine-$n.json" "$@"

	# Sanity: each scenario decided what it is meant to decide, without a sampling window.
	"$gov" -c "$conf" -d "$work/empty" check > "$d/out.no_tasks"
	"$gov" -c "$conf" -d "$d/defer" check > "$d/out.deferred"
	"$gov" -c "$conf" -d "$d/base" check -n > "$d/out.dry"
	sh "$d/claim.sh"
	"$gov" -c "$conf" -d "$d/claim" check > "$d/out.ready"
	jq -n --arg n "$n" --slurpfile a "$d/out.no_tasks" --slurpfile b "$d/out.deferred" \
		--slurpfile c "$d/out.dry" --slurpfile e "$d/out.ready" '
		{size: ($n | tonumber),
		 check_no_tasks: $a[0].status,
		 check_deferred: ($b[0].status + " " + $b[0].reason),
		 check_dry: $c[0].status, check_ready: $e[0].status,
		 cpu_method: [$b[0], $c[0], $e[0] | .readings.cpu_method],
		 pending_count: $c[0].pending_count}' > "$d/sanity.json"
	jq -e '.check_no_tasks == "NO_TASKS" and .check_deferred == "DEFERRED concurrency_limit"
		and .check_dry == "READY" and .check_ready == "READY"
		and all(.cpu_method[]; . != "sampled")' "$d/sanity.json" > /dev/null || {
		echo "run.sh: a scenario did not decide as intended:" >&2
		cat "$d/sanity.json" >&2
		exit 1
	}
	if [ "$n" -le "$jq_max" ]; then
		[ "$(sh "$jqueue" "$d/jq/running.json" check | jq -r .reason)" = concurrency_limit ]
	fi
done

# ---------------------------------------------------------------------------------------------
# 3. Peak RSS: GNU time %M (KiB), the maximum over rss_runs runs, each after its --prepare.
# ---------------------------------------------------------------------------------------------
log "peak RSS ($rss_runs runs per scenario)"
: > "$work/rss.txt"
for n in $sizes; do
	d=$work/$n
	while IFS="$(printf '\t')" read -r name prep cmd; do
		case $name in tsp_*) continue ;; esac
		runs=$rss_runs
		case $name in list | jq_*) [ "$n" -lt 10000 ] || runs=3 ;; esac
		max=0
		i=0
		while [ $i -lt "$runs" ]; do
			[ "$prep" = true ] || $prep > /dev/null
			eval "set -- $cmd"
			/usr/bin/time -f %M -o "$work/rss.one" "$@" > /dev/null 2>&1 || true
			v=$(tail -n 1 "$work/rss.one")
			[ "$v" -le "$max" ] || max=$v
			i=$((i + 1))
		done
		echo "$n $name $max" >> "$work/rss.txt"
	done < "$d/scenarios.tsv"
done

# The one-off cost of a full index rebuild from the journal: the first command after a reboot
# (an index written in another boot is not trusted) or after queue.idx was lost.  An add is timed
# with queue.idx removed.
log "add with a full index rebuild (3 runs per size)"
: > "$work/reindex.txt"
for n in $sizes; do
	d=$work/$n
	i=0
	while [ $i -lt 3 ]; do
		rm -f "$d/add/queue.idx"
		t0=$(date +%s%N)
		/usr/bin/time -f '%M' -o "$work/rss.one" \
			"$gov" -c "$conf" -d "$d/add" add -s bench "$prompt" > /dev/null
		t1=$(date +%s%N)
		echo "$n $(((t1 - t0) / 1000)) $(tail -n 1 "$work/rss.one")" >> "$work/reindex.txt"
		i=$((i + 1))
	done
done

# ---------------------------------------------------------------------------------------------
# 4. Concurrency: P processes x conc_adds adds into one fresh state dir.
# ---------------------------------------------------------------------------------------------
log "concurrency: $conc_procs processes x $conc_adds adds"
: > "$work/conc.txt"
cat > "$work/adder.sh" << 'EOF'
# adder.sh GOVERNOR CONF DIR WORKER COUNT: COUNT adds, then the number that failed on stdout.
i=0
fail=0
while [ $i -lt "$5" ]; do
	"$1" -c "$2" -d "$3" add -s "w$4" "worker $4 task $i: reflect on the notes of today" > /dev/null || fail=$((fail + 1))
	i=$((i + 1))
done
echo $fail
EOF
for p in $conc_procs; do
	c=$work/conc-$p
	mkdir -m 700 "$c"
	t0=$(date +%s.%N)
	w=1
	while [ $w -le "$p" ]; do
		sh "$work/adder.sh" "$gov" "$conf" "$c" "$w" "$conc_adds" > "$c.fail.$w" &
		w=$((w + 1))
	done
	wait
	t1=$(date +%s.%N)
	fails=$(cat "$c".fail.* | awk '{ s += $1 } END { print s + 0 }')
	"$gov" -c "$conf" -d "$c" list --json --all > "$c.list.json"
	jq -c --argjson p "$p" --argjson per "$conc_adds" --arg t0 "$t0" --arg t1 "$t1" \
		--argjson fails "$fails" '
		(($t1 | tonumber) - ($t0 | tonumber)) as $wall
		| {procs: $p, adds_per_proc: $per, expected: ($p * $per), failed: $fails,
		   wall_s: $wall, adds_per_s: (($p * $per) / $wall),
		   tasks: length, unique_ids: ([.[].id] | unique | length),
		   unique_prompts: ([.[].prompt] | unique | length),
		   pending: ([.[] | select(.status == "pending")] | length)}' "$c.list.json" >> "$work/conc.txt"
	tail -n 1 "$work/conc.txt" >&2
done

# ---------------------------------------------------------------------------------------------
# 6a. results/bench.json: machine, settings, every scenario's statistics and peak RSS.
# ---------------------------------------------------------------------------------------------
log "assembling $out/bench.json"
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
if [ -n "${BENCH_COMMIT-}" ]; then   # the binary was built from this commit, clean
	commit=$BENCH_COMMIT
	dirty=0
else
	commit=$(git -C "$root" rev-parse HEAD 2> /dev/null || echo unknown)
	dirty=$(git -C "$root" --no-optional-locks status --porcelain --untracked-files=no 2> /dev/null | wc -l)
fi
tsp_version=$(dpkg-query -W -f '${Version}' task-spooler 2> /dev/null || echo unknown)
awk '{ printf "{\"size\":%s,\"queued\":%s}\n", $1, $2 }' "$work/tsp-sizes.txt" 2> /dev/null > "$work/tsp.json" || true
awk '{ printf "{\"size\":%s,\"seconds\":%.3f,\"legacy_bytes\":%s,\"journal_bytes\":%s}\n", $1, $3 - $2, $4, $5 }' \
	"$work/import.txt" > "$work/import.json"
awk '{ printf "{\"size\":%s,\"name\":\"%s\",\"kb\":%s}\n", $1, $2, $3 }' "$work/rss.txt" > "$work/rss.json"
awk '{ printf "{\"size\":%s,\"seconds\":%.6f,\"rss_kb\":%s}\n", $1, $2 / 1e6, $3 }' "$work/reindex.txt" > "$work/reindex.json"
cat "$work"/*/sanity.json > "$work/sanity.all"
for n in $sizes; do
	jq -c --argjson n "$n" '{size: $n, results: [.results[] | {
		name: .command, median: .median, mean: .mean, stddev: .stddev, min: .min, max: .max,
		user: .user, system: .system, runs: (.times | length)}]}' "$out/hyperfine-$n.json"
done > "$work/hf.json"
jq -n \
	--slurpfile hf "$work/hf.json" --slurpfile rss "$work/rss.json" \
	--slurpfile conc "$work/conc.txt" --slurpfile tspq "$work/tsp.json" \
	--slurpfile imp "$work/import.json" --slurpfile san "$work/sanity.all" \
	--slurpfile reindex "$work/reindex.json" \
	--arg nproc "$(nproc)" --arg cpu "$cpu_model" --arg kernel "$(uname -r)" \
	--arg os "$(. /etc/os-release && echo "$PRETTY_NAME")" \
	--arg mem "$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)" \
	--arg commit "$commit" --arg dirty "$dirty" --arg version "$("$gov" --version)" \
	--arg hyperfine "$(hyperfine --version)" --arg jq "$(jq --version)" --arg tsp "$tsp_version" \
	--arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --arg load0 "$load_start" \
	--arg sizes "$sizes" --argjson jq_max "$jq_max" --argjson warmup "$warmup" \
	--argjson min_runs "$min_runs" --argjson max_runs "$max_runs" --argjson rss_runs "$rss_runs" \
	--arg tsp_cap "${tsp_cap:-}" --arg elapsed "$(($(date +%s) - t_start))" \
	--arg conf "$(cat "$conf")" --arg prompt_len "${#prompt}" '
	{machine: {nproc: ($nproc | tonumber), cpu: $cpu, kernel: $kernel, os: $os, memory: $mem,
	           loadavg_at_start: $load0, loadavg_at_end: $load},
	 governor: {version: $version, commit: $commit, uncommitted_changes: ($dirty | tonumber)},
	 tools: {hyperfine: $hyperfine, jq: $jq, "task-spooler": $tsp},
	 date: $date, elapsed_s: ($elapsed | tonumber),
	 settings: {sizes: ($sizes | split(" ") | map(select(. != "") | tonumber)), jq_max: $jq_max,
	            warmup: $warmup, min_runs: $min_runs, max_runs: $max_runs,
	            rss: "GNU time %M, maximum of \($rss_runs) runs (3 for list and the jq baseline at 10k and more)",
	            config: $conf, add_prompt_bytes: ($prompt_len | tonumber),
	            tsp_capacity: (if $tsp_cap == "" then null else ($tsp_cap | tonumber) end),
	            tsp_queued: $tspq},
	 import: $imp, sanity: $san,
	 sizes: [$hf[] | .size as $n | {size: $n, scenarios: (.results | map(.name as $m | . + {
	          rss_kb: ([$rss[] | select(.size == $n and .name == $m) | .kb] | first)}))}],
	 add_reindex: [$reindex | group_by(.size)[] | {size: .[0].size, runs: length,
	              median_s: (map(.seconds) | sort | .[length / 2 | floor]),
	              max_rss_kb: (map(.rss_kb) | max)}],
	 concurrency: $conc}' > "$out/bench.json"

# ---------------------------------------------------------------------------------------------
# 5. Profiles of the governor scenarios behind missed targets (callgrind, instructions).
# ---------------------------------------------------------------------------------------------
jq -f "$here/targets.jq" "$out/bench.json" | jq -r '.[] | select(.met == false) | .profile[]?' |
	sort -u > "$work/profile.txt"
: > "$work/profiles.json"
if [ "$profile" = 1 ] && command -v valgrind > /dev/null && [ -s "$work/profile.txt" ]; then
	log "callgrind profiles of missed targets: $(tr '\n' ' ' < "$work/profile.txt")"
	while read -r n name; do
		line=$(awk -F '\t' -v s="$name" '$1 == s' "$work/$n/scenarios.tsv")
		[ -n "$line" ] || continue
		prep=$(printf '%s' "$line" | cut -f 2)
		cmd=$(printf '%s' "$line" | cut -f 3)
		[ "$prep" = true ] || $prep > /dev/null
		eval "set -- $cmd"
		cg=$out/callgrind-$n-$name.out
		valgrind --tool=callgrind --callgrind-out-file="$cg" "$@" > /dev/null 2> "$work/vg.err" || true
		callgrind_annotate --auto=no --threshold=100 "$cg" 2> /dev/null > "$out/callgrind-$n-$name.txt" || true
		callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$cg" 2> /dev/null > "$out/callgrind-$n-$name.incl.txt" || true
		"$here/cg-top.sh" "$n" "$name" "$out/callgrind-$n-$name.txt" "$out/callgrind-$n-$name.incl.txt" > "$work/cg.json"
		# Time off the CPU, which callgrind cannot see: the blocking system calls of 15 runs
		# (strace -T), each after its --prepare; per syscall, the median of the per-run totals.
		: > "$work/st.all"
		if command -v strace > /dev/null; then
			i=0
			while [ $i -lt 15 ]; do
				[ "$prep" = true ] || $prep > /dev/null
				strace -f -T -o "$work/st.one" \
					-e trace=fsync,fdatasync,flock,nanosleep,clock_nanosleep,renameat,rename,write,writev,pwrite64 \
					"$@" > /dev/null 2>&1 || true
				awk -v run=$i '{ if (match($0, /^([0-9]+ +)?[a-z_0-9]+\(/)) { c = substr($0, RSTART, RLENGTH - 1); sub(/^[0-9]+ +/, "", c) } else next
					if (match($0, /<[0-9.]+>$/)) { t[c] += substr($0, RSTART + 1, RLENGTH - 2); n[c]++ } }
					END { for (c in t) printf "%s %s %d %.6f\n", run, c, n[c], t[c] * 1000 }' "$work/st.one" >> "$work/st.all"
				i=$((i + 1))
			done
		fi
		awk '{ printf "{\"run\":%s,\"syscall\":\"%s\",\"calls\":%s,\"ms\":%s}\n", $1, $2, $3, $4 }' "$work/st.all" |
			jq -c -s --slurpfile cg "$work/cg.json" '
				def median: sort | if length == 0 then null else .[length / 2 | floor] end;
				$cg[0] + {syscalls: (group_by(.syscall) | map({syscall: .[0].syscall,
					calls_per_run: (map(.calls) | median), median_ms_per_run: (map(.ms) | median),
					max_ms_per_run: (map(.ms) | max), runs: length})
					| sort_by(-.median_ms_per_run))}' >> "$work/profiles.json"
	done < "$work/profile.txt"
fi
jq --slurpfile p "$work/profiles.json" '. + {profiles: $p}' "$out/bench.json" > "$work/bench.json"
cp "$work/bench.json" "$out/bench.json"

# ---------------------------------------------------------------------------------------------
# 6b. The report.
# ---------------------------------------------------------------------------------------------
log "report"
"$here/report.sh" "$out/bench.json" "$docs"
log "done: $out/bench.json, $docs/bench.md"
