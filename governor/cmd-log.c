/* cmd-log.c: what happened: `log` (the history), `stats` (a summary of it), `archive`. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "governor/alerts.h"
#include "governor/cli.h"
#include "policy/policy.h"
#include "queue/history.h"
#include "queue/queue.h"
#include "queue/timefmt.h"

/* --- log ---------------------------------------------------------------------------------- */

struct tail {
	char **lines;       /* a ring of the last n lines */
	size_t n, next, seen;
};

static int keep_line(const char *line, size_t len, void *arg)
{
	struct tail *t = arg;
	char *copy = strndup(line, len);
	if (!copy)
		return 1;
	free(t->lines[t->next]);
	t->lines[t->next] = copy;
	t->next = (t->next + 1) % t->n;
	t->seen++;
	return 0;
}

/* "2026-11-25T15:12:00Z  decision  status=READY task_id=T-01 ..." */
static void print_event(const char *line)
{
	cJSON *j = cJSON_Parse(line);
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(j, "at"),
	            *ev = cJSON_GetObjectItemCaseSensitive(j, "event");
	if (!cJSON_IsObject(j) || !cJSON_IsString(at) || !cJSON_IsString(ev)) {
		printf("%s\n", line);        /* not ours: show it as it is */
		cJSON_Delete(j);
		return;
	}
	printf("%s  %-9s", at->valuestring, ev->valuestring);
	for (const cJSON *e = j->child; e; e = e->next) {
		if (e == at || e == ev)
			continue;
		if (cJSON_IsString(e)) {
			printf(" %s=%s", e->string, e->valuestring);
		} else {
			char *v = cJSON_PrintUnformatted(e);
			printf(" %s=%s", e->string, v ? v : "?");
			cJSON_free(v);
		}
	}
	putchar('\n');
	cJSON_Delete(j);
}

