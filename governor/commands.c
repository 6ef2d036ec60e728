/* commands.c: the one command table, lookup, and the shared plumbing every command uses. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "governor/alerts.h"
#include "governor/cli.h"
#include "queue/queue.h"
#include "queue/history.h"
#include "queue/statedir.h"
#include "queue/timefmt.h"

static int cmd_help(struct ctx *ctx, int argc, char **argv);

const struct cmd commands[] = {
	{ "check", NULL, cmd_check, "[--exit-code] [--snapshot FILE] [-n]",
	  "decide: print one READY, DEFERRED or NO_TASKS line (the default command)",
	  "  --exit-code       exit 0 READY, 3 NO_TASKS, 75 DEFERRED, 2 lock held\n"
	  "  --snapshot FILE   decide on the readings in FILE (the output of 'governor probe')\n"
	  "                    instead of probing; with -n nothing changes\n"
	  "  -n, --dry-run     decide, but claim nothing, log nothing and take no lock\n", CMD_ALERTS },
	{ "add", NULL, cmd_add,
	  "[--priority N|low|normal|high] [--model M] [--source S] [--meta K=V]... [--after ID] [--at TIME|--delay DUR] [--max-retries N] [--json] PROMPT|-",
	  "queue a task and print its id",
	  "  -p, --priority P  an integer from -1000 to 1000, or low (0), normal (1, default), high (2)\n"
	  "  -m, --model M     run on model M (must be in models.allowed)\n"
	  "  -s, --source S    who added it (default: cli)\n"
	  "  --meta K=V        a metadata string; repeatable\n"
	  "  --after ID        run only once task ID is done (blocked if ID ends blocked,\n"
	  "                    cancelled or skipped)\n"
	  "  --at TIME         not before TIME (RFC 3339, e.g. 2026-11-25T02:00:00Z)\n"
	  "  --delay DUR       not before DUR from now (90s, 15m, 2h, ...)\n"
	  "  --max-retries N   failed attempts before the task is blocked (default: policy.max_retries)\n"
	  "  --json            print the new task as JSON instead of its id\n"
	  "  -n, --dry-run     validate and print, but do not queue\n"
	  "  PROMPT            the task; '-' reads it from standard input (trailing newlines dropped)\n", 0 },
	{ "pop", NULL, cmd_pop, "[-n] [ID]",
	  "confirm a claimed task was spawned: it becomes running under a lease",
	  "  ID                the claimed task (default: the oldest claim)\n"
	  "  -n, --dry-run     print what would happen, change nothing\n", 0 },
	{ "done", NULL, cmd_done, "[-n] [--result TEXT] ID",
	  "report that a task finished well",
	  "  --result TEXT     what it produced, kept on the task\n"
	  "  -n, --dry-run     print what would happen, change nothing\n"
	  "  A pending, claimed or running task can be marked done.\n", 0 },
	{ "fail", NULL, cmd_fail, "[-n] [--reason TEXT] ID",
	  "report a failed attempt: retried after a backoff, blocked after max_retries",
	  "  --reason TEXT     why it failed, kept with the attempt\n"
	  "  -n, --dry-run     print what would happen, change nothing\n"
	  "  A claimed or running task can fail.\n", 0 },
	{ "retry", NULL, cmd_retry, "[-n] ID", "make a blocked, cancelled or skipped task pending again, retries 0",
	  "  -n, --dry-run     print what would happen, change nothing\n", 0 },
	{ "cancel", NULL, cmd_cancel, "[-n] [--reason TEXT] ID", "cancel a task that has not finished",
	  "  --reason TEXT     why\n"
	  "  -n, --dry-run     print what would happen, change nothing\n", 0 },
	{ "skip", NULL, cmd_skip, "[-n] ID", "skip a pending, claimed or blocked task for good",
	  "  -n, --dry-run     print what would happen, change nothing\n", 0 },
	{ "list", "status", cmd_list, "[--all] [--status S] [--json]",
	  "the queue as a table, or JSON",
	  "  -a, --all         include done, cancelled and skipped tasks\n"
	  "  --status S        only tasks in state S (pending, claimed, running, done, blocked,\n"
	  "                    cancelled, skipped)\n"
	  "  --json            a JSON array of tasks\n", 0 },
	{ "show", NULL, cmd_show, "[--json] ID", "one task in full, with every attempt",
	  "  --json            the task as JSON\n", 0 },
	{ "probe", NULL, cmd_probe, "", "print the current readings (a snapshot) as JSON",
	  "  The output can be saved and replayed with 'governor check --snapshot FILE'.\n", 0 },
	{ "config", NULL, cmd_config, "[--check]", "print the effective config with the origin of each value",
	  "  --check           only validate: exit 0 when valid, 78 naming file and line when not\n", 0 },
	{ "import", NULL, cmd_import, "[-n] FILE",
	  "add the tasks of a legacy pending_tasks.json array (FILE is left untouched)",
	  "  FILE              a JSON array of {prompt, priority, added_at, metadata}; '-' for stdin\n"
	  "  -n, --dry-run     validate and count, add nothing\n", 0 },
	{ "run", NULL, cmd_run, "[--wait] [--timeout DUR] [--grace DUR] [--exit-code] [-n] -- CMD [ARG...]",
	  "one heartbeat: check, and on READY pop the task and start CMD for it, detached",
	  "  CMD [ARG...]      run without a shell; an argument that is exactly {id}, {prompt},\n"
	  "                    {model} or {fallback_model} is replaced by that value; the same\n"
	  "                    values are in GOVERNOR_TASK_ID, GOVERNOR_PROMPT, GOVERNOR_MODEL and\n"
	  "                    GOVERNOR_FALLBACK_MODEL; output goes to logs/T-NN.log\n"
	  "  --wait            wait for CMD; exit 0 when it was recorded done, 1 otherwise\n"
	  "  --timeout DUR     stop CMD after DUR (SIGTERM to its process group, then SIGKILL\n"
	  "                    after --grace, default 10s) and record fail \"timeout\"\n"
	  "  --exit-code       as for check: 0 READY, 3 NO_TASKS, 75 DEFERRED, 2 lock held\n"
	  "  -n, --dry-run     decide only: claim nothing, start nothing\n"
	  "  Prints the decision line; on READY it carries \"pid\" (CMD's) and \"log\".\n"
	  "  CMD exiting 0 is recorded as done, anything else as fail with the log's tail.\n", CMD_ALERTS },
	{ "logs", NULL, cmd_logs, "[-f] ID", "the output of a task started by run",
	  "  -f, --follow      keep printing while the task runs\n", 0 },
	{ "log", NULL, cmd_log, "[-n N] [--json]", "the last decisions and transitions from the history log",
	  "  -n, --lines N     how many (default 20)\n"
	  "  --json            the raw JSON lines\n", 0 },
	{ "stats", NULL, cmd_stats, "[--window DUR] [--json]",
	  "tasks per state, success rate, run times and deferrals by reason",
	  "  --window DUR      how far back the history counts (default 24h)\n"
	  "  --json            one JSON object\n", 0 },
	{ "archive", NULL, cmd_archive, "[--older-than DUR]",
	  "move finished tasks to archive/YYYY-MM.jsonl now",
	  "  --older-than DUR  finished at least this long ago (default: policy.archive_days; 0 = all)\n", 0 },
	{ "schedule", NULL, cmd_schedule, "add|list|rm|enable|disable|run [ARGS]",
	  "recurring tasks: check queues each schedule's prompt when it is due",
	  "  add NAME (--every DUR | --cron EXPR | --manual) [-p P] [-m M] [--disabled] [--json] PROMPT|-\n"
	  "                    add a schedule; NAME: 1-64 of A-Z a-z 0-9 _ -; DUR at least 1m;\n"
	  "                    EXPR: 'minute hour day-of-month month day-of-week' in local time,\n"
	  "                    or @hourly, @daily, @weekly, @monthly, @yearly\n"
	  "  list [--json]     every schedule with its rule, next and last run, runs, last task\n"
	  "  rm NAME           remove a schedule (tasks it queued stay)\n"
	  "  enable NAME       resume: the next run is the first after now\n"
	  "  disable NAME      pause: check queues nothing for it\n"
	  "  run NAME          queue one task now, whatever the rule, and print its id; exit 65\n"
	  "                    while the schedule's last task is pending, claimed or running\n",
	  CMD_OWN_HELP },
	{ "store", NULL, cmd_store, "init|migrate --to postgres [-n]",
	  "the postgres store of a fleet: create its schema, copy this host's queue into it",
	  "  init              create the tables in store.dsn's database, or migrate them to\n"
	  "                    this version's schema; safe to run again\n"
	  "  migrate --to postgres\n"
	  "                    copy the file queue of this state dir (archive included) into the\n"
	  "                    postgres store under the same ids; tasks already there are left\n"
	  "                    alone, so it is safe to run again\n"
	  "  -n, --dry-run     say what would be created or copied, change nothing\n"
	  "  Then set store.backend = postgres (docs/fleet.md).\n", 0 },
	{ "alerts", NULL, cmd_alerts, "[--clear] [--json] [-n]",
	  "the alert outbox: blocked tasks, a starved lane, failing sources",
	  "  --json            the alerts as a JSON array\n"
	  "  --clear           empty the outbox, sent and unsent alerts alike, and print what it\n"
	  "                    held (so 'alerts --clear --json' hands each alert over once)\n"
	  "  -n, --dry-run     with --clear: print what would be removed, remove nothing\n"
	  "  With [alerts] webhook set, the command that raises an alert posts it, and every\n"
	  "  check and run posts those still unsent (governor.conf(5)).\n", 0 },
	{ "help", NULL, cmd_help, "[COMMAND]", "help for governor or for one command", "", 0 },
};
const size_t ncommands = sizeof commands / sizeof commands[0];

const struct cmd *cmd_find(const char *name)
{
	for (size_t i = 0; i < ncommands; i++)
		if (strcmp(commands[i].name, name) == 0 ||
		    (commands[i].alias && strcmp(commands[i].alias, name) == 0))
			return &commands[i];
	return NULL;
}

void cmd_usage(const struct cmd *c, FILE *out)
{
	fprintf(out, "usage: governor %s%s%s\n\n%s.\n", c->name, *c->synopsis ? " " : "", c->synopsis,
	        c->summary);
	if (*c->help)
		fprintf(out, "\n%s", c->help);
	fprintf(out, "  -h, --help        this help\n");
}

static int cmd_help(struct ctx *ctx, int argc, char **argv)
{
	if (argc > 2)
		return usage_error(cmd_find("help"), "too many arguments");
	const struct cmd *c = cmd_find(argc == 2 ? argv[1] : "help");
	if (!c) {
		errorf("unknown command '%s' (see 'governor --help')", argv[1]);
		return EXIT_USAGE;
	}
	if (argc == 1) {
		printf("usage: governor [OPTIONS] COMMAND [ARGS]; commands:\n");
		for (size_t i = 0; i < ncommands; i++)
			printf("  %-8s %s\n", commands[i].name, commands[i].summary);
		return EXIT_OK;
	}
	cmd_usage(c, stdout);
	return EXIT_OK;
}

static void message(const char *prefix, const char *fmt, va_list ap)
{
	fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void errorf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	message("governor: ", fmt, ap);
	va_end(ap);
}

void warnf(const struct ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	if (ctx->quiet)
		return;
	va_start(ap, fmt);
	message("governor: warning: ", fmt, ap);
	va_end(ap);
}

void verbosef(const struct ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	if (!ctx->verbose)
		return;
	va_start(ap, fmt);
	message("governor: ", fmt, ap);
	va_end(ap);
}

char *dupf(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return strdup(buf);
}

int fail_cause(int code, char *cause)
{
	errorf("%s", cause ? cause : "unknown error");
	free(cause);
	return code;
}

int usage_error(const struct cmd *c, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "governor %s: ", c->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: governor %s %s\n", c->name, c->synopsis);
	return EXIT_USAGE;
}

int print_json_line(const struct cJSON *json)
{
	char *text = cJSON_PrintUnformatted(json);
	if (!text) {
		errorf("out of memory");
		return -1;
	}
	int rc = puts(text) < 0 ? -1 : 0;
	cJSON_free(text);
	return rc;
}

int exit_for_queue_error(int queue_rc)
{
	return queue_rc == QUEUE_ECORRUPT || queue_rc == QUEUE_ENOENT ? EXIT_DATAERR : EXIT_FAILURE_RUNTIME;
}

static char *default_state_dir(void)
{
	char buf[4096];
	const char *env = getenv("GOVERNOR_STATE_DIR"), *xdg = getenv("XDG_STATE_HOME"),
	           *home = getenv("HOME");
	if (env && *env)
		return strdup(env);
	if (xdg && *xdg && snprintf(buf, sizeof buf, "%s/governor", xdg) < (int)sizeof buf)
		return strdup(buf);
	if (home && *home && snprintf(buf, sizeof buf, "%s/.local/state/governor", home) < (int)sizeof buf)
		return strdup(buf);
	return NULL;
}

const char *ctx_state_path(struct ctx *ctx)
{
	if (!ctx->state_dir) {
		ctx->state_dir = ctx->state_path ? strdup(ctx->state_path) : default_state_dir();
		if (!ctx->state_dir)
			errorf("no state dir: set -d, GOVERNOR_STATE_DIR or HOME");
	}
	return ctx->state_dir;
}

int ctx_open_state(struct ctx *ctx)
{
	char *cause = NULL;
	if (ctx->statefd >= 0)
		return ctx->statefd;
	if (!ctx_state_path(ctx))
		return -1;
	verbosef(ctx, "state dir: %s", ctx->state_dir);
	ctx->statefd = statedir_open(ctx->state_dir, 1, &cause);
	if (ctx->statefd < 0) {
		fail_cause(EXIT_FAILURE_RUNTIME, cause);
		return -1;
	}
	return ctx->statefd;
}

void log_event(struct ctx *ctx, const char *event, cJSON *ev)
{
	char at[TIME_RFC3339_MAX];
	cJSON *line = cJSON_CreateObject();
	if (ctx->dry_run || ctx->statefd < 0 || !line || !ev) {
		cJSON_Delete(line);
		cJSON_Delete(ev);
		return;
	}
	cJSON_AddStringToObject(line, "at", time_format(time_now_ms(), at));
	cJSON_AddStringToObject(line, "event", event);
	for (cJSON *e = ev->child; e;) {
		cJSON *next = e->next;
		cJSON_AddItemToObject(line, e->string, cJSON_DetachItemViaPointer(ev, e));
		e = next;
	}
	cJSON_Delete(ev);
	char *text = cJSON_PrintUnformatted(line);
	cJSON_Delete(line);
	if (!text || history_append(ctx->statefd, text, strlen(text)) < 0)
		warnf(ctx, "cannot append to the history log '%s': %s", HISTORY_FILE,
		      text ? strerror(errno) : "out of memory");
	cJSON_free(text);
}

int ctx_queue(struct ctx *ctx, int write, unsigned flags, struct queue **q, char **cause)
{
	struct queue_options o = {
		.backoff = { ctx->cfg->backoff_min_ms, ctx->cfg->backoff_max_ms },
		.archive_after_ms = (int64_t)ctx->cfg->archive_days * 86400 * 1000,
	};
	int rc = ctx_open_store(ctx, cause);
	if (rc == QUEUE_OK)
		rc = write ? queue_begin(ctx->statefd, flags, q, cause) : queue_load(ctx->statefd, q, cause);
	if (rc == QUEUE_OK)
		queue_set_options(*q, &o);
	if (rc == QUEUE_OK && write && !(flags & QUEUE_APPEND_ONLY))
		alerts_watch(ctx, *q);      /* ctx_commit alerts on the tasks this transaction blocks */
	return rc;
}

