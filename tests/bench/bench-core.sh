#!/bin/sh
# bench-core.sh [GOVERNOR]: the first benchmark (issue "core"): check on a 1,000-task queue
# against the binary's own --version, in one hyperfine run, medians and ratios.
# The full suite (all sizes, baselines, memory, concurrency, docs/bench.md) is run.sh.
# Not part of ctest: timing belongs in a benchmark, never in a test.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
gov=${1:-$here/../../build/governor/governor}
gov=$(cd "$(dirname "$gov")" && pwd)/$(basename "$gov")
out=${BENCH_OUT:-$here/results}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$out"

"$here/gen-legacy.sh" 1000 > "$work/tasks.json"
mkdir -m 700 "$work/q1k" "$work/empty"
"$gov" -d "$work/q1k" import "$work/tasks.json" > /dev/null
: > "$work/empty.conf"
# max_concurrent = 0: the full path (load, probe, decide) without claiming.
printf '[policy]\nmax_concurrent = 0\n' > "$work/drain.conf"
cp "$work/q1k/queue.jsonl" "$work/queue.1k"; cp "$work/q1k/queue.idx" "$work/index.1k"

# --prepare pairs with the commands in order; only the real claim needs a fresh queue each run.
printf 'cp %s/queue.1k %s/q1k/queue.jsonl && cp %s/index.1k %s/q1k/queue.idx\n' "$work" "$work" "$work" "$work" > "$work/reset.sh"
reset="sh $work/reset.sh"      # hyperfine -N runs --prepare without a shell too
hyperfine -N --warmup 10 --min-runs 50 --export-json "$out/core.json" \
	--prepare true -n version "$gov --version" \
	--prepare true -n 'check NO_TASKS (empty)' "$gov -c $work/empty.conf -d $work/empty check" \
	--prepare true -n 'check READY --dry-run (1k)' "$gov -c $work/empty.conf -d $work/q1k check -n" \
	--prepare true -n 'check DEFERRED draining (1k)' "$gov -c $work/drain.conf -d $work/q1k check" \
	--prepare "$reset" -n 'check READY + claim (1k)' "$gov -c $work/empty.conf -d $work/q1k check"

jq -r '.results as $r | ($r[] | select(.command == "version") | .median) as $base |
	"\nscenario                         median ms   x --version",
	($r[] | "\(.command | . + " " * (32 - length)) \(.median * 1000 * 100 | round / 100 | tostring | . + " " * (11 - length)) \(.median / $base * 100 | round / 100)")' \
	"$out/core.json"
