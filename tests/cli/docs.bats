#!/usr/bin/env bats
# The docs are in step with the binary: every command of `governor --help`, every long option of
# each `governor COMMAND --help` and every config key printed by `governor config` appears in
# governor(1) or governor.conf(5), and in the bash completion; the lists come from the binary at
# test time, so a new command, option or key without docs fails here.  The JSON Schemas of
# docs/schema/ validate real output (ajv-cli from tests/clients/node, installed by .ci/setup).

load helpers

ROOT="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
MAN1="$ROOT/docs/governor.1"
MAN5="$ROOT/docs/governor.conf.5"
COMPLETION="$ROOT/helpers/completion/governor.bash"
SCHEMAS="$ROOT/docs/schema"
NODE_DIR="$ROOT/tests/clients/node"

# Man source as plain text: no font escapes, \- as -, no zero-width \&.
man_text() {
	sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e 's/\\&//g' -e 's/\\(em/--/g' "$1"
}

# The commands of `governor --help` (aliases too), one per line.
help_commands() {
	"$GOVERNOR" --help | awk '
		/^Commands:/ { on = 1; next }
		on && /^$/ { exit }
		on && /^  [a-z]/ { sub(/^  /, ""); split($0, a, /  +/); n = split(a[1], c, /, */); for (i = 1; i <= n; i++) print c[i] }'
}

# The long options in CMD's --help (without --help; quoted examples such as 'governor check
# --snapshot FILE' in another command's help are not its options).
help_options() {
	"$GOVERNOR" "$1" --help | sed "s/'[^']*'//g" | grep -oE -- '--[a-z][a-z0-9-]*' | grep -vx -- --help | sort -u
}

# The global options of `governor --help`, as "SHORT LONG" pairs (SHORT may be empty).
global_options() {
	"$GOVERNOR" --help | sed -n '/^Options:/,/^$/p' | grep -oE -- '^  (-[a-zA-Z], )?--[a-z][a-z-]*' |
		sed -E 's/^  //; s/,//'
}

# man1_entries: "NAME<TAB>line" for each line of each command's entry under .SH COMMANDS
# (an entry starts at .TP + ".B NAME"; ".TQ" + ".B ALIAS" joins the entry before it).
man1_entries() {
	man_text "$MAN1" | awk '
		/^\.SH / { sec = $2; cur = ""; next }
		sec != "COMMANDS" { next }
		(prev == ".TP" || prev == ".TQ") && /^\.B [a-z]/ {
			name = $2
			if (prev == ".TQ") alias[name] = cur; else cur = name
		}
		{ prev = $0; if (cur != "") print cur "\t" $0 }
		END { for (a in alias) print "ALIAS\t" a "\t" alias[a] }'
}

@test "every command in governor --help has an entry in governor(1)" {
	run help_commands
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -ge 15 ]           # the parser found the list
	entries=$(man1_entries)
	missing=""
	for c in "${lines[@]}"; do
		grep -q "^$c	" <<<"$entries" || grep -q "^ALIAS	$c	" <<<"$entries" || missing+=" $c"
	done
	[ -z "$missing" ] || { echo "not in governor.1 COMMANDS:$missing" >&2; false; }
}

@test "every long option of every command appears in that command's entry in governor(1)" {
	entries=$(man1_entries)
	globals=$(global_options)
	missing=""
	for c in $(help_commands); do
		entry=$c
		a=$(awk -F'\t' -v c="$c" '$1 == "ALIAS" && $2 == c { print $3 }' <<<"$entries")
		[ -z "$a" ] || entry=$a
		text=$(awk -F'\t' -v c="$entry" '$1 == c { print $2 }' <<<"$entries")
		for o in $(help_options "$c"); do
			grep -qE -- "(^|[^a-z-])$o([^a-z-]|$)" <<<"$text" && continue
			# A global option (-n, --dry-run) is documented under OPTIONS; the entry shows its short form.
			short=$(awk -v o="$o" '$2 == o { print $1 }' <<<"$globals")
			[ -n "$short" ] && grep -qE -- "(^|[^a-z-])$short([^a-z-]|$)" <<<"$text" && continue
			missing+=" $c:$o"
		done
	done
	[ -z "$missing" ] || { echo "options missing from their command's entry in governor.1:$missing" >&2; false; }
}

