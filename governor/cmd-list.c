/* cmd-list.c: `list` (alias `status`) and `show`: the queue for people, or as JSON. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "governor/cli.h"
#include "queue/queue.h"
#include "queue/timefmt.h"

#define PROMPT_COLUMNS 60

static int load(struct ctx *ctx, struct queue **q)
{
	char *cause = NULL;
	if (ctx_open_state(ctx) < 0)
		return EXIT_FAILURE_RUNTIME;
	int rc = ctx_queue(ctx, 0, 0, q, &cause);
	if (rc < 0)
		return fail_cause(exit_for_queue_error(rc), cause);
	queue_expire(*q, time_now_ms(), NULL);   /* show what is true now; nothing is written */
	return EXIT_OK;
}

/* The prompt on one line: control characters as spaces, cut at PROMPT_COLUMNS characters. */
static void print_prompt_cell(const char *p)
{
	int cols = 0;
	for (const unsigned char *s = (const unsigned char *)p; *s; s++) {
		if ((*s & 0xC0) != 0x80 && ++cols > PROMPT_COLUMNS) {
			fputs("...", stdout);
			return;
		}
		putchar(*s < 0x20 || *s == 0x7f ? ' ' : *s);
	}
}

static void age(int64_t since, int64_t now, char *buf, size_t size)
{
	int64_t s = (now - since) / 1000;
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, size, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(buf, size, "%lldm", (long long)(s / 60));
	else if (s < 172800)
		snprintf(buf, size, "%lldh", (long long)(s / 3600));
	else
		snprintf(buf, size, "%lldd", (long long)(s / 86400));
}

static int shown(const struct queue_entry *e, int all, int status)
{
	if (status >= 0)
		return (int)e->status == status;
	return all || !(e->status == TASK_DONE || e->status == TASK_CANCELLED || e->status == TASK_SKIPPED);
}

