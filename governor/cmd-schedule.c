/* cmd-schedule.c: the `schedule` subcommands, and schedule_tick, which enqueues due schedules. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "governor/cli.h"
#include "policy/policy.h"
#include "queue/queue.h"
#include "queue/schedule.h"
#include "queue/timefmt.h"

struct sub {
	const char *name;
	int (*run)(struct ctx *ctx, const struct sub *self, int argc, char **argv);
	const char *synopsis;
	const char *help;
};

static void sub_usage(const struct sub *s, FILE *out)
{
	fprintf(out, "usage: governor schedule %s %s\n\n%s  -h, --help        this help\n", s->name,
	        s->synopsis, s->help);
}

static int sub_usage_error(const struct sub *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int sub_usage_error(const struct sub *s, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "governor schedule %s: ", s->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: governor schedule %s %s\n", s->name, s->synopsis);
	return EXIT_USAGE;
}

/* The one NAME argument of rm, enable, disable and run, after options; NULL after a usage error. */
static const char *one_name(const struct sub *self, int argc, char **argv, int *rc)
{
	int opt;
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h') {
			sub_usage(self, stdout);
			*rc = EXIT_OK;
		} else {
			*rc = sub_usage_error(self, "unknown option '%s'", argv[optind - 1]);
		}
		return NULL;
	}
	if (argc - optind != 1) {
		*rc = sub_usage_error(self, argc - optind ? "one schedule name only" : "no schedule name given");
		return NULL;
	}
	return argv[optind];
}

/*
 * Open the state dir, begin a write transaction on the queue (its data lock guards the
 * schedules file too) and read the schedules.  EXIT_OK, or the exit code after reporting.
 */
static int begin(struct ctx *ctx, unsigned flags, struct queue **q, struct schedules *s)
{
	char *cause = NULL;
	int rc;
	*q = NULL;
	memset(s, 0, sizeof *s);
	if (ctx_open_state(ctx) < 0)
		return EXIT_FAILURE_RUNTIME;
	if ((rc = ctx_queue(ctx, 1, flags, q, &cause)) < 0 ||
	    (rc = schedules_read(ctx->statefd, config_parse_duration, s, &cause)) < 0) {
		queue_free(*q);
		*q = NULL;
		return fail_cause(exit_for_queue_error(rc), cause);
	}
	return EXIT_OK;
}

static int finish(struct ctx *ctx, struct schedules *s)
{
	char *cause = NULL;
	int rc = ctx->dry_run ? QUEUE_OK : schedules_write(ctx->statefd, s, &cause);
	return rc < 0 ? fail_cause(exit_for_queue_error(rc), cause) : EXIT_OK;
}

static struct schedule *find_or_report(struct schedules *s, const char *name)
{
	struct schedule *x = schedules_find(s, name);
	if (!x)
		errorf("no schedule '%s' (see 'governor schedule list')", name);
	return x;
}

/* The status of s's last task when it is still queued (pending, claimed or running), else NULL. */
static const char *instance_status(const struct queue *q, const struct schedule *s)
{
	const struct queue_entry *e = s->last_task_id ? queue_find(q, s->last_task_id) : NULL;
	if (e && (e->status == TASK_PENDING || e->status == TASK_CLAIMED || e->status == TASK_RUNNING))
		return task_status_name((enum task_status)e->status);
	return NULL;
}

/* Stage one task for s in q: source "schedule:NAME", metadata {"schedule":"NAME"}. */
static int enqueue(struct ctx *ctx, struct queue *q, const struct schedule *s, int64_t now,
                   unsigned long *id, char **cause)
{
	char source[sizeof "schedule:" + SCHEDULE_NAME_MAX];
	snprintf(source, sizeof source, "schedule:%s", s->name);
	struct task *t = task_new(s->prompt, s->priority, s->model, source, ctx->cfg->max_retries, now);
	if (!t || !cJSON_AddStringToObject(t->metadata, "schedule", s->name)) {
		task_free(t);
		*cause = strdup("out of memory");
		return QUEUE_ENOMEM;
	}
	int rc = queue_add(q, t, cause);
	*id = t->id;
	task_free(t);
	return rc;
}