int cmd_log(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lines", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find("log");
	int json = 0, opt;
	long n = 20;
	char *end;

	while ((opt = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			n = strtol(optarg, &end, 10);
			if (end == optarg || *end || n < 1 || n > 1000000) {
				errorf("invalid line count '%s': a whole number from 1 to 1000000", optarg);
				return EXIT_DATAERR;
			}
			break;
		case 'j': json = 1; break;
		default: return usage_error(self, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (ctx_open_state(ctx) < 0)
		return EXIT_FAILURE_RUNTIME;
	struct tail t = { .lines = calloc((size_t)n, sizeof(char *)), .n = (size_t)n };
	if (!t.lines) {
		errorf("out of memory");
		return EXIT_FAILURE_RUNTIME;
	}
	int rc = EXIT_OK;
	if (history_each(ctx->statefd, keep_line, &t) < 0) {
		errorf("cannot read the history log '%s': %m", HISTORY_FILE);
		rc = EXIT_FAILURE_RUNTIME;
	}
	size_t shown = t.seen < t.n ? t.seen : t.n;
	for (size_t i = 0; rc == EXIT_OK && i < shown; i++) {
		const char *line = t.lines[(t.next + t.n - shown + i) % t.n];
		if (json)
			puts(line);
		else
			print_event(line);
	}
	for (size_t i = 0; i < t.n; i++)
		free(t.lines[i]);
	free(t.lines);
	return rc;
}

/* --- stats -------------------------------------------------------------------------------- */

struct stats {
	int64_t since;
	long decisions[3], deferrals[REASON__COUNT], done, failed;
	double *durations;
	size_t ndurations, cap;
};

static void count_event(const cJSON *j, struct stats *s)
{
	const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "event"),
	            *st = cJSON_GetObjectItemCaseSensitive(j, "status"),
	            *why = cJSON_GetObjectItemCaseSensitive(j, "reason"),
	            *dur = cJSON_GetObjectItemCaseSensitive(j, "duration_ms");
	if (!cJSON_IsString(ev))
		return;
	if (strcmp(ev->valuestring, "decision") == 0 && cJSON_IsString(st)) {
		for (int i = 0; i < 3; i++)
			if (strcmp(st->valuestring, policy_status_name((enum policy_status)i)) == 0)
				s->decisions[i]++;
		for (int r = 1; cJSON_IsString(why) && r < REASON__COUNT; r++)
			if (strcmp(why->valuestring, policy_reason_name((enum policy_reason)r)) == 0)
				s->deferrals[r]++;
	} else if (strcmp(ev->valuestring, "done") == 0) {
		s->done++;
		if (cJSON_IsNumber(dur)) {
			if (s->ndurations == s->cap) {
				size_t cap = s->cap ? s->cap * 2 : 64;
				double *grown = realloc(s->durations, cap * sizeof *grown);
				if (!grown)
					return;
				s->durations = grown;
				s->cap = cap;
			}
			s->durations[s->ndurations++] = dur->valuedouble;
		}
	} else if (strcmp(ev->valuestring, "fail") == 0) {
		s->failed++;
	}
}

static int stats_line(const char *line, size_t len, void *arg)
{
	struct stats *s = arg;
	int64_t at;
	cJSON *j = cJSON_ParseWithLength(line, len);
	const cJSON *when = cJSON_GetObjectItemCaseSensitive(j, "at");
	if (cJSON_IsString(when) && time_parse(when->valuestring, &at) == 0 && at >= s->since)
		count_event(j, s);
	cJSON_Delete(j);
	return 0;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
static double percentile(const double *v, size_t n, double p)
{
	size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
	return v[rank ? rank - 1 : 0];
}

int cmd_stats(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "window", required_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find("stats");
	int64_t window = 86400 * 1000LL;
	int json = 0, opt, rc;
	struct queue *q;
	char *cause = NULL, since[TIME_RFC3339_MAX];

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'w':
			if (config_parse_duration(optarg, &window) < 0 || window <= 0) {
				errorf("invalid window '%s': a duration such as 1h, 24h or 7d", optarg);
				return EXIT_DATAERR;
			}
			break;
		case 'j': json = 1; break;
		default: return usage_error(self, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (ctx_open_state(ctx) < 0)
		return EXIT_FAILURE_RUNTIME;
	if ((rc = ctx_queue(ctx, 0, 0, &q, &cause)) < 0)
		return fail_cause(exit_for_queue_error(rc), cause);
	struct stats s = { .since = time_now_ms() - window };
	queue_expire(q, time_now_ms(), NULL);
	size_t counts[TASK__STATUS_COUNT] = { 0 };
	for (size_t i = 0; i < queue_count(q); i++)
		counts[queue_entry(q, i)->status]++;
	if (history_each(ctx->statefd, stats_line, &s) < 0)
		warnf(ctx, "cannot read the history log '%s': %m", HISTORY_FILE);
	if (s.ndurations)
		qsort(s.durations, s.ndurations, sizeof *s.durations, compare_doubles);

	cJSON *o = cJSON_CreateObject(), *tasks = cJSON_AddObjectToObject(o, "tasks");
	for (int i = 0; i < TASK__STATUS_COUNT; i++)
		cJSON_AddNumberToObject(tasks, task_status_name((enum task_status)i), (double)counts[i]);
	cJSON_AddNumberToObject(tasks, "archived", (double)queue_archived_count(q));
	cJSON_AddStringToObject(o, "since", time_format(s.since, since));
	cJSON_AddNumberToObject(o, "done", (double)s.done);
	cJSON_AddNumberToObject(o, "failed", (double)s.failed);
	if (s.done + s.failed)
		cJSON_AddNumberToObject(o, "success_rate",
		                        (double)s.done / (double)(s.done + s.failed));
	else
		cJSON_AddNullToObject(o, "success_rate");
	if (s.ndurations) {
		cJSON_AddNumberToObject(o, "run_ms_median", percentile(s.durations, s.ndurations, 50));
		cJSON_AddNumberToObject(o, "run_ms_p95", percentile(s.durations, s.ndurations, 95));
	} else {
		cJSON_AddNullToObject(o, "run_ms_median");
		cJSON_AddNullToObject(o, "run_ms_p95");
	}
	cJSON *dec = cJSON_AddObjectToObject(o, "decisions");
	for (int i = 0; i < 3; i++)
		cJSON_AddNumberToObject(dec, policy_status_name((enum policy_status)i),
		                        (double)s.decisions[i]);
	cJSON *def = cJSON_AddObjectToObject(o, "deferrals");
	for (int r = 1; r < REASON__COUNT; r++)
		if (s.deferrals[r])
			cJSON_AddNumberToObject(def, policy_reason_name((enum policy_reason)r),
			                        (double)s.deferrals[r]);

	if (json) {
		rc = print_json_line(o) < 0 ? EXIT_FAILURE_RUNTIME : EXIT_OK;
	} else {
		printf("Tasks: %zu pending, %zu claimed, %zu running, %zu done, %zu blocked, %zu cancelled, "
		       "%zu skipped, %lu archived\n",
		       counts[TASK_PENDING], counts[TASK_CLAIMED], counts[TASK_RUNNING], counts[TASK_DONE],
		       counts[TASK_BLOCKED], counts[TASK_CANCELLED], counts[TASK_SKIPPED],
		       queue_archived_count(q));
		printf("Since %s: %ld done, %ld failed", since, s.done, s.failed);
		if (s.done + s.failed)
			printf(", success rate %.1f%%", 100.0 * (double)s.done / (double)(s.done + s.failed));
		putchar('\n');
		if (s.ndurations)
			printf("Run time: median %.1f s, p95 %.1f s (%zu runs)\n",
			       percentile(s.durations, s.ndurations, 50) / 1000,
			       percentile(s.durations, s.ndurations, 95) / 1000, s.ndurations);
		printf("Decisions: %ld READY, %ld DEFERRED, %ld NO_TASKS\n", s.decisions[POLICY_READY],
		       s.decisions[POLICY_DEFERRED], s.decisions[POLICY_NO_TASKS]);
		for (int r = 1; r < REASON__COUNT; r++)
			if (s.deferrals[r])
				printf("  deferred %-18s %ld\n", policy_reason_name((enum policy_reason)r),
				       s.deferrals[r]);
		rc = EXIT_OK;
	}
	cJSON_Delete(o);
	free(s.durations);
	queue_free(q);
	return rc;
}

/* --- archive ------------------------------------------------------------------------------ */

int cmd_archive(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "older-than", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find("archive");
	int64_t older = (int64_t)ctx->cfg->archive_days * 86400 * 1000;
	struct queue *q;
	char *cause = NULL;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 'o')
			return usage_error(self, "unknown option '%s'", argv[optind - 1]);
		if (config_parse_duration(optarg, &older) < 0) {
			errorf("invalid age '%s': a duration such as 0, 12h or 7d", optarg);
			return EXIT_DATAERR;
		}
	}
	if (optind < argc)
		return usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (ctx_open_state(ctx) < 0)
		return EXIT_FAILURE_RUNTIME;
	if ((rc = ctx_queue(ctx, 1, 0, &q, &cause)) < 0)
		return fail_cause(exit_for_queue_error(rc), cause);
	int64_t now = time_now_ms();
	struct alert *blocked = NULL;
	size_t nblocked = 0;
	long moved = queue_expire(q, now, &cause);
	if (moved >= 0) {
		alerts_blocked(ctx, q, &blocked, &nblocked);   /* before they may be archived */
		moved = queue_archive(q, now - older + 1, &cause);
	}
	if (moved >= 0)
		alerts_notify(ctx, blocked, nblocked);
	free(blocked);
	if (moved < 0) {
		queue_free(q);
		return fail_cause(EXIT_FAILURE_RUNTIME, cause);
	}
	cJSON *line = cJSON_CreateObject();
	cJSON_AddNumberToObject(line, "archived", (double)moved);
	cJSON_AddNumberToObject(line, "archived_count", (double)queue_archived_count(q));
	rc = print_json_line(line) < 0 ? EXIT_FAILURE_RUNTIME : EXIT_OK;
	cJSON_Delete(line);
	if (moved > 0) {
		cJSON *ev = cJSON_CreateObject();
		cJSON_AddNumberToObject(ev, "count", (double)moved);
		log_event(ctx, "archive", ev);
	}
	queue_free(q);
	return rc;
}
