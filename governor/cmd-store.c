/*
 * cmd-store.c: the store behind the queue (docs/fleet.md): connecting to it, `store init`
 * (create or migrate the postgres schema) and `store migrate --to postgres` (copy this host's
 * file queue, its archive included, into the shared store under the same ids).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "governor/cli.h"
#include "queue/pgstore.h"
#include "queue/queue.h"
#include "queue/statedir.h"

#define ARCHIVE_FILE_MAX ((size_t)1 << 30)   /* one month's archive file, at most */

int ctx_open_store(struct ctx *ctx, char **cause)
{
	if (strcmp(ctx->cfg->backend, "postgres") != 0)
		return QUEUE_OK;
	return queue_use_postgres(ctx->cfg->dsn, ctx->cfg->host, cause);
}

static int need_dsn(const struct ctx *ctx)
{
	if (ctx->cfg->dsn[0])
		return 0;
	errorf("store.dsn is not set: name the database in the config ([store] dsn = ...) or in "
	       "GOVERNOR_STORE_DSN");
	return -1;
}

/* The options of a store subcommand: -n, and --to NAME for migrate (to: NULL for init). */
static int store_options(struct ctx *ctx, int argc, char **argv, const char **to)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find("store");
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "n", opts, NULL)) != -1) {
		if (opt == 'n')
			ctx->dry_run = 1;
		else if (opt == 't' && to)
			*to = optarg;
		else
			return usage_error(self, "unknown option '%s' for store %s", argv[optind - 1], argv[0]);
	}
	if (optind < argc)
		return usage_error(self, "store %s takes no argument '%s'", argv[0], argv[optind]);
	return EXIT_OK;
}

static int store_init(struct ctx *ctx, int argc, char **argv)
{
	char *cause = NULL;
	int from, rc = store_options(ctx, argc, argv, NULL);
	if (rc != EXIT_OK)
		return rc;
	if (need_dsn(ctx) < 0)
		return EXIT_CONFIG;
	rc = pgs_init(ctx->cfg->dsn, ctx->dry_run, &from, &cause);
	if (rc < 0)
		return fail_cause(exit_for_queue_error(rc), cause);
	if (from == PGS_SCHEMA_VERSION)
		printf("postgres store is at schema version %d already; nothing to do\n", from);
	else
		printf("postgres store %s schema version %d (was %d)%s\n",
		       ctx->dry_run ? (from ? "would be migrated to" : "would be created at")
		                    : (from ? "migrated to" : "created at"),
		       PGS_SCHEMA_VERSION, from, ctx->dry_run ? "; nothing was changed (-n)" : "");
	return EXIT_OK;
}

struct copy {
	struct queue *to;
	long added, archived, present;
	char *cause;
};

/* Copy one task (a JSON line); 0, or a queue_error with c->cause. */
static int copy_line(struct copy *c, const char *line, size_t len, int archived, const char *where)
{
	cJSON *j = cJSON_ParseWithLength(line, len);
	char *why = NULL;
	struct task *t = j ? task_from_json(j, &why) : NULL;
	cJSON_Delete(j);
	if (!t) {
		c->cause = dupf("%s: not a task (%s); nothing was copied", where, why ? why : "not JSON");
		free(why);
		return QUEUE_ECORRUPT;
	}
	int rc = queue_import(c->to, t, archived, &c->cause);
	task_free(t);
	if (rc < 0)
		return rc;
	if (rc == 0)
		c->present++;
	else if (archived)
		c->archived++;
	else
		c->added++;
	return 0;
}

static int by_name_desc(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*b)->d_name, (*a)->d_name);
}

static int jsonl_file(const struct dirent *e)
{
	size_t n = strlen(e->d_name);
	return n > 6 && strcmp(e->d_name + n - 6, ".jsonl") == 0;
}

/*
 * The archive, newest file and newest line first: the archive may hold a task twice (a crash
 * between archiving and compaction), and the last copy is the one that counts, so it is the
 * one inserted; the older copy then finds its id taken.
 */
