/* cmd-pop.c: confirm that a claimed task was spawned; it becomes running under a lease. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "governor/cli.h"
#include "queue/queue.h"
#include "queue/timefmt.h"

/*
 * The oldest claim of this host: the earliest claim deadline (claims last claim_ttl), then the
 * lowest id.  On a shared store other hosts' claims are theirs to pop.
 */
static uint64_t oldest_claim(const struct queue *q)
{
	const struct queue_entry *best = NULL;
	for (size_t i = 0; i < queue_count(q); i++) {
		const struct queue_entry *e = queue_entry(q, i);
		if (e->status == TASK_CLAIMED && !e->foreign && (!best || e->deadline < best->deadline))
			best = e;
	}
	return best ? best->id : 0;
}

int pop_task(struct ctx *ctx, unsigned long id, struct task **out, size_t *pending)
{
	struct queue *q = NULL;
	struct task *t = NULL;
	char *cause = NULL, idbuf[TASK_ID_MAX];
	int rc;

	*out = NULL;
	if (ctx_open_state(ctx) < 0)
		return EXIT_FAILURE_RUNTIME;
	if ((rc = ctx_queue(ctx, 1, 0, &q, &cause)) < 0)
		return fail_cause(exit_for_queue_error(rc), cause);
	int64_t now = time_now_ms();
	if (queue_expire(q, now, &cause) < 0) {
		rc = fail_cause(EXIT_DATAERR, cause);
		goto out;
	}
	if (!id)
		id = oldest_claim(q);
	if (!id || !queue_find(q, id)) {
		if (id)
			errorf("no task %s", task_id_format(id, idbuf));
		else
			errorf("no claimed task to pop; 'governor check' claims one when it prints READY");
		rc = EXIT_DATAERR;
		goto out;
	}
	if ((rc = queue_get(q, id, &t, &cause)) < 0) {
		rc = fail_cause(exit_for_queue_error(rc), cause);
		goto out;
	}
	task_id_format(t->id, idbuf);
	if (t->status != TASK_CLAIMED) {
		errorf("%s is %s, not claimed; only a task that check made READY can be popped", idbuf,
		       task_status_name(t->status));
		rc = EXIT_DATAERR;
		goto out;
	}
	if (queue_shared(q) && t->host && strcmp(t->host, ctx->cfg->host) != 0) {
		errorf("%s was claimed by host '%s', not this one ('%s'); that host's governor pops it",
		       idbuf, t->host, ctx->cfg->host);
		rc = EXIT_DATAERR;
		goto out;
	}
	t->status = TASK_RUNNING;
	t->started_at = t->updated_at = now;
	t->lease_expires_at = now + ctx->cfg->lease_ms;
	t->claimed_at = t->claim_expires_at = 0;
	if (task_attempt_begin(t, now) < 0) {
		errorf("out of memory");
		rc = EXIT_FAILURE_RUNTIME;
		goto out;
	}
	if ((rc = queue_put(q, t, &cause)) < 0 || (!ctx->dry_run && (rc = ctx_commit(ctx, q, &cause)) < 0)) {
		rc = fail_cause(exit_for_queue_error(rc), cause);
		goto out;
	}
	*pending = 0;
	for (size_t i = 0; i < queue_count(q); i++)
		*pending += queue_entry(q, i)->status == TASK_PENDING;
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "task_id", idbuf);
	cJSON_AddStringToObject(ev, "from", "claimed");
	cJSON_AddStringToObject(ev, "to", "running");
	log_event(ctx, "pop", ev);
	*out = t;
	t = NULL;
	rc = EXIT_OK;
out:
	task_free(t);
	queue_free(q);
	return rc;
}

int cmd_pop(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find("pop");
	unsigned long id = 0;
	char idbuf[TASK_ID_MAX], when[TIME_RFC3339_MAX];
	struct task *t;
	size_t pending;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "n", opts, NULL)) != -1) {
		if (opt != 'n')
			return usage_error(self, "unknown option '%s'", argv[optind - 1]);
		ctx->dry_run = 1;
	}
	if (argc - optind > 1)
		return usage_error(self, "too many arguments");
	if (optind < argc && task_id_parse(argv[optind], &id) < 0) {
		errorf("invalid task id '%s' (expected T-NN)", argv[optind]);
		return EXIT_DATAERR;
	}
	if ((rc = pop_task(ctx, id, &t, &pending)) != EXIT_OK)
		return rc;
	cJSON *line = cJSON_CreateObject();
	cJSON_AddStringToObject(line, "id", task_id_format(t->id, idbuf));
	cJSON_AddStringToObject(line, "status", "running");
	cJSON_AddStringToObject(line, "prompt", t->prompt);
	cJSON_AddStringToObject(line, "lease_expires_at", time_format(t->lease_expires_at, when));
	cJSON_AddNumberToObject(line, "pending_count", (double)pending);
	rc = print_json_line(line) < 0 ? EXIT_FAILURE_RUNTIME : EXIT_OK;
	cJSON_Delete(line);
	task_free(t);
	return rc;
}
