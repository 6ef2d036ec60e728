/* cmd-add.c: queue a task; the id is printed only after the commit is durable. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "governor/cli.h"
#include "policy/policy.h"
#include "queue/queue.h"
#include "queue/timefmt.h"

static int add_meta(cJSON *meta, const char *kv, const struct cmd *self)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return usage_error(self, "--meta wants KEY=VALUE, not '%s'", kv);
	char *key = strndup(kv, (size_t)(eq - kv));
	if (!key)
		return EXIT_FAILURE_RUNTIME;
	cJSON_DeleteItemFromObjectCaseSensitive(meta, key);
	cJSON_AddStringToObject(meta, key, eq + 1);
	free(key);
	return EXIT_OK;
}

/* The task to wait for must be in the queue and still able to end done. */
static int check_after(const struct queue *q, unsigned long after, char **cause)
{
	const struct queue_entry *e = queue_find(q, after);
	char msg[160];
	if (!e)
		snprintf(msg, sizeof msg, "--after T-%02lu: no such task in the queue%s", after,
		         after <= queue_last_id(q) ? " (it was archived)" : "");
	else if (e->status == TASK_BLOCKED || e->status == TASK_CANCELLED || e->status == TASK_SKIPPED)
		snprintf(msg, sizeof msg, "--after T-%02lu: it is %s and will never be done; retry it first",
		         after, task_status_name(e->status));
	else
		return QUEUE_OK;
	*cause = strdup(msg);
	return QUEUE_ENOENT;
}

int cmd_add(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "priority", required_argument, NULL, 'p' },
		{ "model", required_argument, NULL, 'm' },
		{ "source", required_argument, NULL, 's' },
		{ "meta", required_argument, NULL, 'M' },
		{ "max-retries", required_argument, NULL, 'r' },
		{ "after", required_argument, NULL, 'A' },
		{ "at", required_argument, NULL, 'T' },
		{ "delay", required_argument, NULL, 'D' },
		{ "json", no_argument, NULL, 'j' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find("add");
	const struct config *cfg = ctx->cfg;
	int priority = TASK_PRIORITY_NORMAL, max_retries = cfg->max_retries, json = 0, opt, rc;
	const char *model = NULL, *source = "cli";
	unsigned long after = 0;
	int64_t now = time_now_ms(), eligible_at = 0, delay;
	int timed = 0;                  /* --at or --delay seen */
	cJSON *meta = cJSON_CreateObject();
	char *prompt = NULL, *cause = NULL, *end;
	struct queue *q = NULL;

	if (!meta)
		return EXIT_FAILURE_RUNTIME;
	while ((opt = getopt_long(argc, argv, "p:m:s:n", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			if (task_priority_parse(optarg, &priority) < 0) {
				errorf("invalid priority '%s': use low, normal, high or an integer from %d to %d",
				       optarg, TASK_PRIORITY_MIN, TASK_PRIORITY_MAX);
				rc = EXIT_DATAERR;
				goto out;
			}
			break;
		case 'm': model = optarg; break;
		case 's': source = optarg; break;
		case 'M':
			if ((rc = add_meta(meta, optarg, self)) != EXIT_OK)
				goto out;
			break;
		case 'r':
			errno = 0;
			long v = strtol(optarg, &end, 10);
			if (end == optarg || *end || errno || v < 1 || v > 1000000) {
				errorf("invalid --max-retries '%s': a whole number from 1 to 1000000", optarg);
				rc = EXIT_DATAERR;
				goto out;
			}
			max_retries = (int)v;
			break;
		case 'A':
			if (task_id_parse(optarg, &after) < 0) {
				errorf("invalid --after '%s' (expected a task id such as T-03)", optarg);
				rc = EXIT_DATAERR;
				goto out;
			}
			break;
		case 'T':
			if (timed++ || time_parse(optarg, &eligible_at) < 0) {
				errorf(timed > 1 ? "--at and --delay exclude each other"
				                   : "invalid --at '%s': an RFC 3339 time such as 2026-11-25T02:00:00Z",
				       optarg);
				rc = EXIT_DATAERR;
				goto out;
			}
			break;
		case 'D':
			if (timed++ || config_parse_duration(optarg, &delay) < 0) {
				errorf(timed > 1 ? "--at and --delay exclude each other"
				                   : "invalid --delay '%s': a duration such as 90s, 15m or 2h", optarg);
				rc = EXIT_DATAERR;
				goto out;
			}
			eligible_at = now + delay;
			break;
		case 'j': json = 1; break;
		case 'n': ctx->dry_run = 1; break;
		default:
			rc = usage_error(self, "unknown or incomplete option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind >= argc) {
		rc = usage_error(self, "no prompt given");
		goto out;
	}
	if (argc - optind > 1) {
		rc = usage_error(self, "one prompt only; quote it: governor add \"%s ...\"", argv[optind]);
		goto out;
	}
	if ((rc = take_prompt(ctx, argv[optind], model, &prompt)) != EXIT_OK)
		goto out;
	if (ctx_open_state(ctx) < 0) {
		rc = EXIT_FAILURE_RUNTIME;
		goto out;
	}
	struct task *t = task_new(prompt, priority, model, source, max_retries, now);
	if (!t) {
		errorf("out of memory");
		rc = EXIT_FAILURE_RUNTIME;
		goto out;
	}
	cJSON_Delete(t->metadata);
	t->metadata = meta;
	meta = NULL;
	t->eligible_at = eligible_at;
	t->after = after;
	/* Only a dependency needs the entries; a plain add reads nothing but the index header. */
	if ((rc = ctx_queue(ctx, 1, after ? 0 : QUEUE_APPEND_ONLY, &q, &cause)) < 0 ||
	    (after && (rc = check_after(q, after, &cause)) < 0) ||
	    (rc = queue_add(q, t, &cause)) < 0 ||
	    (!ctx->dry_run && (rc = queue_commit(q, &cause)) < 0)) {
		rc = fail_cause(exit_for_queue_error(rc), cause);
		task_free(t);
		goto out;
	}
	char id[TASK_ID_MAX];
	task_id_format(t->id, id);
	if (json) {
		cJSON *j = task_to_json(t);
		rc = j && print_json_line(j) == 0 ? EXIT_OK : EXIT_FAILURE_RUNTIME;
		cJSON_Delete(j);
	} else {
		rc = puts(id) < 0 ? EXIT_FAILURE_RUNTIME : EXIT_OK;
	}
	task_free(t);
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "task_id", id);
	cJSON_AddNumberToObject(ev, "priority", priority);
	cJSON_AddStringToObject(ev, "source", source);
	log_event(ctx, "add", ev);
out:
	queue_free(q);
	cJSON_Delete(meta);
	free(prompt);
	return rc;
}