int ctx_commit(struct ctx *ctx, struct queue *q, char **cause)
{
	struct alert *blocked;
	size_t n;
	alerts_blocked(ctx, q, &blocked, &n);   /* before the commit, which may archive them */
	int rc = queue_commit(q, cause);
	if (rc == QUEUE_OK)
		alerts_notify(ctx, blocked, n);
	free(blocked);
	return rc;
}

char *read_prompt_stdin(size_t *len)
{
	char *buf = malloc(TASK_PROMPT_MAX + 2);
	if (!buf)
		return NULL;
	size_t n = fread(buf, 1, TASK_PROMPT_MAX + 1, stdin);
	if (ferror(stdin)) {
		free(buf);
		return NULL;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	*len = n;
	return buf;
}

int take_prompt(struct ctx *ctx, const char *arg, const char *model, char **prompt)
{
	const char *why;
	size_t len;
	*prompt = strcmp(arg, "-") == 0 ? read_prompt_stdin(&len) : strdup(arg);
	if (!*prompt) {
		errorf("cannot read the prompt%s: %s", strcmp(arg, "-") == 0 ? " from standard input" : "",
		       strerror(errno));
		return EXIT_FAILURE_RUNTIME;
	}
	if (strcmp(arg, "-") != 0)
		len = strlen(*prompt);
	if (task_prompt_check(*prompt, len, &why) < 0) {
		errorf("%s", why);
		goto bad;
	}
	if (model && !policy_model_allowed(&ctx->cfg->policy, model)) {
		errorf("model '%s' is not allowed; models.allowed: %s", model, config_models_text(ctx->cfg));
		goto bad;
	}
	return EXIT_OK;
bad:
	free(*prompt);
	*prompt = NULL;
	return EXIT_DATAERR;
}
