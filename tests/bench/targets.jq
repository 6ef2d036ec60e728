# targets.jq: the targets of issue 5, evaluated on results/bench.json (jq -f targets.jq).
# Output: an array of {id, target, met (true, false, or null when not measured), checks, profile}.
# Every check compares medians taken in the same hyperfine run (one run per queue size).
def sc($n; $name): first(.sizes[] | select(.size == $n) | .scenarios[] | select(.name == $name)) // null;
def ms: . * 1000 * 100 | round / 100;
def r2: . * 100 | round / 100;
def verdict: if length == 0 or any(.[]; .met == null) then null else all(.[]; .met) end;
def checks_of: [.[] | select(. != null)];
. as $b
| ["check_ready", "check_dry", "check_deferred"] as $checks
| [
  # 1. check at 1k <= 2x --version, with the default config.
  ([$checks[] as $c | ($b | sc(1000; $c)) as $s | ($b | sc(1000; "version")) as $v
    | if $s == null or $v == null then null else
      {scenario: $c, median_ms: ($s.median | ms), version_ms: ($v.median | ms),
       ratio: ($s.median / $v.median | r2), limit: 2, met: ($s.median <= 2 * $v.median),
       cpu_ms: ($s.user + $s.system | ms), version_cpu_ms: ($v.user + $v.system | ms)} end]
   | checks_of | {id: "check-vs-version", target: "check at 1k pending <= 2x governor --version",
                  met: verdict, checks: .,
                  profile: [.[] | select(.met == false) | "1000 \(.scenario)", "1000 version"]}),
  # 2. check at 1k below tsp -l at 1k.
  ([$checks[] as $c | ($b | sc(1000; $c)) as $s | ($b | sc(1000; "tsp_list")) as $t
    | if $s == null or $t == null then null else
      {scenario: $c, median_ms: ($s.median | ms), tsp_list_ms: ($t.median | ms),
       ratio: ($s.median / $t.median | r2), limit: 1, met: ($s.median < $t.median)} end]
   | checks_of | {id: "check-vs-tsp", target: "check at 1k pending below tsp -l at 1k",
                  met: verdict, checks: .,
                  profile: [.[] | select(.met == false) | "1000 \(.scenario)"]}),
  # 3. add at 1k <= 2x tsp enqueue.
  ([($b | sc(1000; "add")) as $s | ($b | sc(1000; "tsp_enqueue")) as $t
    | if $s == null or $t == null then null else
      {scenario: "add", median_ms: ($s.median | ms), tsp_enqueue_ms: ($t.median | ms),
       ratio: ($s.median / $t.median | r2), limit: 2, met: ($s.median <= 2 * $t.median),
       cpu_ms: ($s.user + $s.system | ms), tsp_cpu_ms: ($t.user + $t.system | ms)} end]
   | checks_of | {id: "add-vs-tsp", target: "add at 1k pending <= 2x tsp enqueue",
                  met: verdict, checks: ., profile: [.[] | select(.met == false) | "1000 add"]}),
  # 4. add at 100k <= 2x add at 1k (medians; the mean is shown, it carries the index rebuilds).
  ([($b | sc(100000; "add")) as $s | ($b | sc(1000; "add")) as $k
    | if $s == null or $k == null then null else
      {scenario: "add", median_100k_ms: ($s.median | ms), median_1k_ms: ($k.median | ms),
       ratio: ($s.median / $k.median | r2), limit: 2, met: ($s.median <= 2 * $k.median),
       mean_100k_ms: ($s.mean | ms), mean_1k_ms: ($k.mean | ms),
       max_100k_ms: ($s.max | ms), mean_ratio: ($s.mean / $k.mean | r2)} end]
   | checks_of | {id: "add-flat", target: "add at 100k pending <= 2x add at 1k",
                  met: verdict, checks: ., profile: [.[] | select(.met == false) | "100000 add"]}),
  # 5. check at 100k <= 100 ms median, peak RSS <= 64 MB.
  ([$checks[] as $c | ($b | sc(100000; $c)) as $s
    | if $s == null then null else
      {scenario: $c, median_ms: ($s.median | ms), rss_mb: (($s.rss_kb // 0) / 1024 | r2),
       limit: "100 ms, 64 MB",
       met: ($s.median <= 0.1 and $s.rss_kb != null and $s.rss_kb <= 64 * 1024)} end]
   | checks_of | {id: "check-100k", target: "check at 100k pending <= 100 ms median, peak RSS <= 64 MB",
                  met: verdict, checks: .,
                  profile: [.[] | select(.met == false) | "100000 \(.scenario)"]}),
  # 6. every scenario at least 10x faster than the shell + jq baseline, at 1k.
  ([["check_no_tasks", "check_deferred", "check_dry", "check_ready", "add", "pop", "list"][] as $g
    | ($b | sc(1000; $g)) as $s | ($b | sc(1000; "jq_" + $g)) as $j
    | if $s == null or $j == null then null else
      {scenario: $g, median_ms: ($s.median | ms), jq_ms: ($j.median | ms),
       speedup: ($j.median / $s.median | r2), limit: 10, met: ($j.median >= 10 * $s.median)} end]
   | checks_of | {id: "vs-jq", target: "every scenario >= 10x faster than the sh + jq baseline at 1k",
                  met: verdict, checks: .,
                  profile: [.[] | select(.met == false) | "1000 \(.scenario)"]})
  ]
