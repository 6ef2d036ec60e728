#!/bin/sh
# report.sh BENCH.json [DOCS_DIR]: write DOCS_DIR/bench.md, DOCS_DIR/bench.json (the committed
# summary: BENCH.json plus the evaluated targets) and the charts DOCS_DIR/bench-latency.svg and
# DOCS_DIR/bench-concurrency.svg from the results of run.sh.  Measures nothing: re-run it to
# redraw the report from the same numbers.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
in=$1
docs=${2:-$here/../../docs}
mkdir -p "$docs"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

jq --argjson t "$(jq -f "$here/targets.jq" "$in")" '. + {targets: $t}' "$in" > "$tmp/bench.json"
cp "$tmp/bench.json" "$docs/bench.json"

# ---- charts ----------------------------------------------------------------------------------
series="version check_no_tasks check_deferred check_dry check_ready add pop list jq_check_ready jq_add jq_list tsp_enqueue tsp_list"
jq -r --arg series "$series" '
	($series | split(" ")) as $s
	| .sizes[] | .size as $n | .scenarios as $r
	| [$n] + [$s[] as $name | ([$r[] | select(.name == $name) | .median * 1000] | first) // "?"]
	| map(tostring) | join(" ")' "$tmp/bench.json" > "$tmp/latency.dat"
jq -r '.concurrency[] | "\(.procs) \(.adds_per_s) \(.wall_s)"' "$tmp/bench.json" > "$tmp/conc.dat"
commit=$(jq -r '.governor.commit[:10]' "$tmp/bench.json")
cat > "$tmp/latency.gp" << EOF
set terminal svg size 960,600 dynamic enhanced font "sans,12" background "white"
set output "$docs/bench-latency.svg"
set title "governor vs sh+jq and task-spooler: median wall time per call (governor $commit)"
set datafile missing "?"
set logscale xy
set xlabel "tasks in the queue"
set ylabel "median time per call (ms, log scale)"
set xtics ("10" 10, "1k" 1000, "10k" 10000, "100k" 100000)
set xrange [7:150000]
set grid ytics mytics xtics
set key outside right top vertical Left reverse noenhanced
plot "$tmp/latency.dat" \\
	   using 1:2  with linespoints lw 2 dt 2 lc rgb "#000000" pt 1 title "governor --version (floor)", \\
	'' using 1:3  with linespoints lw 2 lc rgb "#1b9e77" pt 5 title "check NO_TASKS (empty)", \\
	'' using 1:4  with linespoints lw 2 lc rgb "#66a61e" pt 7 title "check DEFERRED concurrency", \\
	'' using 1:5  with linespoints lw 2 lc rgb "#7570b3" pt 9 title "check -n READY", \\
	'' using 1:6  with linespoints lw 2 lc rgb "#e7298a" pt 11 title "check READY + claim", \\
	'' using 1:7  with linespoints lw 2 lc rgb "#d95f02" pt 13 title "add", \\
	'' using 1:8  with linespoints lw 2 lc rgb "#a6761d" pt 15 title "pop", \\
	'' using 1:9  with linespoints lw 2 lc rgb "#666666" pt 4 title "list --json", \\
	'' using 1:10 with linespoints lw 2 dt 3 lc rgb "#e7298a" pt 10 title "sh+jq check (claim)", \\
	'' using 1:11 with linespoints lw 2 dt 3 lc rgb "#d95f02" pt 12 title "sh+jq add", \\
	'' using 1:12 with linespoints lw 2 dt 3 lc rgb "#666666" pt 6 title "sh+jq list", \\
	'' using 1:13 with linespoints lw 2 dt 4 lc rgb "#d95f02" pt 2 title "tsp enqueue", \\
	'' using 1:14 with linespoints lw 2 dt 4 lc rgb "#666666" pt 3 title "tsp -l"
EOF
gnuplot "$tmp/latency.gp"
if [ -s "$tmp/conc.dat" ]; then
	cat > "$tmp/conc.gp" << EOF
set terminal svg size 720,420 dynamic enhanced font "sans,12" background "white"
set output "$docs/bench-concurrency.svg"
set title "governor add: P parallel processes x $(jq '.concurrency[0].adds_per_proc' "$tmp/bench.json") adds, one state dir"
set xlabel "parallel processes"
set ylabel "adds per second (all processes)"
set style fill solid 0.6 border -1
set boxwidth 0.6
set yrange [0:*]
set grid ytics
set key off
plot "$tmp/conc.dat" using 0:2:xtic(1) with boxes lc rgb "#d95f02", \\
	'' using 0:2:(sprintf("%.0f/s", \$2)) with labels offset 0,0.8
EOF
	gnuplot "$tmp/conc.gp"
fi

# ---- bench.md --------------------------------------------------------------------------------
jq -r '
def ms: if . == null then "–" else (. * 1000 * 100 | round / 100 | tostring) end;
def r1: if . == null then "–" else (. * 10 | round / 10 | tostring) end;
def r2: if . == null then "–" else (. * 100 | round / 100 | tostring) end;
def mb: if . == null then "–" else (. / 1024 * 10 | round / 10 | tostring) end;
def k: if . >= 1000 then "\(. / 1000 | floor)k" else tostring end;
def lbl: {
	version: "`governor --version` (the floor)",
	check_no_tasks: "`check`: NO_TASKS (empty queue)",
	check_deferred: "`check`: DEFERRED concurrency_limit",
	check_dry: "`check -n`: READY, dry run",
	check_ready: "`check`: READY + claim",
	add: "`add` (1,000-byte prompt)",
	pop: "`pop`",
	list: "`list --json`",
	jq_check_no_tasks: "sh+jq `check`: NO_TASKS",
	jq_check_deferred: "sh+jq `check`: DEFERRED",
	jq_check_dry: "sh+jq `check -n`: READY",
	jq_check_ready: "sh+jq `check`: READY + claim",
	jq_add: "sh+jq `add`",
	jq_pop: "sh+jq `pop`",
	jq_list: "sh+jq `list`",
	tsp_enqueue: "`tsp true` (enqueue)",
	tsp_list: "`tsp -l`"}[.] // .;
def gov: ["version", "check_no_tasks", "check_deferred", "check_dry", "check_ready", "add", "pop", "list"];
def tspof: if . == "add" then "tsp_enqueue" elif (startswith("check") or . == "list") then "tsp_list" else null end;
def yn: if . == true then "**met**" elif . == false then "**missed**" else "not measured" end;
def chk: if .version_ms then "\(.scenario): \(.median_ms) ms = \(.ratio)x --version (\(.version_ms) ms; CPU \(.cpu_ms) vs \(.version_cpu_ms) ms)\(if .met then "" else " ✗" end)"
	elif .tsp_list_ms then "\(.scenario): \(.median_ms) ms vs tsp -l \(.tsp_list_ms) ms (\(.ratio)x)\(if .met then "" else " ✗" end)"
	elif .tsp_enqueue_ms then "add \(.median_ms) ms = \(.ratio)x tsp enqueue (\(.tsp_enqueue_ms) ms); CPU \(.cpu_ms) vs \(.tsp_cpu_ms) ms (tsp client only)"
	elif .median_100k_ms then "add at 100k \(.median_100k_ms) ms = \(.ratio)x add at 1k (\(.median_1k_ms) ms); means \(.mean_100k_ms) vs \(.mean_1k_ms) ms (\(.mean_ratio)x), slowest add at 100k \(.max_100k_ms) ms"
	elif .rss_mb then "\(.scenario): \(.median_ms) ms, \(.rss_mb) MB\(if .met then "" else " ✗" end)"
	elif .speedup then "\(.scenario): \(.speedup)x (\(.median_ms) vs \(.jq_ms) ms)\(if .met then "" else " ✗" end)"
	else tostring end;
. as $b
| def sc($n; $name): first($b.sizes[] | select(.size == $n) | .scenarios[] | select(.name == $name)) // null;
  def tspq($n): first($b.settings.tsp_queued[] | select(.size == $n) | .queued) // null;
  ($b.settings.sizes) as $sizes
| "# Benchmarks",
"",
"Generated by `tests/bench/run.sh` on \($b.date) in \($b.elapsed_s) s; do not edit by hand, re-run it:",
"",
"```",
".ci/setup bench && cmake --workflow --preset test && tests/bench/run.sh",
"```",
"",
"It writes this page, `docs/bench.json` (every number below, and the targets), the charts",
"`docs/bench-latency.svg` and `docs/bench-concurrency.svg`, and the raw hyperfine exports and",
"callgrind profiles under `tests/bench/results/` (not committed). `tests/bench/report.sh",
"tests/bench/results/bench.json` redraws the page from the same numbers without measuring.",
"",
"## Machine",
"",
"| | |",
"|---|---|",
"| CPU | \($b.machine.cpu), `nproc` = \($b.machine.nproc) |",
"| memory | \($b.machine.memory) |",
"| kernel, OS | \($b.machine.kernel), \($b.machine.os) |",
"| governor | \($b.governor.version), commit `\($b.governor.commit[:12])`\(if $b.governor.uncommitted_changes > 0 then " plus \($b.governor.uncommitted_changes) uncommitted tracked file(s)" else "" end) |",
"| tools | \($b.tools.hyperfine), \($b.tools.jq), task-spooler \($b.tools["task-spooler"]) |",
"| load average (1, 5, 15 min) | \($b.machine.loadavg_at_start // "?") at the start, \($b.machine.loadavg_at_end) at the end: a shared, noisy VM; read medians and ratios, not single runs |",
"",
"## Method",
"",
"- Queues of \($sizes | map(k) | join(", ")) pending tasks, prompts of 100 to 2,000 bytes, priorities 0 to 2, generated once per run by `tests/bench/gen-legacy.sh` and loaded with `governor import` (\([$b.import[] | "\(.size | k): \(.seconds) s"] | join(", "))). Every scenario that writes works on its own copy of the state dir.",
"- One hyperfine run per queue size (`-N`, no shell; \($b.settings.warmup) warmups; \($b.settings.min_runs) to \($b.settings.max_runs) runs, as many as fit in hyperfine'"'"'s 3 s budget). Every ratio below compares medians from the same run.",
"- Config: the defaults except `max_cpu_percent = 100` (the CPU is still probed, but a busy shared machine must not turn READY into DEFERRED cpu_load), `[probe.cpu] max_age = 1h` (no measured run may contain the 250 ms sampling window the default takes without a saved sample under 2 minutes old) and `claim_ttl = 1h` (the claim restored before each `pop` must not lapse). No run sampled: the `cpu_method` of the checks after each size'"'"'s run was \([$b.sanity[].cpu_method[] | select(. != null)] | unique | join(" or ")) (never `sampled`), and every check decided as intended (NO_TASKS, DEFERRED concurrency_limit, READY, READY at \([$b.sanity[] | select(.check_no_tasks == "NO_TASKS" and .check_deferred == "DEFERRED concurrency_limit" and .check_dry == "READY" and .check_ready == "READY") | .size | k] | join(", "))).",
"- `check` READY + claim: `--prepare` cuts the journal back to its length before the claim and restores `queue.idx` (`truncate` + `cp`, in a `sh` file since `-N` runs `--prepare` without a shell). `pop`: the same, back to the state with one claimed task. `check` DEFERRED: one task claimed and popped, so `in_flight` = 1 = `max_concurrent`. `add` appends a \($b.settings.add_prompt_bytes)-byte prompt to a copy that grows during the run (by at most warmups + runs tasks), as a real queue does.",
"- Baseline (a): `tests/bench/baseline/jqueue.sh`, the queue as one JSON array (the legacy `pending_tasks.json`, same tasks) handled by POSIX sh + jq + flock: one jq process per command, writers serialised by `flock` and committing by `mv`, no fsync (governor fdatasyncs its commits). Measured up to \($b.settings.jq_max | k) tasks only: every call parses the whole file (\([$b.import[] | select(.size == 100000) | .legacy_bytes / 1048576 | round] | first // "?") MB at 100k), so at 100k it would take seconds per call and most of the time budget.",
"- Baseline (b): task-spooler \($b.tools["task-spooler"]) on a private socket (`TS_SOCKET`, `TS_SAVELIST`, `TS_MAXFINISHED=10`), one `sleep` job holding the single slot so the others stay queued; `tsp true` enqueue (its `--prepare` is `tsp -r`, which removes the job the previous run added, so the queue keeps its size) and `tsp -l`. tsp keeps one waiting client process and one server connection per queued job and accepts at most 1,000 connections: it refused the \(($b.settings.tsp_capacity // "?") + 1)th queued job here, so it is measured with \([$b.settings.tsp_queued[] | "\(.queued) (for \(.size | k))"] | join(" and ")) jobs queued, and not at 10k or 100k, which it cannot hold.",
((($b.machine.loadavg_at_start // "0") | split(" ")[0] | tonumber) as $l0
 | select($l0 > $b.machine.nproc)
 | "- **The machine was busy when the run started** (load average \($l0) on \($b.machine.nproc) CPUs): absolute times are inflated and ratios noisier than usual."),
"- CPU ms: user + system time, mean per run, as hyperfine measures it; the rest of the wall time is spent waiting (the disk for `fdatasync`, the run queue on a busy machine).",
"- Peak RSS: \($b.settings.rss) (KiB from the kernel, shown in MB = 2^20 bytes).",
"",
"## Targets",
"",
"| target | result | numbers (medians of one run) |",
"|---|---|---|",
($b.targets[] | "| \(.target) | \(.met | yn) | \([.checks[] | chk] | join("; ")) |"),
"",
"## Latency: medians (ms)",
"",
"![median time per call against queue size](bench-latency.svg)",
"",
"| scenario | \($sizes | map(k) | join(" | ")) |",
"|---|\($sizes | map("---:") | join("|"))|",
(([gov[], "jq_check_no_tasks", "jq_check_deferred", "jq_check_dry", "jq_check_ready", "jq_add", "jq_pop", "jq_list", "tsp_enqueue", "tsp_list"])[] as $name
 | "| \($name | lbl) | \([$sizes[] as $n | sc($n; $name).median | ms] | join(" | ")) |"),
"",
"A dash: not measured at that size (sh+jq above \($b.settings.jq_max | k); tsp beyond what it can hold).",
"",
($sizes[] as $n
 | "### \($n | k) tasks\(if tspq($n) then " (tsp: \(tspq($n)) queued)" else "" end)",
   "",
   "| scenario | median ms | mean ms | σ ms | CPU ms | runs | x --version | sh+jq ms | sh+jq / governor | tsp ms | governor / tsp | peak RSS MB |",
   "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
   (gov[] as $name | sc($n; $name) as $s | sc($n; "version") as $v
    | sc($n; "jq_" + $name) as $j | ($name | tspof) as $tn
    | (if $tn then sc($n; $tn) else null end) as $t
    | select($s != null)
    | "| \($name | lbl) | \($s.median | ms) | \($s.mean | ms) | \($s.stddev | ms) | \($s.user + $s.system | ms) | \($s.runs) | \(if $v then $s.median / $v.median | r2 else "–" end) | \($j.median | ms) | \(if $j then $j.median / $s.median | r1 else "–" end) | \(if $t then "\($t.median | ms) (\($tn | sub("tsp_"; "")))" else "–" end) | \(if $t then $s.median / $t.median | r2 else "–" end) | \($s.rss_kb | mb) |"),
   ""),
"## Memory: peak RSS (MB)",
"",
"| scenario | \($sizes | map(k) | join(" | ")) |",
"|---|\($sizes | map("---:") | join("|"))|",
((gov + ["jq_check_ready", "jq_add", "jq_list"])[] as $name
 | "| \($name | lbl) | \([$sizes[] as $n | sc($n; $name).rss_kb | mb] | join(" | ")) |"),
"",
"The sh+jq rows are the largest process of the script (jq), as GNU time reports for the whole tree.",
"",
"## Costs the median hides",
"",
"`add` appends one line; once the journal tail past what `queue.idx` covers passes 64 KiB (about 45 adds of 1 KB prompts), an add also rewrites the index. The `add` scenario grows its queue during the run, so its mean and maximum carry those rewrites:",
"",
"| `add` | \($sizes | map(k) | join(" | ")) |",
"|---|\($sizes | map("---:") | join("|"))|",
"| median ms | \([$sizes[] as $n | sc($n; "add").median | ms] | join(" | ")) |",
"| mean ms | \([$sizes[] as $n | sc($n; "add").mean | ms] | join(" | ")) |",
"| max ms | \([$sizes[] as $n | sc($n; "add").max | ms] | join(" | ")) |",
"| runs (+ \($b.settings.warmup) warmups) | \([$sizes[] as $n | sc($n; "add").runs] | join(" | ")) |",
"",
"A full rebuild of the index from the journal is a one-off: the first command after a reboot (an index written in another boot is not trusted) or after `queue.idx` is lost. Timed as an `add` with `queue.idx` removed (\($b.add_reindex[0].runs // 3) runs per size, median wall time including `/usr/bin/time`):",
"",
"| tasks | \([$b.add_reindex[] | .size | k] | join(" | ")) |",
"|---|\([$b.add_reindex[] | "---:"] | join("|"))|",
"| add with a full rebuild, ms | \([$b.add_reindex[] | .median_s | ms] | join(" | ")) |",
"| peak RSS MB | \([$b.add_reindex[] | .max_rss_kb | mb] | join(" | ")) |",
"",
"## Concurrency",
"",
"![adds per second against parallel processes](bench-concurrency.svg)",
"",
"P processes run \($b.concurrency[0].adds_per_proc // "?") `governor add` each, at once, into one fresh state dir; afterwards `governor list --json --all` is counted.",
"",
"| processes | adds | wall s | adds/s | failed | tasks listed | unique ids | unique prompts | none lost |",
"|---:|---:|---:|---:|---:|---:|---:|---:|---|",
($b.concurrency[] | "| \(.procs) | \(.expected) | \(.wall_s * 100 | round / 100) | \(.adds_per_s | round) | \(.failed) | \(.tasks) | \(.unique_ids) | \(.unique_prompts) | \(if .tasks == .expected and .unique_ids == .expected and .unique_prompts == .expected and .failed == 0 then "yes" else "**NO**" end) |"),
"",
"## Open gaps",
"",
(if ([$b.targets[] | select(.met == false)] | length) == 0 then "Every target is met in this run."
 else ($b.targets[] | select(.met == false)
   | "- **\(.target)**: missed by \([.checks[] | select(.met == false) | chk + (if .cpu_ms then ". Its CPU time (user + system, mean) is \(.cpu_ms) ms, so about \(.median_ms - .cpu_ms | . * 100 | round / 100) ms of the \(.median_ms) ms median is spent off the CPU, waiting\(if .version_cpu_ms then " (CPU alone is \(.cpu_ms / .version_cpu_ms | r2)x the CPU of --version)" else "" end)" else "" end)] | join("; ")).") end),
((sc(100000; "add")) as $h | (sc(1000; "add")) as $t
 | select($h != null and $t != null and $h.mean > 2 * $t.mean)
 | "- **amortised `add` at 100k** (the target is on medians): mean \($h.mean | ms) ms at 100k against \($t.mean | ms) ms at 1k (\($h.mean / $t.mean | r2)x), slowest \($h.max | ms) ms: the index rewrites an add pays every ~64 KiB of journal grow with the queue."),
((sc(100000; "list")) as $l | select($l != null and ($l.median > 1 or ($l.rss_kb // 0) > 65536))
 | "- **`list --json` at 100k** (no target): \($l.median | ms) ms median, \($l.rss_kb | mb) MB peak RSS (\(sc(10000; "list").rss_kb | mb) MB at 10k): time and memory grow with the queue. See the `list` profile below for where the time goes."),
"",
(if ($b.profiles | length) > 0 then
 "Profiles of the governor scenarios behind the missed targets, each run after its `--prepare`: callgrind (instructions in user space, one run; self = in the function itself, by object = self instructions summed per executable or library) and, for the time off the CPU that callgrind cannot see, the blocking system calls of 15 runs under `strace -T` (taken after the hyperfine runs, so the disk may be busier or quieter than it was then). Compare with the scenario'"'"'s CPU ms and median in the tables above.",
 "",
 ($b.profiles[] |
  "### \(.scenario) at \(.size | k): \(.total_ir / 1000000 * 10 | round / 10) M instructions",
  "",
  "| by object | share |",
  "|---|---:|",
  (.by_object[:6][] | select(.pct >= 0.1) | "| \(if .obj == "" then "(unattributed)" else .obj end) | \(.pct)% |"),
  "",
  "| top functions, self | object | share |",
  "|---|---|---:|",
  (.self[:10][] | "| `\(.fn)` | \(.obj) | \(.pct)% |"),
  "",
  (if (.syscalls // []) | length > 0 then
    "| blocking system calls (strace -T, \(.syscalls | map(.runs) | max) runs) | calls per run | median ms per run | max ms |",
    "|---|---:|---:|---:|",
    (.syscalls[] | select(.median_ms_per_run >= 0.005) | "| `\(.syscall)` | \(.calls_per_run) | \(.median_ms_per_run * 1000 | round / 1000) | \(.max_ms_per_run * 100 | round / 100) |"),
    "" else empty end),
  "| call chain, inclusive | share |",
  "|---|---:|",
  ([.inclusive[] | select(.obj != "" and .pct >= 2 and .pct < 99.5
   and (.fn | test("^(\\(below main\\)|__libc_start_main.*|main|_dl_start|_dl_sysdep_start|dl_main)$") | not))][:12][] | "| `\(.fn)` (\(.obj)) | \(.pct)% |"),
  "")
 else empty end),
"## Before",
"",
"The store before the journal (one `queue.json` document rewritten on every commit) and its",
"measurements are in [store.md](store.md): check READY + claim at 1k took 40 ms (21.8x --version).",
"",
"## The postgres store",
"",
"Fleet mode\u0027s shared store against the file store (add, check -n, check + claim at 1k, one",
"hyperfine run, a local PostgreSQL 15 with fsync on) is `tests/bench/bench-fleet.sh`; its figures",
"are in [fleet.md](fleet.md#cost-testsbenchbench-fleetsh)."
' "$tmp/bench.json" > "$docs/bench.md"
grep -q '^## Before' "$docs/bench.md" || {
	echo "report.sh: $docs/bench.md is incomplete" >&2
	exit 1
}
echo "report: $docs/bench.md" >&2