@test "every global option in governor --help is in governor(1) OPTIONS" {
	opts=$("$GOVERNOR" --help | sed -n '/^Options:/,/^$/p' | grep -oE -- '--[a-z][a-z-]*' | sort -u)
	[ -n "$opts" ]
	text=$(man_text "$MAN1" | sed -n '/^\.SH OPTIONS/,/^\.SH /p')
	for o in $opts; do
		grep -qE -- "(^|[^a-z-])$o([^a-z-]|$)" <<<"$text" || { echo "$o not in OPTIONS" >&2; false; }
	done
}

# Config files whose `governor config` output lists keys: the defaults, and one of each kind of
# templated section that this binary accepts (a variant it rejects is reported, not failed).
config_variants() {
	local d="$BATS_TEST_TMPDIR/variants" i=0
	mkdir -p "$d"
	while IFS= read -r v; do
		i=$((i + 1))
		printf '%b\n' "$v" >"$d/$i.conf"
		chmod 600 "$d/$i.conf"
		if "$GOVERNOR" -c "$d/$i.conf" -d "$STATE" config --check 2>/dev/null; then
			echo "$d/$i.conf"
		else
			echo "# config variant not accepted by this binary, its keys unchecked: $v" >&3
		fi
	done <<'EOF'
; defaults
[sessions.t]\nmatch = x
[sessions.t]\nkind = interactive\ntype = command\ncommand = true
[sessions.t]\ntype = http\nurl = http://127.0.0.1:9/sessions
[limits.t]\ntype = command\ncommand = true\nmax = 1
[limits.t]\ntype = http\nurl = http://127.0.0.1:9/value\nmax = 1
EOF
}

# "section<TAB>key" for every key `governor config` prints.
config_keys() {
	local f
	for f in $(config_variants); do
		"$GOVERNOR" -c "$f" -d "$STATE" config | awk '
			/^\[/ { s = $1; gsub(/[][]/, "", s); next }
			/^[a-z_]+ *=/ { k = $1; print s "\t" k }'
	done | sort -u
}

@test "every config key printed by governor config is in governor.conf(5), under its section" {
	run config_keys
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -ge 20 ]
	text=$(man_text "$MAN5")
	missing=""
	for l in "${lines[@]}"; do
		s=${l%%	*} k=${l#*	}
		# the section's heading ([s], or [prefix.NAME] for a section the user names), then the
		# key as a bold term (.B/.BR/.TP line) in that section
		sect=$(awk -v h=".SS [$s]" '$0 == h { on = 1; next } /^\.S[SH] / { on = 0 } on' <<<"$text")
		[ -n "$sect" ] || sect=$(awk -v h=".SS [${s%%.*}.NAME]" '$0 == h { on = 1; next } /^\.S[SH] / { on = 0 } on' <<<"$text")
		[ -n "$sect" ] || { missing+=" [$s]"; continue; }
		# governor.conf(5) says a limit takes the keys of a session source: those may be there.
		[[ "$s" != limits.* ]] ||
			sect+=$'\n'$(awk '$0 == ".SS [sessions.NAME]" { on = 1; next } /^\.S[SH] / { on = 0 } on' <<<"$text")
		grep -E '^\.(B|BR|TP|IP)( |$)' <<<"$sect" | grep -qE "(^|[^a-z_])$k([^a-z_]|$)" || missing+=" [$s]$k"
	done
	[ -z "$missing" ] || { echo "missing from governor.conf.5:$missing" >&2; false; }
}

@test "the bash completion knows every command and every long option" {
	missing=""
	cmds=$(sed -n '/local commands="/,/"/p' "$COMPLETION")
	for c in $(help_commands); do
		grep -qE "(^|[ \"	])$c([ \"	]|$)" <<<"$cmds" || missing+=" command:$c"
		line=$(grep -E "^	(.*\| )?$c( \|.*)?\) " "$COMPLETION" | head -1)
		[ -n "$line" ] || { missing+=" case:$c"; continue; }
		for o in $(help_options "$c"); do
			grep -qE -- "[\" ]$o[\" ]" <<<"$line" || missing+=" $c:$o"
		done
	done
	for o in $("$GOVERNOR" --help | sed -n '/^Options:/,/^$/p' | grep -oE -- '--[a-z][a-z-]*'); do
		grep -q -- "local globals=.* $o" "$COMPLETION" || missing+=" global:$o"
	done
	[ -z "$missing" ] || { echo "not in helpers/completion/governor.bash:$missing" >&2; false; }
}

@test "the bash completion completes commands, options and task ids" {
	gov add "one" >/dev/null
	gov add "two" >/dev/null
	run bash -c '
		. "$1"; shift
		comp() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _governor; echo "${COMPREPLY[*]}"; }
		comp "$GOVERNOR" ch
		comp "$GOVERNOR" add --pri
		comp "$GOVERNOR" -d "$STATE" -c "$CONF" show ""
		comp "$GOVERNOR" add -p ""
		comp "$GOVERNOR" run --wait -- echo "{p"
	' _ "$COMPLETION"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = check ]
	[ "${lines[1]}" = --priority ]
	[ "${lines[2]}" = "T-01 T-02" ]
	[ "${lines[3]}" = "low normal high" ]
	[ "${lines[4]}" = "{prompt}" ]
}

