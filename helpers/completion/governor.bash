# bash completion for governor(1).  Installed as share/bash-completion/completions/governor;
# by hand: `. helpers/completion/governor.bash`.
#
# The command and option lists below are kept in step with `governor --help` and every
# `governor COMMAND --help` by tests/cli/docs.bats: one `name) opts="..."` line per command.
# Task ids, models and schedule names are read from governor itself (honouring -c and -d).

_governor_run() {
	# Run governor with the -c/-d options already on the command line, quietly.
	local -a g=()
	local i
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-c | --config | -d | --state-dir) g+=("${COMP_WORDS[i]}" "${COMP_WORDS[i + 1]}") ;;
		esac
	done
	"${COMP_WORDS[0]}" "${g[@]}" "$@" 2>/dev/null
}

_governor_ids() { # [--all]: task ids, unfinished ones unless --all
	_governor_run list "$@" | awk '$1 ~ /^T-[0-9]+$/ { print $1 }'
}

_governor_models() {
	_governor_run config | awk -F' *; *' '/^allowed = / { sub(/^allowed = /, "", $1); n = split($1, m, / *, */); for (i = 1; i <= n; i++) if (m[i] != "") print m[i] }'
}

_governor_schedules() {
	_governor_run schedule list | awk 'NR > 1 && $1 ~ /^[A-Za-z0-9_-]+$/ { print $1 }'
}

_governor() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local commands="check add pop done fail retry cancel skip list status show probe config import
		log stats archive schedule run logs alerts store help"
	local globals="-c --config -d --state-dir -n --dry-run -q --quiet -v --verbose -h --help -V --version"
	local cmd="" cmdi=0 i w
	COMPREPLY=()

	# The command is the first word that is neither an option nor an option's argument.
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		-c | --config | -d | --state-dir) ((i++)) ;;
		-*) ;;
		*) cmd=$w cmdi=$i && break ;;
		esac
	done

	case $prev in
	-c | --config | --snapshot) _governor_files && return ;;
	-d | --state-dir) mapfile -t COMPREPLY < <(compgen -d -- "$cur") && return ;;
	esac

	if [ -z "$cmd" ]; then
		case $cur in
		-*) mapfile -t COMPREPLY < <(compgen -W "$globals" -- "$cur") ;;
		*) mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur") ;;
		esac
		return
	fi

	# `run ... -- CMD [ARG...]`: a command, then its arguments or the placeholders.
	if [ "$cmd" = run ]; then
		for ((i = cmdi + 1; i < COMP_CWORD; i++)); do
			if [ "${COMP_WORDS[i]}" = -- ]; then
				if ((COMP_CWORD == i + 1)); then
					mapfile -t COMPREPLY < <(compgen -c -- "$cur")
				else
					mapfile -t COMPREPLY < <(compgen -W "{id} {prompt} {model} {fallback_model}" -- "$cur")
					[ ${#COMPREPLY[@]} -gt 0 ] || _governor_files
				fi
				return
			fi
		done
	fi

	local opts="" words=""
	case $cmd in
	check) opts="--exit-code --snapshot -n --dry-run" ;;
	add) opts="-p --priority -m --model -s --source --meta --after --at --delay --max-retries --json -n --dry-run" ;;
	pop) opts="-n --dry-run" words=$(_governor_ids --status claimed) ;;
	done) opts="--result -n --dry-run" words=$(_governor_ids) ;;
	fail) opts="--reason -n --dry-run" words=$(_governor_ids) ;;
	retry) opts="-n --dry-run" words=$(_governor_ids --all) ;;
	cancel) opts="--reason -n --dry-run" words=$(_governor_ids) ;;
	skip) opts="-n --dry-run" words=$(_governor_ids) ;;
	list | status) opts="-a --all --status --json" ;;
	show) opts="--json" words=$(_governor_ids --all) ;;
	probe) opts="" ;;
	config) opts="--check" ;;
	import) opts="-n --dry-run" ;;
	log) opts="-n --lines --json" ;;
	stats) opts="--window --json" ;;
	archive) opts="--older-than" ;;
	schedule) opts="--every --cron --manual -p --priority -m --model --disabled --json" ;;
	run) opts="--wait --timeout --grace --exit-code -n --dry-run --" ;;
	logs) opts="-f --follow" words=$(_governor_ids --all) ;;
	alerts) opts="--clear --json -n --dry-run" ;;
	store) opts="--to -n --dry-run" ;;
	help) words=$commands ;;
	esac

	case $prev in
	-p | --priority) mapfile -t COMPREPLY < <(compgen -W "low normal high" -- "$cur") && return ;;
	-m | --model) mapfile -t COMPREPLY < <(compgen -W "$(_governor_models)" -- "$cur") && return ;;
	--status) mapfile -t COMPREPLY < <(compgen -W "pending claimed running done blocked cancelled skipped" -- "$cur") && return ;;
	--after) mapfile -t COMPREPLY < <(compgen -W "$(_governor_ids)" -- "$cur") && return ;;
	-s | --source | --meta | --at | --delay | --max-retries | --result | --reason | -n | --lines | \
		--window | --older-than | --every | --cron | --timeout | --grace)
		# An option's value (for `-n`, only where it takes one: log).
		if [ "$prev" != -n ] || [ "$cmd" = log ]; then
			return
		fi
		;;
	esac

	if [ "$cmd" = schedule ]; then
		if ((COMP_CWORD == cmdi + 1)); then
			mapfile -t COMPREPLY < <(compgen -W "add list rm enable disable run" -- "$cur")
			return
		fi
		case ${COMP_WORDS[cmdi + 1]} in
		rm | enable | disable | run) ((COMP_CWORD == cmdi + 2)) && words=$(_governor_schedules) ;;
		list) opts="--json" ;;
		esac
	fi

	if [ "$cmd" = store ]; then
		if ((COMP_CWORD == cmdi + 1)); then
			words="init migrate"
		elif [ "$prev" = --to ]; then
			words="postgres"
		fi
	fi

	case $cur in
	-*) mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur") ;;
	*)
		if [ "$cmd" = import ]; then
			_governor_files
		else
			mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
		fi
		;;
	esac
}

_governor_files() {
	mapfile -t COMPREPLY < <(compgen -f -- "$cur")
	compopt -o filenames 2>/dev/null
	return 0
}

complete -F _governor governor
