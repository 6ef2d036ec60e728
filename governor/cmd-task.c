/*
 * cmd-task.c: the verbs that move one task: done, fail, retry, cancel, skip.  Each reads the
 * task under the data lock, asks task.c whether its state allows the verb, and commits.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "governor/cli.h"
#include "queue/queue.h"
#include "queue/timefmt.h"

#define TEXT_MAX 8192

/* "pending, claimed or running": the states verb accepts, for messages. */
static void allowed_states(enum task_verb verb, char *buf, size_t size)
{
	const char *names[TASK__STATUS_COUNT];
	size_t n = 0, len = 0;
	for (int s = 0; s < TASK__STATUS_COUNT; s++) {
		struct task probe = { .status = (enum task_status)s };
		if (task_can(&probe, verb))
			names[n++] = task_status_name((enum task_status)s);
	}
	buf[0] = '\0';
	for (size_t i = 0; i < n && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ",
		                        names[i]);
}

static int apply(struct ctx *ctx, struct task *t, enum task_verb verb, const char *outcome,
                 const char *text, int64_t now)
{
	struct task_backoff b = { ctx->cfg->backoff_min_ms, ctx->cfg->backoff_max_ms };
	switch (verb) {
	case TASK_VERB_DONE: return task_done(t, now, text);
	case TASK_VERB_FAIL: return task_fail(t, now, outcome ? outcome : "failed", text, &b);
	case TASK_VERB_RETRY: return task_retry(t, now);
	case TASK_VERB_CANCEL: return task_cancel(t, now, text);
	case TASK_VERB_SKIP: return task_skip(t, now);
	}
	return -1;
}

static const char *const verb_names[] = {
	[TASK_VERB_DONE] = "done", [TASK_VERB_FAIL] = "fail", [TASK_VERB_RETRY] = "retry",
	[TASK_VERB_CANCEL] = "cancel", [TASK_VERB_SKIP] = "skip",
};

int report_task(struct ctx *ctx, unsigned long id, enum task_verb verb, const char *outcome,
                const char *text, struct task **out)
{
	const char *name = verb_names[verb];
	char *cause = NULL, idbuf[TASK_ID_MAX], states[128];
	struct queue *q = NULL;
	struct task *t = NULL;
	int rc;

	*out = NULL;
	if (ctx_open_state(ctx) < 0)
		return EXIT_FAILURE_RUNTIME;
	if ((rc = ctx_queue(ctx, 1, 0, &q, &cause)) < 0)
		return fail_cause(exit_for_queue_error(rc), cause);

	int64_t now = time_now_ms();
	task_id_format(id, idbuf);
	if (queue_expire(q, now, &cause) < 0) {
		rc = fail_cause(EXIT_DATAERR, cause);
		goto out;
	}
	if (!queue_find(q, id)) {
		errorf(id <= queue_last_id(q) ? "%s is not in the queue any more (archived)" : "no task %s",
		       idbuf);
		rc = EXIT_DATAERR;
		goto out;
	}
	if ((rc = queue_get(q, id, &t, &cause)) < 0) {
		rc = fail_cause(exit_for_queue_error(rc), cause);
		goto out;
	}
	enum task_status from = t->status;
	int64_t started = t->started_at;
	if (apply(ctx, t, verb, outcome, text, now) < 0) {
		allowed_states(verb, states, sizeof states);
		errorf("%s is %s; '%s' needs a task that is %s", idbuf, task_status_name(from), name,
		       states);
		rc = EXIT_DATAERR;
		goto out;
	}
	/* Record it, then let dependants of a task that ended badly follow it at once. */
	if ((rc = queue_put(q, t, &cause)) < 0 || queue_expire(q, now, &cause) < 0) {
		rc = fail_cause(exit_for_queue_error(rc < 0 ? rc : QUEUE_EIO), cause);
		goto out;
	}
	/* That may have moved t itself (a retried dependant of a task that cannot be done is
	 * blocked again): report what is recorded, not what the verb alone made of it. */
	const struct queue_entry *e = queue_find(q, id);
	if (e && e->status != (uint8_t)t->status) {
		struct task *moved = NULL;
		if ((rc = queue_get(q, id, &moved, &cause)) < 0) {
			rc = fail_cause(exit_for_queue_error(rc), cause);
			goto out;
		}
		task_free(t);
		t = moved;
	}
	if (!ctx->dry_run && (rc = ctx_commit(ctx, q, &cause)) < 0) {
		rc = fail_cause(exit_for_queue_error(rc), cause);
		goto out;
	}

	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "task_id", idbuf);
	cJSON_AddStringToObject(ev, "from", task_status_name(from));
	cJSON_AddStringToObject(ev, "to", task_status_name(t->status));
	if ((verb == TASK_VERB_DONE || verb == TASK_VERB_FAIL) && from == TASK_RUNNING && started)
		cJSON_AddNumberToObject(ev, "duration_ms", (double)(now - started));
	if (text)
		cJSON_AddStringToObject(ev, verb == TASK_VERB_DONE ? "result" : "reason", text);
	log_event(ctx, name, ev);
	*out = t;
	t = NULL;
	rc = EXIT_OK;