static void log_enqueued(struct ctx *ctx, const struct schedule *s, unsigned long id)
{
	char idbuf[TASK_ID_MAX], source[sizeof "schedule:" + SCHEDULE_NAME_MAX];
	cJSON *ev = cJSON_CreateObject();
	snprintf(source, sizeof source, "schedule:%s", s->name);
	cJSON_AddStringToObject(ev, "task_id", task_id_format(id, idbuf));
	cJSON_AddNumberToObject(ev, "priority", s->priority);
	cJSON_AddStringToObject(ev, "source", source);
	cJSON_AddStringToObject(ev, "schedule", s->name);
	log_event(ctx, "add", ev);
}

/* Record a run of s that enqueued task id at now. */
static void record_run(struct schedule *s, unsigned long id, int64_t now)
{
	s->last_run = now;
	s->run_count++;
	s->last_task_id = id;
}

/* --- schedule add ------------------------------------------------------------------------- */

static int sub_add(struct ctx *ctx, const struct sub *self, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "every", required_argument, NULL, 'e' },
		{ "cron", required_argument, NULL, 'c' },
		{ "manual", no_argument, NULL, 'M' },
		{ "priority", required_argument, NULL, 'p' },
		{ "model", required_argument, NULL, 'm' },
		{ "disabled", no_argument, NULL, 'D' },
		{ "json", no_argument, NULL, 'j' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct schedule s = { .priority = TASK_PRIORITY_NORMAL, .enabled = true };
	struct schedules all = { 0 };
	struct queue *q = NULL;
	const char *rule_text = NULL, *rule_opt = NULL, *model = NULL;
	char *prompt = NULL, *cause = NULL;
	enum schedule_rule rule = SCHEDULE_MANUAL;
	int nrules = 0, json = 0, opt, rc;

	while ((opt = getopt_long(argc, argv, "p:m:nh", opts, NULL)) != -1) {
		switch (opt) {
		case 'e': rule = SCHEDULE_EVERY, rule_text = optarg, rule_opt = "--every", nrules++; break;
		case 'c': rule = SCHEDULE_CRON, rule_text = optarg, rule_opt = "--cron", nrules++; break;
		case 'M': rule = SCHEDULE_MANUAL, rule_text = NULL, rule_opt = "--manual", nrules++; break;
		case 'p':
			if (task_priority_parse(optarg, &s.priority) < 0) {
				errorf("invalid priority '%s': use low, normal, high or an integer from %d to %d",
				       optarg, TASK_PRIORITY_MIN, TASK_PRIORITY_MAX);
				return EXIT_DATAERR;
			}
			break;
		case 'm': model = optarg; break;
		case 'D': s.enabled = false; break;
		case 'j': json = 1; break;
		case 'n': ctx->dry_run = 1; break;
		case 'h': sub_usage(self, stdout); return EXIT_OK;
		default: return sub_usage_error(self, "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind < 2)
		return sub_usage_error(self, argc - optind ? "no prompt given" : "no schedule name given");
	if (argc - optind > 2)
		return sub_usage_error(self, "one prompt only; quote it: governor schedule add %s ... \"%s ...\"",
		                       argv[optind], argv[optind + 1]);
	if (nrules != 1)
		return sub_usage_error(self, nrules ? "give only one of --every, --cron and --manual"
		                                    : "say when: --every DUR, --cron EXPR or --manual");
	const char *name = argv[optind];
	if (schedule_name_check(name) < 0) {
		errorf("invalid schedule name '%s': 1-%d characters of A-Z, a-z, 0-9, '_' and '-'", name,
		       SCHEDULE_NAME_MAX);
		return EXIT_DATAERR;
	}
	if (schedule_set_rule(&s, rule, rule_text, config_parse_duration, &cause) < 0) {
		errorf("invalid %s '%s': %s", rule_opt, rule_text, cause);
		free(cause);
		return EXIT_DATAERR;
	}
	if (rule == SCHEDULE_EVERY) {        /* store the shortest exact text: 900 -> 15m */
		char text[32];
		config_format_duration(s.every_ms, text, sizeof text);
		if (schedule_set_rule(&s, rule, text, config_parse_duration, &cause) < 0) {
			rc = fail_cause(EXIT_FAILURE_RUNTIME, cause);
			goto out;
		}
	}
	int64_t now = time_now_ms();
	s.created_at = now;
	schedule_next(&s, now, &s.next_run);
	if (rule == SCHEDULE_CRON && !s.next_run) {
		errorf("invalid --cron '%s': it matches no time in the next %d years", rule_text,
		       CRON_SEARCH_YEARS);
		rc = EXIT_DATAERR;
		goto out;
	}
	if ((rc = take_prompt(ctx, argv[optind + 1], model, &prompt)) != EXIT_OK)
		goto out;
	s.prompt = prompt;
	prompt = NULL;
	if (!(s.name = strdup(name)) || (model && !(s.model = strdup(model)))) {
		errorf("out of memory");
		rc = EXIT_FAILURE_RUNTIME;
		goto out;
	}
	if ((rc = begin(ctx, QUEUE_APPEND_ONLY, &q, &all)) != EXIT_OK)
		goto out;
	if (schedules_find(&all, name)) {
		errorf("schedule '%s' already exists (remove it first: governor schedule rm %s)", name, name);
		rc = EXIT_DATAERR;
		goto out;
	}
	if (all.n >= SCHEDULE_COUNT_MAX) {
		errorf("too many schedules: at most %d", SCHEDULE_COUNT_MAX);
		rc = EXIT_DATAERR;
		goto out;
	}
	if (schedules_add(&all, &s) < 0) {
		errorf("out of memory");
		rc = EXIT_FAILURE_RUNTIME;
		goto out;
	}
	if ((rc = finish(ctx, &all)) != EXIT_OK)
		goto out;
	const struct schedule *added = &all.items[all.n - 1];
	if (json) {
		cJSON *j = schedule_to_json(added);
		rc = j && print_json_line(j) == 0 ? EXIT_OK : EXIT_FAILURE_RUNTIME;
		cJSON_Delete(j);
	}
	char next[TIME_RFC3339_MAX];
	verbosef(ctx, "schedule '%s' %s; next run: %s", name, ctx->dry_run ? "checked" : "added",
	         added->next_run ? time_format(added->next_run, next) : "none (manual)");
out:
	queue_free(q);
	schedules_release(&all);
	schedule_release(&s);
	free(prompt);
	return rc;
}

/* --- schedule list ------------------------------------------------------------------------ */

static void time_cell(int64_t ms)
{
	char buf[TIME_RFC3339_MAX];
	printf("%-21s", ms ? time_format(ms, buf) : "-");
}

static int sub_list(struct ctx *ctx, const struct sub *self, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct schedules all;
	char *cause = NULL;
	int json = 0, opt, rc = EXIT_OK;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'j': json = 1; break;
		case 'h': sub_usage(self, stdout); return EXIT_OK;
		default: return sub_usage_error(self, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return sub_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (ctx_open_state(ctx) < 0)
		return EXIT_FAILURE_RUNTIME;
	if ((rc = schedules_read(ctx->statefd, config_parse_duration, &all, &cause)) < 0)
		return fail_cause(exit_for_queue_error(rc), cause);
	rc = EXIT_OK;
	if (json) {
		cJSON *arr = cJSON_CreateArray();
		for (size_t i = 0; arr && i < all.n; i++) {
			cJSON *o = schedule_to_json(&all.items[i]);
			if (!o || !cJSON_AddItemToArray(arr, o)) {
				cJSON_Delete(o);
				cJSON_Delete(arr);
				arr = NULL;
			}
		}
		if (!arr)
			errorf("out of memory");
		rc = arr && print_json_line(arr) == 0 ? EXIT_OK : EXIT_FAILURE_RUNTIME;
		cJSON_Delete(arr);
		schedules_release(&all);
		return rc;
	}
	printf("%-16s %-7s %-20s %-21s %-21s %5s  %s\n", "NAME", "ENABLED", "RULE", "NEXT_RUN",
	       "LAST_RUN", "RUNS", "LAST_TASK");
	for (size_t i = 0; i < all.n; i++) {
		const struct schedule *s = &all.items[i];
		char rule[CRON_EXPR_MAX + 16], id[TASK_ID_MAX];
		if (s->rule == SCHEDULE_MANUAL)
			snprintf(rule, sizeof rule, "manual");
		else
			snprintf(rule, sizeof rule, "%s %s", schedule_rule_name(s->rule), s->spec);
		printf("%-16s %-7s %-20s ", s->name, s->enabled ? "yes" : "no", rule);
		time_cell(s->next_run);
		putchar(' ');
		time_cell(s->last_run);
		printf(" %5lu  %s\n", s->run_count, s->last_task_id ? task_id_format(s->last_task_id, id) : "-");
	}
	schedules_release(&all);
	return rc;
}

/* --- schedule rm, enable, disable ---------------------------------------------------------- */

static int sub_rm(struct ctx *ctx, const struct sub *self, int argc, char **argv)
{
	struct schedules all;
	struct queue *q;
	int rc;
	const char *name = one_name(self, argc, argv, &rc);
	if (!name)
		return rc;
	if ((rc = begin(ctx, QUEUE_APPEND_ONLY, &q, &all)) != EXIT_OK)
		return rc;
	struct schedule *s = find_or_report(&all, name);
	if (!s) {
		rc = EXIT_DATAERR;
	} else {
		schedules_remove(&all, (size_t)(s - all.items));
		rc = finish(ctx, &all);
	}
	queue_free(q);
	schedules_release(&all);
	return rc;
}

static int set_enabled(struct ctx *ctx, const struct sub *self, int argc, char **argv, bool on)
{
	struct schedules all;
	struct queue *q;
	int rc;
	const char *name = one_name(self, argc, argv, &rc);
	if (!name)
		return rc;
	if ((rc = begin(ctx, QUEUE_APPEND_ONLY, &q, &all)) != EXIT_OK)
		return rc;
	struct schedule *s = find_or_report(&all, name);
	if (!s) {
		rc = EXIT_DATAERR;
	} else if (s->enabled != on) {
		s->enabled = on;
		if (on)       /* what was missed while disabled is not caught up */
			schedule_next(s, time_now_ms(), &s->next_run);
		rc = finish(ctx, &all);
	}
	queue_free(q);
	schedules_release(&all);
	return rc;
}

static int sub_enable(struct ctx *ctx, const struct sub *self, int argc, char **argv)
{
	return set_enabled(ctx, self, argc, argv, true);
}

static int sub_disable(struct ctx *ctx, const struct sub *self, int argc, char **argv)
{
	return set_enabled(ctx, self, argc, argv, false);
}

/* --- schedule run ------------------------------------------------------------------------- */

static int sub_run(struct ctx *ctx, const struct sub *self, int argc, char **argv)
{
	struct schedules all;
	struct queue *q;
	char *cause = NULL, id[TASK_ID_MAX];
	unsigned long tid = 0;
	int64_t now = time_now_ms();
	int rc;
	const char *name = one_name(self, argc, argv, &rc), *busy;
	if (!name)
		return rc;
	if ((rc = begin(ctx, 0, &q, &all)) != EXIT_OK)
		return rc;
	struct schedule *s = find_or_report(&all, name);
	if (!s) {
		rc = EXIT_DATAERR;
	} else if (queue_expire(q, now, &cause) < 0) {
		rc = fail_cause(EXIT_DATAERR, cause);
	} else if ((busy = instance_status(q, s))) {
		errorf("schedule '%s' already has task %s %s; at most one runs at a time", name,
		       task_id_format(s->last_task_id, id), busy);
		rc = EXIT_DATAERR;
	} else if ((rc = enqueue(ctx, q, s, now, &tid, &cause)) < 0 ||
	           (!ctx->dry_run && (rc = ctx_commit(ctx, q, &cause)) < 0)) {
		rc = fail_cause(exit_for_queue_error(rc), cause);
	} else {
		record_run(s, tid, now);
		if ((rc = finish(ctx, &all)) == EXIT_OK) {
			rc = puts(task_id_format(tid, id)) < 0 ? EXIT_FAILURE_RUNTIME : EXIT_OK;
			if (!ctx->dry_run)
				log_enqueued(ctx, s, tid);
		}
	}
	queue_free(q);
	schedules_release(&all);
	return rc;
}

/* --- the command and the tick ------------------------------------------------------------- */

static const struct sub subs[] = {
	{ "add", sub_add,
	  "NAME (--every DUR | --cron EXPR | --manual) [-p P] [-m M] [--disabled] [--json] [-n] PROMPT|-",
	  "Add a schedule: 'governor check' queues PROMPT each time it is due.\n\n"
	  "  NAME              1-64 characters of A-Z, a-z, 0-9, '_' and '-'\n"
	  "  --every DUR       every DUR (15m, 2h, 7d; at least 1m), first after DUR from now\n"
	  "  --cron EXPR       at the local times 'minute hour day-of-month month day-of-week'\n"
	  "                    matches, or @hourly, @daily, @weekly, @monthly, @yearly\n"
	  "  --manual          only when 'governor schedule run NAME' says so\n"
	  "  -p, --priority P  the tasks' priority: -1000 to 1000, low, normal (default), high\n"
	  "  -m, --model M     the tasks' model (must be in models.allowed)\n"
	  "  --disabled        add it paused ('governor schedule enable NAME' resumes it)\n"
	  "  --json            print the new schedule as JSON\n"
	  "  -n, --dry-run     validate, add nothing\n"
	  "  PROMPT            the task; '-' reads it from standard input\n" },
	{ "list", sub_list, "[--json]",
	  "Every schedule: rule, next and last run (UTC), runs so far and the last task.\n\n"
	  "  --json            a JSON array of schedules, as stored in schedules.json\n" },
	{ "rm", sub_rm, "NAME", "Remove a schedule; tasks it already queued stay.\n\n" },
	{ "enable", sub_enable, "NAME",
	  "Resume a schedule; its next run is the first after now (missed runs are not made up).\n\n" },
	{ "disable", sub_disable, "NAME", "Pause a schedule: 'governor check' queues nothing for it.\n\n" },
	{ "run", sub_run, "NAME",
	  "Queue one task for NAME now, whatever its rule, and print its id; fails (65) while the\n"
	  "schedule's last task is still pending, claimed or running.\n\n" },
};

int cmd_schedule(struct ctx *ctx, int argc, char **argv)
{
	const struct cmd *self = cmd_find("schedule");
	if (argc < 2)
		return usage_error(self, "no subcommand given (add, list, rm, enable, disable, run)");
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].run(ctx, &subs[i], argc - 1, argv + 1);
	return usage_error(self, "unknown subcommand '%s' (add, list, rm, enable, disable, run)", argv[1]);
}

int schedule_tick(struct ctx *ctx, int64_t now, char **cause)
{
	struct schedules all;
	struct queue *q = NULL;
	unsigned long *ids = NULL;
	int rc, added = 0, due = 0;

	if (ctx->dry_run)
		return 0;
	if (ctx->statefd < 0) {
		*cause = strdup("internal error: schedule_tick before the state dir was opened");
		return QUEUE_EIO;
	}
	/* The common case, lock-free: no file (one failed openat), or nothing due. */
	if ((rc = schedules_read(ctx->statefd, config_parse_duration, &all, cause)) < 0)
		return rc;
	for (size_t i = 0; i < all.n; i++)
		due |= schedule_due(&all.items[i], now);
	schedules_release(&all);
	if (!due)
		return 0;

	/* Something is due: under the data lock, read again and enqueue. */
	if ((rc = ctx_queue(ctx, 1, 0, &q, cause)) < 0)
		return rc;
	if ((rc = schedules_read(ctx->statefd, config_parse_duration, &all, cause)) < 0)
		goto out;
	if (queue_expire(q, now, cause) < 0) {
		rc = QUEUE_ECORRUPT;
		goto out;
	}
	if (all.n && !(ids = calloc(all.n, sizeof *ids))) {
		*cause = strdup("out of memory");
		rc = QUEUE_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < all.n; i++) {
		struct schedule *s = &all.items[i];
		const char *busy;
		char id[TASK_ID_MAX];
		if (!schedule_due(s, now))
			continue;
		if ((busy = instance_status(q, s)))
			verbosef(ctx, "schedule '%s' is due, but its task %s is still %s: skipped", s->name,
			         task_id_format(s->last_task_id, id), busy);
		else if ((rc = enqueue(ctx, q, s, now, &ids[i], cause)) < 0)
			goto out;
		else
			added++;
		/* After downtime: one run now, and the next one after now, not one per missed time. */
		schedule_next(s, now, &s->next_run);
	}
	if (added && (rc = ctx_commit(ctx, q, cause)) < 0)
		goto out;
	for (size_t i = 0; i < all.n; i++)
		if (ids[i])
			record_run(&all.items[i], ids[i], now);
	if ((rc = schedules_write(ctx->statefd, &all, cause)) < 0)
		goto out;
	for (size_t i = 0; i < all.n; i++)
		if (ids[i]) {
			char id[TASK_ID_MAX], next[TIME_RFC3339_MAX];
			const struct schedule *s = &all.items[i];
			verbosef(ctx, "schedule '%s': queued %s; next run: %s", s->name,
			         task_id_format(ids[i], id), s->next_run ? time_format(s->next_run, next) : "none");
			log_enqueued(ctx, s, ids[i]);
		}
	rc = added;
out:
	free(ids);
	schedules_release(&all);
	queue_free(q);
	return rc;
}