@test "the man pages render without warnings" {
	command -v groff >/dev/null || skip "groff is not installed"
	for m in "$MAN1" "$MAN5"; do
		run groff -man -ww -z "$m"
		[ "$status" -eq 0 ]
		[ -z "$output" ] || { echo "$m: $output" >&2; false; }
	done
}

@test "the example config is valid and sets only documented keys" {
	ex="$ROOT/helpers/governor.conf.example"
	run "$GOVERNOR" -c "$ex" -d "$STATE" config --check
	[ "$status" -eq 0 ]
	text=$(man_text "$MAN5")
	for k in $(grep -oE '^[a-z_]+' "$ex" | sort -u); do
		grep -qE "(^|[^a-z_])$k([^a-z_]|$)" <<<"$text" || { echo "$k not in governor.conf.5" >&2; false; }
	done
}

# ---- JSON Schemas ---------------------------------------------------------------------------

need_ajv() {
	command -v node >/dev/null || skip "node is not installed: the schema tests need it (.ci/setup installs nodejs)"
	AJV="$NODE_DIR/node_modules/.bin/ajv"
	[ -x "$AJV" ] || skip "ajv-cli is not installed: run .ci/setup (npm ci --prefix tests/clients/node)"
}

# validate SCHEMA FILE...: every FILE (one JSON document each) is valid.
validate() {
	local schema="$1"
	shift
	(cd "$NODE_DIR" && "$AJV" validate --spec=draft2020 --allow-union-types --strict=true \
		-c ajv-formats -s "$SCHEMAS/$schema" $(printf -- '-d %s ' "$@"))
}

# save NAME TEXT: TEXT into $BATS_TEST_TMPDIR/json/NAME.json
save() {
	mkdir -p "$BATS_TEST_TMPDIR/json"
	printf '%s\n' "$2" >"$BATS_TEST_TMPDIR/json/$1.json"
	echo "$BATS_TEST_TMPDIR/json/$1.json"
}