out:
	task_free(t);
	queue_free(q);
	return rc;
}

static int transition(struct ctx *ctx, int argc, char **argv, enum task_verb verb,
                      const char *text_option)
{
	struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ text_option, required_argument, NULL, 'r' },   /* --result or --reason */
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find(argv[0]);
	const char *text = NULL, *why;
	char idbuf[TASK_ID_MAX], when[TIME_RFC3339_MAX];
	struct task *t;
	unsigned long id;
	int opt, rc;

	if (!text_option)
		opts[1] = opts[2];
	while ((opt = getopt_long(argc, argv, "n", opts, NULL)) != -1) {
		switch (opt) {
		case 'n': ctx->dry_run = 1; break;
		case 'r': text = optarg; break;
		default: return usage_error(self, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return usage_error(self, argc - optind ? "one task id only" : "no task id given");
	if (task_id_parse(argv[optind], &id) < 0) {
		errorf("invalid task id '%s' (expected T-NN)", argv[optind]);
		return EXIT_DATAERR;
	}
	if (text && *text && (strlen(text) > TEXT_MAX || task_prompt_check(text, strlen(text), &why) < 0)) {
		errorf("--%s must be valid UTF-8 text of at most %d bytes", text_option, TEXT_MAX);
		return EXIT_DATAERR;
	}
	if (text && !*text)
		text = NULL;
	if ((rc = report_task(ctx, id, verb, NULL, text, &t)) != EXIT_OK)
		return rc;
	cJSON *line = cJSON_CreateObject();
	cJSON_AddStringToObject(line, "id", task_id_format(t->id, idbuf));
	cJSON_AddStringToObject(line, "status", task_status_name(t->status));
	cJSON_AddNumberToObject(line, "retries", t->retries);
	if (t->status == TASK_PENDING && t->eligible_at > time_now_ms())
		cJSON_AddStringToObject(line, "eligible_at", time_format(t->eligible_at, when));
	if (t->blocked_reason && t->status == TASK_BLOCKED)
		cJSON_AddStringToObject(line, "blocked_reason", t->blocked_reason);
	rc = print_json_line(line) < 0 ? EXIT_FAILURE_RUNTIME : EXIT_OK;
	cJSON_Delete(line);
	task_free(t);
	return rc;
}

int cmd_done(struct ctx *ctx, int argc, char **argv)
{
	return transition(ctx, argc, argv, TASK_VERB_DONE, "result");
}

int cmd_fail(struct ctx *ctx, int argc, char **argv)
{
	return transition(ctx, argc, argv, TASK_VERB_FAIL, "reason");
}

int cmd_retry(struct ctx *ctx, int argc, char **argv)
{
	return transition(ctx, argc, argv, TASK_VERB_RETRY, NULL);
}

int cmd_cancel(struct ctx *ctx, int argc, char **argv)
{
	return transition(ctx, argc, argv, TASK_VERB_CANCEL, "reason");
}

int cmd_skip(struct ctx *ctx, int argc, char **argv)
{
	return transition(ctx, argc, argv, TASK_VERB_SKIP, NULL);
}
