/*
 * alerts.c: the command layer's side of the alerts (alerts.h): what raises them (a commit that
 * blocked a task, a starving lane, a source that keeps failing) and when they are posted.  The
 * outbox itself, and the posting, are in alerts-outbox.c.
 */
#include "governor/alerts.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "governor/cli.h"
#include "policy/policy.h"
#include "probes/fetch.h"
#include "queue/queue.h"
#include "queue/statedir.h"
#include "queue/timefmt.h"

#define STARVATION_FILE "starvation"
#define FAILURES_FILE "failures"
#define SOURCES_MAX 64                    /* counters kept in the failures file */

/* --- the command layer's side ---------------------------------------------------------------- */

void alerts_watch(struct ctx *ctx, const struct queue *q)
{
	size_t n = 0, k = 0, count = queue_count(q);
	free(ctx->blocked_before);
	ctx->blocked_before = NULL;
	ctx->nblocked_before = 0;
	for (size_t i = 0; i < count; i++)
		n += queue_entry(q, i)->status == TASK_BLOCKED;
	if (!n)
		return;
	if (!(ctx->blocked_before = malloc(n * sizeof *ctx->blocked_before))) {
		ctx->nblocked_before = (size_t)-1;     /* unknown: alerts_blocked raises nothing */
		return;
	}
	for (size_t i = 0; i < count; i++)
		if (queue_entry(q, i)->status == TASK_BLOCKED)
			ctx->blocked_before[k++] = queue_entry(q, i)->id;   /* entries are in id order */
	ctx->nblocked_before = n;
}