int cmd_list(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "status", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find("list");
	int all = 0, json = 0, status = -1, opt, rc;
	struct queue *q;

	while ((opt = getopt_long(argc, argv, "a", opts, NULL)) != -1) {
		switch (opt) {
		case 'a': all = 1; break;
		case 'j': json = 1; break;
		case 's':
			if ((status = task_status_parse(optarg)) < 0) {
				errorf("unknown status '%s' (pending, claimed, running, done, blocked, cancelled, skipped)",
				       optarg);
				return EXIT_DATAERR;
			}
			break;
		default: return usage_error(self, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error(self, "unexpected argument '%s'", argv[optind]);
	if ((rc = load(ctx, &q)) != EXIT_OK)
		return rc;

	size_t n = queue_count(q), counts[TASK__STATUS_COUNT] = { 0 };
	char *cause = NULL;
	int64_t now = time_now_ms();
	int header = 0;

	for (size_t i = 0; i < n; i++)
		counts[queue_entry(q, i)->status]++;
	if (!json) {
		printf("Task Queue — %zu total, %zu pending, %zu claimed, %zu running, %zu done, %zu blocked",
		       n, counts[TASK_PENDING], counts[TASK_CLAIMED], counts[TASK_RUNNING],
		       counts[TASK_DONE], counts[TASK_BLOCKED]);
		if (counts[TASK_CANCELLED] || counts[TASK_SKIPPED])
			printf(", %zu cancelled, %zu skipped", counts[TASK_CANCELLED], counts[TASK_SKIPPED]);
		putchar('\n');
	}
	if (json)
		fputc('[', stdout);
	for (size_t i = 0; i < n && rc == EXIT_OK; i++) {
		const struct queue_entry *e = queue_entry(q, i);
		struct task *t;
		char id[TASK_ID_MAX], when[16], *text;
		size_t len;
		if (!shown(e, all, status))
			continue;
		if (json) {
			/* The stored lines are the tasks' JSON already: no parse, no print. */
			if ((rc = queue_get_json(q, e->id, &text, &len, &cause)) < 0) {
				rc = fail_cause(exit_for_queue_error(rc), cause);
				break;
			}
			if (header++)
				fputc(',', stdout);
			fwrite(text, 1, len, stdout);
			free(text);
			continue;
		}
		if ((rc = queue_get(q, e->id, &t, &cause)) < 0) {
			rc = fail_cause(exit_for_queue_error(rc), cause);
			break;
		}
		if (!header++)
			printf("%-7s %-9s %4s %5s  %s\n", "ID", "STATUS", "PRI", "AGE", "DESCRIPTION");
		age(t->added_at, now, when, sizeof when);
		printf("%-7s %-9s %4d %5s  ", task_id_format(t->id, id), task_status_name(t->status),
		       t->priority, when);
		print_prompt_cell(t->prompt);
		putchar('\n');
		task_free(t);
	}
	if (json && rc == EXIT_OK)
		fputs("]\n", stdout);
	queue_free(q);
	return rc;
}

static void field(const char *name, const char *value)
{
	printf("%-17s %s\n", name, value ? value : "-");
}

static void time_field(const char *name, int64_t ms)
{
	char buf[TIME_RFC3339_MAX];
	if (ms)
		field(name, time_format(ms, buf));
}

int cmd_show(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find("show");
	int json = 0, opt, rc;
	unsigned long id;
	struct queue *q;
	char idbuf[TASK_ID_MAX], num[32];

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 'j')
			return usage_error(self, "unknown option '%s'", argv[optind - 1]);
		json = 1;
	}
	if (argc - optind != 1)
		return usage_error(self, argc - optind ? "one task id only" : "no task id given");
	if (task_id_parse(argv[optind], &id) < 0) {
		errorf("invalid task id '%s' (expected T-NN)", argv[optind]);
		return EXIT_DATAERR;
	}
	if ((rc = load(ctx, &q)) != EXIT_OK)
		return rc;
	struct task *t;
	char *cause = NULL;
	if (!queue_find(q, id) && id <= queue_last_id(q)) {
		errorf("%s is not in the queue any more (archived; see archive/ in the state dir)",
		       task_id_format(id, idbuf));
		queue_free(q);
		return EXIT_DATAERR;
	}
	if ((rc = queue_get(q, id, &t, &cause)) < 0) {
		queue_free(q);
		return fail_cause(exit_for_queue_error(rc), cause);
	}
	if (json) {
		cJSON *j = task_to_json(t);
		rc = j && print_json_line(j) == 0 ? EXIT_OK : EXIT_FAILURE_RUNTIME;
		cJSON_Delete(j);
		task_free(t);
		queue_free(q);
		return rc;
	}
	field("id:", task_id_format(t->id, idbuf));
	field("status:", task_status_name(t->status));
	snprintf(num, sizeof num, "%d", t->priority);
	field("priority:", num);
	field("model:", t->model);
	field("source:", t->source);
	if (t->host)
		field("claimed by:", t->host);
	snprintf(num, sizeof num, "%d of %d", t->retries, t->max_retries);
	field("failed attempts:", num);
	time_field("added_at:", t->added_at);
	time_field("claimed_at:", t->claimed_at);
	time_field("claim_expires_at:", t->claim_expires_at);
	time_field("started_at:", t->started_at);
	time_field("lease_expires_at:", t->lease_expires_at);
	time_field("finished_at:", t->finished_at);
	if (t->last_error)
		field("last_error:", t->last_error);
	if (t->blocked_reason)
		field("blocked_reason:", t->blocked_reason);
	char *meta = cJSON_PrintUnformatted(t->metadata);
	field("metadata:", meta);
	cJSON_free(meta);
	printf("attempts:         %d\n", cJSON_GetArraySize(t->attempts));
	int k = 0;
	for (const cJSON *a = t->attempts->child; a; a = a->next) {
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(a, "started_at"),
		            *e = cJSON_GetObjectItemCaseSensitive(a, "ended_at"),
		            *o = cJSON_GetObjectItemCaseSensitive(a, "outcome"),
		            *err = cJSON_GetObjectItemCaseSensitive(a, "error");
		printf("  %d. %s -> %s  %s%s%s\n", ++k, cJSON_IsString(s) ? s->valuestring : "?",
		       cJSON_IsString(e) ? e->valuestring : "(running)",
		       cJSON_IsString(o) ? o->valuestring : "", cJSON_IsString(err) ? ": " : "",
		       cJSON_IsString(err) ? err->valuestring : "");
	}
	printf("prompt:\n%s\n", t->prompt);
	task_free(t);
	queue_free(q);
	return EXIT_OK;
}
