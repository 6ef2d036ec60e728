#!/bin/sh
# cg-top.sh SIZE SCENARIO SELF.txt INCLUSIVE.txt: one JSON line summarising two
# callgrind_annotate reports (--threshold=100): total instructions, the top functions by self and
# by inclusive count with their shares, and the self count per object (executable or library).
set -eu
rows() {
	# "1,234 (12.34%)  file:function [object]" -> ir TAB file TAB function TAB object
	awk '/^ *[0-9,]+ \( *[0-9.]+%\)  / && !/PROGRAM TOTALS/ {
		ir = $1; gsub(",", "", ir);
		line = $0; sub(/^ *[0-9,]+ \( *[0-9.]+%\)  /, "", line);
		obj = ""; if (match(line, / \[[^]]*\]$/)) { obj = substr(line, RSTART + 2, RLENGTH - 3); line = substr(line, 1, RSTART - 1) }
		i = index(line, ":"); file = substr(line, 1, i - 1); fn = substr(line, i + 1);
		printf "%s\t%s\t%s\t%s\n", ir, file, fn, obj }' "$1"
}
total=$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' "$3")
{
	rows "$3" | sed 's/^/S\t/'
	rows "$4" | sed 's/^/I\t/'
} | jq -R -s -c --arg size "$1" --arg name "$2" --argjson total "${total:-0}" '
	[split("\n")[] | select(length > 0) | split("\t")
	 | {kind: .[0], ir: (.[1] | tonumber), file: .[2], fn: .[3], obj: (.[4] | sub(".*/"; ""))}] as $r
	| def share: (. / $total * 1000 | round / 10);
	{size: ($size | tonumber), scenario: $name, total_ir: $total,
	 self: [$r[] | select(.kind == "S")][:12] | map({fn, file, obj, ir, pct: (.ir | share)}),
	 inclusive: [$r[] | select(.kind == "I")][:40] | map({fn, file, obj, ir, pct: (.ir | share)}),
	 by_object: ([$r[] | select(.kind == "S")] | group_by(.obj)
	              | map({obj: .[0].obj, ir: (map(.ir) | add)}) | sort_by(-.ir)[:8]
	              | map(. + {pct: (.ir | share)}))}'
