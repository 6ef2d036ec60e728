#!/bin/sh
# run.sh [SECONDS]: build the libFuzzer harnesses (clang, -DGOVERNOR_FUZZ=ON, in build-fuzz/)
# and run each for SECONDS (default 30), two at a time (FUZZ_JOBS), seeded from
# tests/fuzz/corpus/<harness>/.  New inputs go to build-fuzz/fuzz-corpus/<harness>/ (kept
# between runs), crashes to build-fuzz/fuzz-artifacts/.  Exit 1 when any harness finds a crash.
#   FUZZ_BUILD    build dir (default: <repo>/build-fuzz)
#   FUZZ_ONLY     space-separated harness names to run (default: all)
#   FUZZ_JOBS     harnesses run at once (default 2)
set -eu
secs="${1:-30}"
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build="${FUZZ_BUILD:-$repo/build-fuzz}"
jobs="${FUZZ_JOBS:-2}"
all="fuzz_journal fuzz_config fuzz_duration fuzz_snapshot fuzz_cron fuzz_time fuzz_extract fuzz_alerts"
only="${FUZZ_ONLY:-$all}"

mkdir -p "$build"
if ! { cmake -S "$repo" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DGOVERNOR_FUZZ=ON && cmake --build "$build" -j 2 --target $only; } >"$build/fuzz-build.log" 2>&1; then
	cat "$build/fuzz-build.log" >&2
	exit 1
fi

mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# run_one NAME: one harness for $secs seconds; exit status 0 when it found nothing.
run_one() {
	name="$1"
	work="$build/fuzz-corpus/$name"
	mkdir -p "$work"
	dict=
	case "$name" in
	fuzz_journal | fuzz_snapshot | fuzz_extract | fuzz_alerts) dict="-dict=$here/json.dict" ;;
	fuzz_config) dict="-dict=$here/config.dict" ;;
	fuzz_cron) dict="-dict=$here/cron.dict" ;;
	esac
	"$build/tests/fuzz/$name" "$work" "$here/corpus/$name" $dict -max_total_time="$secs" \
		-max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$build/fuzz-artifacts/$name-" >"$build/fuzz-logs/$name.log" 2>&1
}

start=$(date +%s)
failed=
pids=
running=0
for name in $only; do
	if [ "$running" -ge "$jobs" ]; then
		set -- $pids
		wait "$1" || true
		pids="${pids#* }"
		running=$((running - 1))
	fi
	( if run_one "$name"; then echo ok >"$build/fuzz-logs/$name.rc"; else echo fail >"$build/fuzz-logs/$name.rc"; fi ) &
	pids="$pids $!"
	pids="${pids# }"
	running=$((running + 1))
done
wait
for name in $only; do
	log="$build/fuzz-logs/$name.log"
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
	corpus=$(find "$build/fuzz-corpus/$name" -type f | wc -l)
	if [ "$(cat "$build/fuzz-logs/$name.rc")" = ok ]; then
		printf '%-14s ok    %ss  %s runs  cov %s  corpus %s\n' "$name" "$secs" "${runs:-?}" "${cov:-?}" "$corpus"
	else
		printf '%-14s FOUND a problem: see %s and %s\n' "$name" "$log" "$build/fuzz-artifacts/"
		grep -E 'ERROR|SUMMARY|runtime error|abort|Test unit written' "$log" | head -n 8
		failed=1
	fi
done
echo "fuzzing took $(($(date +%s) - start)) s"
[ -z "$failed" ]