@test "the schemas compile (draft 2020-12, strict)" {
	need_ajv
	for s in "$SCHEMAS"/*.schema.json; do
		(cd "$NODE_DIR" && "$AJV" compile --spec=draft2020 --allow-union-types --strict=true -c ajv-formats -s "$s")
	done
}

@test "real decision lines validate: READY, DEFERRED (with and without readings), NO_TASKS, ERROR" {
	need_ajv
	conf_ignore_host_load
	calm_snapshot
	files=()
	files+=("$(save no_tasks "$(gov check)")")
	gov add --delay 1h "later" >/dev/null
	files+=("$(save no_tasks_waiting "$(gov check)")")
	gov add -m claude-haiku-3-5 $'a "quoted"\nprompt \\ é' >/dev/null
	files+=("$(save ready_dry "$(gov check -n)")")
	files+=("$(save deferred_draining "$(GOVERNOR_POLICY_MAX_CONCURRENT=0 gov check)")")
	files+=("$(save deferred_cpu "$(gov check --snapshot <(write_snapshot /dev/stdout cpu=99) -n)")")
	h=$(( (10#$(date +%H) + 2) % 24 ))
	files+=("$(save deferred_hours "$(GOVERNOR_POLICY_ACTIVE_HOURS="$(printf '%02d:00-%02d:30' "$h" "$h")" gov check -n)")")
	files+=("$(save ready "$(gov check)")")
	files+=("$(save no_tasks_snapshot "$(gov check --snapshot "$CALM")")")
	gov add "one more" >/dev/null
	files+=("$(save deferred_concurrency "$(gov check --snapshot "$CALM")")")
	run --separate-stderr gov check --snapshot "$BATS_TEST_TMPDIR/no-such-file"
	[ "$status" -ne 0 ]
	files+=("$(save error_snapshot "$output")")
	for f in "${files[@]}"; do
		jq -e 'type == "object"' "$f" >/dev/null || { echo "not one JSON object: $f: $(cat "$f")" >&2; false; }
	done
	# the variants really were produced
	jq -s -e 'map(.status) | (index("READY") and index("DEFERRED") and index("NO_TASKS") and index("ERROR")) != null' "${files[@]}"
	jq -e '.reason == "concurrency_limit"' "$BATS_TEST_TMPDIR/json/deferred_concurrency.json"
	run validate decision.schema.json "${files[@]}"
	[ "$status" -eq 0 ] || { echo "$output" >&2; false; }
}

@test "the queue journal validates: header line and every task line, show --json and list --json" {
	need_ajv
	conf_ignore_host_load
	conf 'backoff_min = 0' 'max_retries = 2'
	gov add "plain" >/dev/null
	gov add -p high -m claude-haiku-3-5 --meta k=v -s bats $'quotes " and \\ and\nnewline' >/dev/null
	gov add --after T-01 "after one" >/dev/null
	gov add --at 2099-01-01T00:00:00Z "far" >/dev/null
	gov check >/dev/null && gov pop >/dev/null && gov fail T-02 --reason "first" >/dev/null
	gov check >/dev/null && gov pop >/dev/null && gov fail T-02 --reason "second" >/dev/null
	gov check >/dev/null && gov pop >/dev/null && gov 'done' T-01 --result "ok" >/dev/null
	gov cancel T-04 >/dev/null
	gov check >/dev/null          # T-03 is claimed now
	[ "$(gov show --json T-02 | jq -r .status)" = blocked ]

	d="$BATS_TEST_TMPDIR/journal"
	mkdir -p "$d"
	n=0
	while IFS= read -r l; do
		n=$((n + 1))
		printf '%s\n' "$l" >"$d/$n.json"
	done <"$QF"
	[ "$n" -ge 10 ]
	run validate journal-header.schema.json "$d/1.json"
	[ "$status" -eq 0 ] || { echo "$output" >&2; false; }
	tasks=()
	for ((i = 2; i <= n; i++)); do tasks+=("$d/$i.json"); done
	tasks+=("$(save show "$(gov show --json T-02)")")
	gov list --all --json | jq -c '.[]' | { i=0; while IFS= read -r t; do i=$((i + 1)); save "list$i" "$t" >/dev/null; done; }
	tasks+=("$BATS_TEST_TMPDIR"/json/list*.json)
	run validate task.schema.json "${tasks[@]}"
	[ "$status" -eq 0 ] || { echo "$output" >&2; false; }
}

@test "the schemas reject wrong lines" {
	need_ajv
	conf_ignore_host_load
	gov add "x" >/dev/null
	ready=$(gov check -n)
	bad=(
		"$(jq -c 'del(.recommendation)' <<<"$ready")"
		"$(jq -c '.recommendation.model = null' <<<"$ready")"
		"$(jq -c '.status = "Ready"' <<<"$ready")"
		"$(jq -c '.task.id = "7"' <<<"$ready")"
		"$(jq -c '.decided_at = "yesterday"' <<<"$ready")"
		"$(jq -c '. + {"surprise": 1}' <<<"$ready")"
		'{"status":"DEFERRED","reason":"too_busy","detail":"","pending_count":1,"waiting_count":0,"in_flight":0,"decided_at":"2026-01-01T00:00:00Z"}'
		'{"status":"NO_TASKS","pending_count":-1,"waiting_count":0,"next_eligible_at":null,"in_flight":0,"decided_at":"2026-01-01T00:00:00Z"}'
		'{"status":"ERROR","error":{"code":"queue_corrupt"}}'
	)
	i=0
	for l in "${bad[@]}"; do
		i=$((i + 1))
		f=$(save "bad$i" "$l")
		run validate decision.schema.json "$f"
		[ "$status" -ne 0 ] || { echo "accepted: $l" >&2; false; }
	done
	task=$(gov show --json T-01)
	for l in "$(jq -c '.status = "paused"' <<<"$task")" "$(jq -c 'del(.attempts)' <<<"$task")" \
		"$(jq -c '.priority = 1.5' <<<"$task")" '{"version":1,"last_id":0,"archived_count":0}'; do
		f=$(save badtask "$l")
		s=task.schema.json
		[[ "$l" == '{"version"'* ]] && s=journal-header.schema.json
		run validate "$s" "$f"
		[ "$status" -ne 0 ] || { echo "accepted: $l" >&2; false; }
	done
}