static int copy_archive(struct ctx *ctx, struct copy *c)
{
	struct dirent **names;
	int afd = openat(ctx->statefd, QUEUE_ARCHIVE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (afd < 0)
		return errno == ENOENT ? 0 : (c->cause = strdup("cannot open the archive directory"),
		                              QUEUE_EIO);
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", ctx->state_dir, QUEUE_ARCHIVE_DIR);
	int n = scandir(path, &names, jsonl_file, by_name_desc), rc = 0;   /* the names only */
	if (n < 0) {
		close(afd);
		c->cause = strdup("cannot read the archive directory");
		return QUEUE_EIO;
	}
	for (int i = 0; i < n; i++) {
		char *text = NULL, where[300];
		size_t len = 0;
		snprintf(where, sizeof where, "%s/%s", QUEUE_ARCHIVE_DIR, names[i]->d_name);
		if (rc == 0 && statedir_read(afd, names[i]->d_name, ARCHIVE_FILE_MAX, &text, &len) < 0) {
			c->cause = dupf("cannot read '%s': %s", where, strerror(errno));
			rc = QUEUE_EIO;
		}
		/* Whole lines only, last first; a partial last line was never archived. */
		while (rc == 0 && len > 0) {
			size_t end = len;
			while (end > 0 && text[end - 1] != '\n')
				end--;
			if (end == 0)
				break;
			size_t start = end - 1;
			while (start > 0 && text[start - 1] != '\n')
				start--;
			if (end - 1 > start)
				rc = copy_line(c, text + start, end - 1 - start, 1, where);
			len = start;
		}
		free(text);
		free(names[i]);
	}
	free(names);
	close(afd);
	return rc;
}

static int store_migrate(struct ctx *ctx, int argc, char **argv)
{
	const char *to = NULL;
	int rc = store_options(ctx, argc, argv, &to);
	if (rc != EXIT_OK)
		return rc;
	if (!to || strcmp(to, "postgres") != 0)
		return usage_error(cmd_find("store"), "store migrate takes --to postgres");
	if (need_dsn(ctx) < 0)
		return EXIT_CONFIG;
	if (ctx_open_state(ctx) < 0)
		return EXIT_FAILURE_RUNTIME;

	struct queue *from = NULL;
	struct copy c = { 0 };
	rc = queue_load(ctx->statefd, &from, &c.cause);   /* before connecting: the files */
	if (rc < 0)
		return fail_cause(exit_for_queue_error(rc), c.cause);
	unsigned long last_id = queue_last_id(from);
	if ((rc = queue_use_postgres(ctx->cfg->dsn, ctx->cfg->host, &c.cause)) < 0 ||
	    (rc = queue_begin(ctx->statefd, 0, &c.to, &c.cause)) < 0) {
		queue_free(from);
		return fail_cause(exit_for_queue_error(rc), c.cause);
	}
	for (size_t i = 0; i < queue_count(from) && rc == 0; i++) {
		char *line;
		size_t len;
		if ((rc = queue_get_json(from, queue_entry(from, i)->id, &line, &len, &c.cause)) < 0)
			break;
		rc = copy_line(&c, line, len, 0, QUEUE_JOURNAL);
		free(line);
	}
	if (rc == 0)
		rc = copy_archive(ctx, &c);
	/* Ids the file store used stay used, even those of tasks no longer anywhere. */
	if (rc == 0)
		queue_reserve_ids(c.to, last_id);
	if (rc == 0 && !ctx->dry_run)
		rc = queue_commit(c.to, &c.cause);     /* -n: queue_free rolls it all back */
	last_id = queue_last_id(c.to);
	queue_free(c.to);
	queue_free(from);
	if (rc < 0)
		return fail_cause(exit_for_queue_error(rc), c.cause);
	printf("%s %ld tasks and %ld archived tasks to the postgres store; %ld were there "
	       "already; new ids follow T-%02lu%s\n", ctx->dry_run ? "would copy" : "copied", c.added,
	       c.archived, c.present, last_id, ctx->dry_run ? "; nothing was changed (-n)" : "");
	return EXIT_OK;
}

int cmd_store(struct ctx *ctx, int argc, char **argv)
{
	const struct cmd *self = cmd_find("store");
	if (argc < 2)
		return usage_error(self, "missing subcommand (init, migrate)");
	if (strcmp(argv[1], "init") == 0)
		return store_init(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "migrate") == 0)
		return store_migrate(ctx, argc - 1, argv + 1);
	return usage_error(self, "unknown subcommand '%s' (init, migrate)", argv[1]);
}