static int was_blocked(const struct ctx *ctx, uint64_t id)
{
	size_t lo = 0, hi = ctx->nblocked_before;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ctx->blocked_before[mid] == id)
			return 1;
		if (ctx->blocked_before[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

void alerts_blocked(struct ctx *ctx, struct queue *q, struct alert **out, size_t *n)
{
	size_t count = queue_count(q);
	int64_t now = time_now_ms();
	*out = NULL;
	*n = 0;
	if (ctx->nblocked_before == (size_t)-1)
		return;
	for (size_t i = 0; i < count; i++) {
		const struct queue_entry *e = queue_entry(q, i);
		struct task *t;
		char *cause = NULL;
		if (e->status != TASK_BLOCKED || was_blocked(ctx, e->id))
			continue;
		struct alert *grown = realloc(*out, (*n + 1) * sizeof **out);
		if (!grown)
			return;
		*out = grown;
		if (queue_get(q, e->id, &t, &cause) < 0) {
			warnf(ctx, "cannot read a blocked task for its alert: %s", cause);
			free(cause);
			continue;
		}
		alert_task_blocked(&(*out)[(*n)++], t, now);
		task_free(t);
	}
}

void alerts_notify(struct ctx *ctx, const struct alert *a, size_t n)
{
	char *note = NULL, *cause = NULL;
	if (ctx->dry_run || n == 0 || ctx->statefd < 0)
		return;
	int added = alerts_raise(ctx->statefd, ctx->cfg->host, a, n, &note, &cause);
	if (note) {
		warnf(ctx, "%s", note);
		free(note);
	}
	if (added < 0) {
		warnf(ctx, "cannot add %zu alert%s to the outbox: %s", n, n == 1 ? "" : "s", cause);
		for (size_t i = 0; i < n; i++)
			warnf(ctx, "alert lost: %s", a[i].text);
		free(cause);
		return;
	}
	for (size_t i = 0; i < n; i++)
		verbosef(ctx, "alert: %s", a[i].text);
	if (added > 0)
		ctx->alerts_raised = 1;
}

/* --- starvation ------------------------------------------------------------------------------ */

void alerts_note_decision(struct ctx *ctx, int status, int reason, const char *detail,
                          size_t pending, int64_t now)
{
	int64_t limit = ctx->cfg->starvation_alert_ms, since;
	char *text = NULL, *cause = NULL, line[64];
	size_t len;
	int alerted;

	if (ctx->dry_run || limit <= 0 || ctx->statefd < 0 || reason == REASON_LOCK_HELD)
		return;
	if (status != POLICY_DEFERRED) {
		/* The episode, if any, is over: READY re-arms the alert, NO_TASKS has nothing waiting. */
		if (unlinkat(ctx->statefd, ALERTS_DIR "/" STARVATION_FILE, 0) == 0)
			verbosef(ctx, "the lane is not starved any more");
		return;
	}
	int dirfd = alerts_open_dir(ctx->statefd, 1, &cause);
	if (dirfd < 0) {
		warnf(ctx, "%s", cause);
		free(cause);
		return;
	}
	if (statedir_read(dirfd, STARVATION_FILE, 128, &text, &len) < 0 ||
	    sscanf(text, "v1 %" SCNd64 " %d", &since, &alerted) != 2 || since > now) {
		since = now;              /* an episode begins */
		alerted = 0;
	} else if (!alerted && now - since >= limit) {
		struct alert a;
		alert_starved(&a, since, now, pending,
		              policy_reason_name((enum policy_reason)reason), detail);
		alerts_notify(ctx, &a, 1);
		alerted = 1;
	} else {
		goto out;                 /* nothing changed */
	}
	len = (size_t)snprintf(line, sizeof line, "v1 %" PRId64 " %d\n", since, alerted);
	if (statedir_replace(dirfd, STARVATION_FILE, line, len, 0) < 0)
		warnf(ctx, "cannot write '%s/%s': %s", ALERTS_DIR, STARVATION_FILE, strerror(errno));
out:
	free(text);
	close(dirfd);
}

/* --- failing sources ------------------------------------------------------------------------- */

struct counter {
	char name[64];
	int count;
	int64_t since;
};

/* The counters in the failures file; how many (0 when there is none or it is unreadable). */
static size_t read_counters(int dirfd, struct counter *c, size_t max)
{
	char *text = NULL, *save = NULL, *line;
	size_t len, n = 0;
	if (statedir_read(dirfd, FAILURES_FILE, 16384, &text, &len) < 0)
		return 0;
	line = strtok_r(text, "\n", &save);
	if (line && strcmp(line, "v1") == 0)
		while (n < max && (line = strtok_r(NULL, "\n", &save)))
			if (sscanf(line, "%63s %d %" SCNd64, c[n].name, &c[n].count, &c[n].since) == 3 &&
			    c[n].count > 0)
				n++;
	free(text);
	return n;
}

static void write_counters(struct ctx *ctx, int dirfd, const struct counter *c, size_t n)
{
	char buf[SOURCES_MAX * 100 + 8];
	size_t len = (size_t)snprintf(buf, sizeof buf, "v1\n");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%s %d %" PRId64 "\n", c[i].name,
		                        c[i].count, c[i].since);
	int rc = n ? statedir_replace(dirfd, FAILURES_FILE, buf, len, 0)
	           : (unlinkat(dirfd, FAILURES_FILE, 0) == 0 || errno == ENOENT ? 0 : -1);
	if (rc < 0)
		warnf(ctx, "cannot write '%s/%s': %s", ALERTS_DIR, FAILURES_FILE, strerror(errno));
}

/* The value snap holds for name (NAN: failed); 0 when snap has it, -1 when not read. */
static int snap_value(const struct snapshot_value *v, size_t n, const char *name, double *value)
{
	for (size_t i = 0; i < n && i < SNAPSHOT_VALUES_MAX; i++)
		if (strcmp(v[i].name, name) == 0) {
			*value = v[i].value;
			return 0;
		}
	return -1;
}

/* What snap->failed says about source ("sessions: sessions.NAME: why"), or NULL. */
static const char *failure_of(const struct snapshot *snap, const char *source)
{
	char needle[80];
	snprintf(needle, sizeof needle, " %s: ", source);
	const char *at = strstr(snap->failed, needle);
	return at ? at + strlen(needle) : NULL;
}

/* The fetched sources and limits of this snapshot: names and whether each failed. */
static size_t fetched(const struct config *cfg, const struct snapshot *snap, struct counter *seen,
                      size_t max)
{
	size_t n = 0;
	double v;
	for (size_t i = 0; i < cfg->nsources + cfg->nlimits && n < max; i++) {
		int limit = i >= cfg->nsources;
		const struct config_source *s = limit ? &cfg->limits[i - cfg->nsources] : &cfg->sources[i];
		if (s->probe.type == PROBE_TYPE_PROCESS ||
		    snap_value(limit ? snap->limits : snap->sources, limit ? snap->nlimits : snap->nsources,
		               s->name, &v) < 0)
			continue;
		snprintf(seen[n].name, sizeof seen[n].name, "%s%s", limit ? "limits." : "sessions.",
		         s->name);
		seen[n++].count = isnan(v);
	}
	return n;
}

void alerts_note_sources(struct ctx *ctx, const struct snapshot *snap, int64_t now)
{
	struct counter seen[2 * SNAPSHOT_VALUES_MAX], c[SOURCES_MAX];
	struct alert *alerts = NULL;
	char *cause = NULL;
	struct stat st;
	size_t n, nc, nalerts = 0, failing = 0;
	int limit = ctx->cfg->source_failures, changed = 0;

	if (ctx->dry_run || limit <= 0 || ctx->statefd < 0)
		return;
	n = fetched(ctx->cfg, snap, seen, sizeof seen / sizeof seen[0]);
	for (size_t i = 0; i < n; i++)
		failing += seen[i].count;
	if (!n || (!failing && fstatat(ctx->statefd, ALERTS_DIR "/" FAILURES_FILE, &st,
	                               AT_SYMLINK_NOFOLLOW) < 0))
		return;                   /* the common case: all well, and no count to reset */
	int dirfd = alerts_open_dir(ctx->statefd, 1, &cause);
	if (dirfd < 0) {
		warnf(ctx, "%s", cause);
		free(cause);
		return;
	}
	nc = read_counters(dirfd, c, SOURCES_MAX);
	if (!(alerts = calloc(n, sizeof *alerts)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		while (k < nc && strcmp(c[k].name, seen[i].name) != 0)
			k++;
		if (!seen[i].count) {     /* success: forget the count */
			if (k < nc) {
				c[k] = c[--nc];
				changed = 1;
			}
			continue;
		}
		if (k == nc) {
			if (nc == SOURCES_MAX)
				continue;
			c[nc++] = (struct counter){ .count = 0, .since = now };
			memcpy(c[k].name, seen[i].name, sizeof c[k].name);   /* both NUL-terminated */
		}
		changed = 1;
		if (++c[k].count == limit)
			alert_source_failing(&alerts[nalerts++], c[k].name, c[k].count, c[k].since,
			                     failure_of(snap, c[k].name), now);
	}
	alerts_notify(ctx, alerts, nalerts);
	if (changed)
		write_counters(ctx, dirfd, c, nc);
out:
	free(alerts);
	close(dirfd);
}

/* --- delivery -------------------------------------------------------------------------------- */

void alerts_flush(struct ctx *ctx)
{
	char *failure = NULL;
	ctx->alerts_raised = 0;
	if (ctx->dry_run || !ctx->cfg->webhook || ctx->statefd < 0)
		return;
	int sent = alerts_deliver(ctx->statefd, ctx->cfg->webhook, NULL, &failure);
	if (sent > 0)
		verbosef(ctx, "posted %d alert%s to the webhook", sent, sent == 1 ? "" : "s");
	if (failure) {
		warnf(ctx, "cannot post alerts to the webhook: %s; they stay in the outbox "
		      "('governor alerts' lists them)", failure);
		free(failure);
	}
}
