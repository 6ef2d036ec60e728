/* cmd-pop.c: confirm that a claimed task was spawned; it becomes running under a lease. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "governor/cli.h"
#include "queue/queue.h"
#include "queue/timefmt.h"

/* The oldest claim: earliest claimed_at, then lowest id. */
static struct task *oldest_claim(const struct queue *q)
{
	struct task *best = NULL;
	for (size_t i = 0; i < queue_len(q); i++) {
		struct task *t = queue_at(q, i);
		if (t->status == TASK_CLAIMED &&
		    (!best || t->claimed_at < best->claimed_at ||
		     (t->claimed_at == best->claimed_at && t->id < best->id)))
			best = t;
	}
	return best;
}

int cmd_pop(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find("pop");
	unsigned long id = 0;
	struct queue *q = NULL;
	char *cause = NULL, idbuf[TASK_ID_MAX], when[TIME_RFC3339_MAX];
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
	if (ctx_open_state(ctx) < 0)
		return EXIT_FAILURE_RUNTIME;
	if ((rc = queue_begin(ctx->statefd, &q, &cause)) < 0)
		return fail_cause(exit_for_queue_error(rc), cause);

	int64_t now = time_now_ms();
	queue_expire(q, now);
	struct task *t = id ? queue_find(q, id) : oldest_claim(q);
	if (!t) {
		if (id)
			errorf("no task %s", task_id_format(id, idbuf));
		else
			errorf("no claimed task to pop; 'governor check' claims one when it prints READY");
		rc = EXIT_DATAERR;
		goto out;
	}
	task_id_format(t->id, idbuf);
	if (t->status != TASK_CLAIMED) {
		errorf("%s is %s, not claimed; only a task that check made READY can be popped", idbuf,
		       task_status_name(t->status));
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
	if (!ctx->dry_run && (rc = queue_commit(q, &cause)) < 0) {
		rc = fail_cause(exit_for_queue_error(rc), cause);
		goto out;
	}
	size_t pending = 0;
	for (size_t i = 0; i < queue_len(q); i++)
		pending += queue_at(q, i)->status == TASK_PENDING;

	cJSON *line = cJSON_CreateObject();
	cJSON_AddStringToObject(line, "id", idbuf);
	cJSON_AddStringToObject(line, "status", "running");
	cJSON_AddStringToObject(line, "prompt", t->prompt);
	cJSON_AddStringToObject(line, "lease_expires_at", time_format(t->lease_expires_at, when));
	cJSON_AddNumberToObject(line, "pending_count", (double)pending);
	rc = print_json_line(line) < 0 ? EXIT_FAILURE_RUNTIME : EXIT_OK;
	cJSON_Delete(line);

	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "task_id", idbuf);
	cJSON_AddStringToObject(ev, "from", "claimed");
	cJSON_AddStringToObject(ev, "to", "running");
	log_event(ctx, "pop", ev);
out:
	queue_free(q);
	return rc;
}
