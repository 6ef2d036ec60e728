/*
 * cmd-import.c: read the original VIP-lane tool's pending_tasks.json (a plain array of
 * {prompt, priority, added_at, metadata: {source, retry_count}}) into the queue.  Every entry
 * is validated before any is added; the file itself is never written.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "governor/cli.h"
#include "queue/queue.h"
#include "queue/timefmt.h"

#define IMPORT_FILE_MAX ((size_t)256 << 20)

static char *read_all(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0, n = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (n + 1 >= cap) {
			if (cap > IMPORT_FILE_MAX) {
				errno = EFBIG;
				goto fail;
			}
			char *bigger = realloc(buf, cap ? cap * 2 : 65536);
			if (!bigger)
				goto fail;
			buf = bigger;
			cap = cap ? cap * 2 : 65536;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0) {
			if (ferror(f))
				goto fail;
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:;
	int saved = errno;
	free(buf);
	if (f != stdin)
		fclose(f);
	errno = saved;
	return NULL;
}

/* Convert entry i; on error print a message naming it and return NULL. */
static struct task *convert(const struct ctx *ctx, const cJSON *e, int i, int64_t now)
{
	const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(e, "prompt"),
	            *priority = cJSON_GetObjectItemCaseSensitive(e, "priority"),
	            *added = cJSON_GetObjectItemCaseSensitive(e, "added_at"),
	            *meta = cJSON_GetObjectItemCaseSensitive(e, "metadata");
	const char *why;
	int prio = TASK_PRIORITY_NORMAL;
	int64_t added_at = now;

	if (!cJSON_IsObject(e)) {
		errorf("entry %d: not an object", i);
		return NULL;
	}
	if (!cJSON_IsString(prompt)) {
		errorf("entry %d: \"prompt\" is missing or not a string", i);
		return NULL;
	}
	if (task_prompt_check(prompt->valuestring, strlen(prompt->valuestring), &why) < 0) {
		errorf("entry %d: %s", i, why);
		return NULL;
	}
	if (cJSON_IsNumber(priority)) {
		if (priority->valuedouble != floor(priority->valuedouble) ||
		    priority->valuedouble < TASK_PRIORITY_MIN || priority->valuedouble > TASK_PRIORITY_MAX) {
			errorf("entry %d: \"priority\" must be an integer from %d to %d", i, TASK_PRIORITY_MIN,
			       TASK_PRIORITY_MAX);
			return NULL;
		}
		prio = (int)priority->valuedouble;
	} else if (cJSON_IsString(priority)) {
		if (task_priority_parse(priority->valuestring, &prio) < 0) {
			errorf("entry %d: invalid priority '%s'", i, priority->valuestring);
			return NULL;
		}
	} else if (priority && !cJSON_IsNull(priority)) {
		errorf("entry %d: \"priority\" is not a number", i);
		return NULL;
	}
	if (added && !cJSON_IsNull(added) &&
	    (!cJSON_IsString(added) || time_parse(added->valuestring, &added_at) < 0)) {
		errorf("entry %d: \"added_at\" is not an RFC 3339 time", i);
		return NULL;
	}
	if (meta && !cJSON_IsNull(meta) && !cJSON_IsObject(meta)) {
		errorf("entry %d: \"metadata\" is not an object", i);
		return NULL;
	}
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(meta, "source");
	const cJSON *retries = cJSON_GetObjectItemCaseSensitive(meta, "retry_count");
	struct task *t = task_new(prompt->valuestring, prio, NULL,
	                          cJSON_IsString(src) ? src->valuestring : "import",
	                          ctx->cfg->max_retries, added_at);
	if (!t) {
		errorf("out of memory");
		return NULL;
	}
	if (cJSON_IsNumber(retries) && retries->valuedouble >= 0 && retries->valuedouble < 1e6)
		t->retries = (int)retries->valuedouble;
	if (cJSON_IsObject(meta)) {
		cJSON_Delete(t->metadata);
		t->metadata = cJSON_Duplicate(meta, 1);
	}
	return t;
}

int cmd_import(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find("import");
	struct queue *q = NULL;
	char *cause = NULL, *text;
	size_t len;
	int opt, rc = EXIT_DATAERR;

	while ((opt = getopt_long(argc, argv, "n", opts, NULL)) != -1) {
		if (opt != 'n')
			return usage_error(self, "unknown option '%s'", argv[optind - 1]);
		ctx->dry_run = 1;
	}
	if (argc - optind != 1)
		return usage_error(self, argc - optind ? "one file only" : "no file given");
	const char *path = argv[optind];
	if (!(text = read_all(path, &len))) {
		errorf("cannot read '%s': %s", path, strerror(errno));
		return EXIT_FAILURE_RUNTIME;
	}
	if (queue_json_has_nul(text, len)) {
		/* cJSON would cut the string short at the NUL and import what is left. */
		errorf("'%s': a string contains a NUL character (\\u0000); nothing was imported", path);
		free(text);
		return EXIT_DATAERR;
	}
	const char *end = NULL;
	cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	/* Only white space may follow the array: cJSON alone would ignore what does. */
	while (doc && end && end < text + len && strchr(" \t\r\n", *end) && *end)
		end++;
	if (doc && end && end < text + len) {
		cJSON_Delete(doc);
		doc = NULL;
	}
	free(text);
	if (!cJSON_IsArray(doc)) {
		errorf("'%s' is not a legacy pending_tasks.json (expected a JSON array of tasks)", path);
		cJSON_Delete(doc);
		return EXIT_DATAERR;
	}
	if (ctx_open_state(ctx) < 0) {
		cJSON_Delete(doc);
		return EXIT_FAILURE_RUNTIME;
	}
	if ((rc = ctx_queue(ctx, 1, QUEUE_APPEND_ONLY, &q, &cause)) < 0) {
		cJSON_Delete(doc);
		return fail_cause(exit_for_queue_error(rc), cause);
	}
	unsigned long first = queue_last_id(q) + 1;
	int64_t now = time_now_ms();
	int i = 0;
	for (const cJSON *e = doc->child; e; e = e->next, i++) {
		struct task *t = convert(ctx, e, i, now);
		if (!t) {
			rc = EXIT_DATAERR;
			goto out;
		}
		rc = queue_add(q, t, &cause);
		task_free(t);
		if (rc < 0) {
			rc = fail_cause(exit_for_queue_error(rc), cause);
			goto out;
		}
	}
	if (!ctx->dry_run && (rc = queue_commit(q, &cause)) < 0) {
		rc = fail_cause(exit_for_queue_error(rc), cause);
		goto out;
	}
	rc = EXIT_OK;
	for (unsigned long id = first; id <= queue_last_id(q); id++) {
		char buf[TASK_ID_MAX];
		if (puts(task_id_format(id, buf)) < 0)
			rc = EXIT_FAILURE_RUNTIME;
	}
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddNumberToObject(ev, "count", i);
	cJSON_AddStringToObject(ev, "file", path);
	log_event(ctx, "import", ev);
out:
	queue_free(q);
	cJSON_Delete(doc);
	return rc;
}
