/*
 * cmd-check.c: one decision cycle (DESIGN 3): lock, read the queue without a lock, answer
 * NO_TASKS without probing when nothing is eligible, probe what the policy needs, decide, claim
 * under the data lock, print one line, log it.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "governor/alerts.h"
#include "governor/cli.h"
#include "governor/output.h"
#include "governor/view.h"
#include "probes/probe.h"
#include "queue/history.h"
#include "queue/lock.h"
#include "queue/queue.h"
#include "queue/statedir.h"
#include "queue/timefmt.h"

#define SNAPSHOT_FILE_MAX (1 << 20)

struct check {
	struct ctx *ctx;
	struct check_result *out;
	int exit_code;              /* --exit-code */
	const char *snapshot_file;  /* --snapshot */
	int64_t now;
	struct snapshot snap;
	struct policy_budget budget;  /* READY hand-outs in the windows, from the history log */
	int local_seconds;            /* now as local time of day */
	enum policy_reason last_reason; /* the previous decision's, from LAST_DECISION_FILE */
	char last_limit[SNAPSHOT_NAME_MAX];
};

/* The TTL watchdog: a holder never outlives its lock (DESIGN 6). */
static void on_watchdog(int sig)
{
	static const char msg[] = "governor: decision lock TTL ran out; stopping\n";
	(void)sig;
	ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
	(void)ignored;
	_exit(EXIT_FAILURE_RUNTIME);
}

static void watchdog_arm(int64_t ms)
{
	struct sigaction sa = { .sa_handler = on_watchdog };
	struct itimerval it = { .it_value = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 } };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
}

static void watchdog_disarm(void)
{
	struct itimerval it = { 0 };
	setitimer(ITIMER_REAL, &it, NULL);
}

static void add_time(cJSON *o, const char *key, int64_t ms)
{
	char buf[TIME_RFC3339_MAX];
	cJSON_AddStringToObject(o, key, time_format(ms, buf));
}

/* {"status":"ERROR",...} on stdout and the message on stderr; returns code. */
static int check_error(int code, const char *error_code, char *cause)
{
	cJSON *line = cJSON_CreateObject();
	cJSON_AddStringToObject(line, "status", "ERROR");
	cJSON *err = cJSON_AddObjectToObject(line, "error");
	cJSON_AddStringToObject(err, "code", error_code);
	cJSON_AddStringToObject(err, "message", cause ? cause : "unknown error");
	print_json_line(line);
	cJSON_Delete(line);
	return fail_cause(code, cause);
}

static int decision_exit(const struct check *c, enum policy_status s, enum policy_reason r)
{
	if (!c->exit_code)
		return EXIT_OK;
	if (r == REASON_LOCK_HELD)
		return EXIT_LOCKED;
	return s == POLICY_READY ? EXIT_OK : s == POLICY_NO_TASKS ? EXIT_NO_TASKS : EXIT_DEFERRED;
}

static int answer_lock_held(struct check *c, const struct lock_holder *h)
{
	char since[TIME_RFC3339_MAX], detail[160];
	cJSON *line = cJSON_CreateObject();
	cJSON_AddStringToObject(line, "status", "DEFERRED");
	cJSON_AddStringToObject(line, "reason", "lock_held");
	if (h->pid)
		snprintf(detail, sizeof detail, "decision lock held by pid %ld since %s", (long)h->pid,
		         time_format(h->acquired_at, since));
	else
		snprintf(detail, sizeof detail, "decision lock held by another governor");
	cJSON_AddStringToObject(line, "detail", detail);
	if (h->expires_at)
		add_time(line, "retry_after", h->expires_at);
	add_time(line, "decided_at", c->now);
	*c->out = (struct check_result){ .line = line, .status = POLICY_DEFERRED, .reason = REASON_LOCK_HELD };
	return decision_exit(c, POLICY_DEFERRED, REASON_LOCK_HELD);
}

static int load_snapshot_file(struct check *c, char **cause)
{
	FILE *f = strcmp(c->snapshot_file, "-") == 0 ? stdin : fopen(c->snapshot_file, "re");
	char msg[512];
	if (!f) {
		snprintf(msg, sizeof msg, "cannot open snapshot '%s': %s", c->snapshot_file, strerror(errno));
		*cause = strdup(msg);
		return -1;
	}
	char *buf = malloc(SNAPSHOT_FILE_MAX + 1);
	size_t n = buf ? fread(buf, 1, SNAPSHOT_FILE_MAX + 1, f) : 0;
	int rc = -1;
	if (!buf)
		*cause = strdup("out of memory");
	else if (ferror(f) || n > SNAPSHOT_FILE_MAX) {
		snprintf(msg, sizeof msg, "cannot read snapshot '%s': %s", c->snapshot_file,
		         ferror(f) ? strerror(errno) : "larger than 1 MiB");
		*cause = strdup(msg);
	} else {
		rc = snapshot_from_json(buf, n, &c->snap, cause);
	}
	free(buf);
	if (f != stdin)
		fclose(f);
	return rc;
}

static void take_snapshot(struct check *c)
{
	const struct config *cfg = c->ctx->cfg;
	const struct policy_config *p = &cfg->policy;
	struct probe_request req = {
		.statefd = c->ctx->statefd,
		.cpu = p->max_cpu_percent > 0,
		.mem = p->min_mem_available_percent > 0,
		.load = true,                       /* ~6 us, and always reported */
		.disk = p->min_disk_free_percent > 0,
		.sessions = cfg->nsources > 0,
		.psi = p->max_cpu_pressure > 0 || p->max_memory_pressure > 0 || p->max_io_pressure > 0,
		.cpu_sample_ms = cfg->cpu_sample_ms,
		.cpu_max_age_ms = cfg->cpu_max_age_ms,
		.sources = cfg->probe_sources,
		.nsources = cfg->nsources,
		.limits = cfg->probe_limits,
		.nlimits = cfg->nlimits,
	};
	probe_snapshot(&req, &c->snap);
}

/*
 * The previous decision's reason, for the resume margin (policy.h: no flapping).  One line,
 * "v1 REASON [LIMIT]", replaced atomically after every READY or DEFERRED decision that is not
 * a dry run; NO_TASKS leaves it alone.  Missing or unreadable: no previous deferral.
 */
#define LAST_DECISION_FILE "last-decision"

static void read_last_decision(struct check *c)
{
	char *text = NULL, name[32] = "", limit[SNAPSHOT_NAME_MAX] = "";
	size_t len;
	if (statedir_read(c->ctx->statefd, LAST_DECISION_FILE, 256, &text, &len) < 0)
		return;
	if (sscanf(text, "v1 %31s %47s", name, limit) >= 1)
		for (int r = REASON_NONE + 1; r < REASON__COUNT; r++)
			if (strcmp(policy_reason_name((enum policy_reason)r), name) == 0) {
				c->last_reason = (enum policy_reason)r;
				snprintf(c->last_limit, sizeof c->last_limit, "%s", limit);
			}
	free(text);
}

static void write_last_decision(const struct check *c, const struct policy_decision *d)
{
	char line[128];
	const char *limit = d->reason == REASON_CUSTOM_LIMIT && d->limit ? d->limit : "";
	if (c->ctx->dry_run || d->status == POLICY_NO_TASKS)
		return;
	int n = snprintf(line, sizeof line, "v1 %s%s%s\n",
	                 d->reason == REASON_NONE ? "none" : policy_reason_name(d->reason),
	                 *limit ? " " : "", limit);
	if (n > 0 && (size_t)n < sizeof line && (d->reason != c->last_reason ||
	                                        strcmp(limit, c->last_limit) != 0))
		statedir_replace(c->ctx->statefd, LAST_DECISION_FILE, line, (size_t)n, 0);
}

struct budget_scan {
	int64_t now;
	struct policy_budget *b;
};

/* One history line: count it when it is a READY decision inside the last 24 hours. */
static int count_dispatch(const char *line, size_t len, void *arg)
{
	struct budget_scan *scan = arg;
	int64_t at;
	/* Most lines are not READY decisions: skip them before parsing. */
	if (!strstr(line, "\"READY\""))
		return 0;
	cJSON *j = cJSON_ParseWithLength(line, len);
	const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "event"),
	            *st = cJSON_GetObjectItemCaseSensitive(j, "status"),
	            *when = cJSON_GetObjectItemCaseSensitive(j, "at");
	if (cJSON_IsString(ev) && strcmp(ev->valuestring, "decision") == 0 && cJSON_IsString(st) &&
	    strcmp(st->valuestring, "READY") == 0 && cJSON_IsString(when) &&
	    time_parse(when->valuestring, &at) == 0 && at <= scan->now) {
		struct policy_budget *b = scan->b;
		if (at > scan->now - 86400 * 1000LL) {
			if (!b->day++ || at < b->day_oldest_ms)
				b->day_oldest_ms = at;
		}
		if (at > scan->now - 3600 * 1000LL) {
			if (!b->hour++ || at < b->hour_oldest_ms)
				b->hour_oldest_ms = at;
		}
	}
	cJSON_Delete(j);
	return 0;
}

/* What the policy needs besides the queue: the budget windows and the local time of day. */
static void read_context(struct check *c)
{
	const struct policy_config *p = &c->ctx->cfg->policy;
	time_t secs = (time_t)(c->now / 1000);
	struct tm tm;
	if (localtime_r(&secs, &tm))
		c->local_seconds = tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
	if (p->max_dispatch_per_hour > 0 || p->max_dispatch_per_day > 0) {
		struct budget_scan scan = { c->now, &c->budget };
		if (history_each(c->ctx->statefd, count_dispatch, &scan) < 0)
			warnf(c->ctx, "cannot read the history log for the dispatch budget: %s",
			      strerror(errno));
	}
}

static void view_context(const struct check *c, struct view *v)
{
	v->pv.budget = c->budget;
	v->pv.local_seconds = c->local_seconds;
	v->pv.last_reason = c->last_reason;
	v->pv.last_limit = c->last_limit[0] ? c->last_limit : NULL;
}

/*
 * Fetch the task the policy would pick and lend its requested model to the view.  *top is the
 * whole task (caller frees), or NULL when nothing is eligible.
 */
static int fetch_top(const struct check *c, struct queue *q, struct view *v, struct task **top,
                     char **cause)
{
	*top = NULL;
	size_t i = policy_pick(&c->ctx->cfg->policy, &v->pv, c->now);
	if (i == (size_t)-1)
		return QUEUE_OK;
	int rc = queue_get(q, v->tasks[i].id, top, cause);
	if (rc == QUEUE_OK)
		v->tasks[i].model = (*top)->model;
	return rc;
}

/* How many candidates a claim on a shared store offers: more than hosts claim at once. */
#define CLAIM_CANDIDATES 32

/*
 * The ids a claim may take, best first: on the file store only the policy's pick; on a shared
 * store the CLAIM_CANDIDATES best eligible tasks in the policy's order, so that one another
 * host holds at this moment is passed over (queue_claim).  n = 0 when out of memory.
 */
static size_t claim_candidates(const struct check *c, const struct queue *q, struct view *v,
                               const struct task *top, uint64_t ids[CLAIM_CANDIDATES])
{
	const struct policy_config *p = &c->ctx->cfg->policy;
	struct policy_task *t = v->tasks;
	size_t n = 0;
	if (!queue_shared(q)) {
		ids[0] = top->id;
		return 1;
	}
	/* A partial selection sort of the view's eligible tasks: O(CLAIM_CANDIDATES * n). */
	for (; n < CLAIM_CANDIDATES && n < v->pv.npending; n++) {
		size_t best = n;
		for (size_t i = n + 1; i < v->pv.npending; i++)
			if (policy_task_before(p, &t[i], &t[best], c->now))
				best = i;
		struct policy_task swap = t[n];
		t[n] = t[best];
		t[best] = swap;
		ids[n] = t[n].id;
	}
	return n;
}

/*
 * Re-decide under the data lock on a fresh read, and claim.  Replaces *q, *v, *top and *d.
 * On a shared store the claim may take another task than the first pick (another host holds
 * it): the decision is then made again for the task taken, and nothing is committed unless
 * it is READY.
 */
static int claim(struct check *c, struct queue **q, struct view *v, struct task **top,
                 struct policy_decision *d, char **cause)
{
	const struct config *cfg = c->ctx->cfg;
	struct queue *fresh;
	unsigned flags = QUEUE_CLAIM | (cfg->policy.fleet_max_concurrent > 0 ? QUEUE_FLEET : 0);
	/* The read is over (a shared store keeps one transaction per connection). */
	view_release(v);
	task_free(*top);
	*top = NULL;
	queue_free(*q);
	*q = NULL;
	int rc = ctx_queue(c->ctx, 1, flags, &fresh, cause);
	if (rc < 0)
		return rc;
	*q = fresh;
	if (queue_expire(fresh, c->now, cause) < 0)
		return QUEUE_ECORRUPT;
	if (view_build(fresh, c->now, v) < 0) {
		*cause = strdup("out of memory");
		return QUEUE_ENOMEM;
	}
	view_context(c, v);
	if ((rc = fetch_top(c, fresh, v, top, cause)) < 0)
		return rc;
	*d = policy_decide(&cfg->policy, &c->snap, &v->pv, c->now);
	if (d->status != POLICY_READY)
		return ctx_commit(c->ctx, fresh, cause);
	uint64_t ids[CLAIM_CANDIDATES];
	size_t n = claim_candidates(c, fresh, v, *top, ids);
	struct task *taken;
	if ((rc = queue_claim(fresh, ids, n, c->now, cfg->claim_ttl_ms, cfg->host, &taken, cause)) < 0)
		return rc;
	if (!taken || taken->id != (*top)->id) {
		/* Decide for what was taken: only it is pending as far as this claim can tell. */
		struct policy_task only = { 0 };
		if (taken)
			only = (struct policy_task){ .id = taken->id, .priority = taken->priority,
			                             .added_at_ms = taken->added_at, .model = taken->model };
		task_free(*top);
		*top = taken;
		v->pv.pending = v->tasks;
		v->pv.npending = taken ? 1 : 0;
		v->tasks[0] = only;
		*d = policy_decide(&cfg->policy, &c->snap, &v->pv, c->now);
		if (d->status != POLICY_READY)
			return QUEUE_OK;       /* queue_free rolls the claim back */
	} else {
		/* The policy's pick: *top stays (the view lends its model), with the claim's times. */
		(*top)->status = taken->status;
		(*top)->claimed_at = taken->claimed_at;
		(*top)->claim_expires_at = taken->claim_expires_at;
		(*top)->updated_at = taken->updated_at;
		task_free(taken);
	}
	return ctx_commit(c->ctx, fresh, cause);
}

static cJSON *task_summary(const struct task *t)
{
	char id[TASK_ID_MAX], added[TIME_RFC3339_MAX];
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", task_id_format(t->id, id));
	cJSON_AddStringToObject(o, "prompt", t->prompt);
	cJSON_AddNumberToObject(o, "priority", t->priority);
	if (t->model)
		cJSON_AddStringToObject(o, "model", t->model);
	else
		cJSON_AddNullToObject(o, "model");
	cJSON_AddStringToObject(o, "added_at", time_format(t->added_at, added));
	cJSON_AddNumberToObject(o, "retries", t->retries);
	return o;
}

static cJSON *decision_line(const struct check *c, const struct view *v, const struct task *t,
                            const struct policy_decision *d, int probed)
{
	char id[TASK_ID_MAX];
	cJSON *line = cJSON_CreateObject();
	cJSON_AddStringToObject(line, "status", policy_status_name(d->status));
	if (d->status == POLICY_READY) {
		cJSON_AddItemToObject(line, "task", task_summary(t));
		cJSON *rec = cJSON_AddObjectToObject(line, "recommendation");
		cJSON_AddStringToObject(rec, "task_id", task_id_format(t->id, id));
		cJSON_AddStringToObject(rec, "prompt", t->prompt);
		cJSON_AddStringToObject(rec, "model", d->model);
		if (d->fallback_model)
			cJSON_AddStringToObject(rec, "fallback_model", d->fallback_model);
		else
			cJSON_AddNullToObject(rec, "fallback_model");
		if (t->status == TASK_CLAIMED)
			add_time(line, "claim_expires_at", t->claim_expires_at);
		else
			cJSON_AddNullToObject(line, "claim_expires_at");
	} else if (d->status == POLICY_DEFERRED) {
		cJSON_AddStringToObject(line, "reason", policy_reason_name(d->reason));
		cJSON_AddStringToObject(line, "detail", d->detail);
	}
	if (d->status == POLICY_DEFERRED && d->retry_after_ms)
		add_time(line, "retry_after", d->retry_after_ms);
	cJSON_AddNumberToObject(line, "pending_count", (double)v->pv.npending);
	cJSON_AddNumberToObject(line, "waiting_count", (double)v->waiting);
	if (d->status == POLICY_NO_TASKS) {
		if (v->next_eligible_at)
			add_time(line, "next_eligible_at", v->next_eligible_at);
		else
			cJSON_AddNullToObject(line, "next_eligible_at");
	}
	cJSON_AddNumberToObject(line, "in_flight", d->in_flight);
	if (probed) {
		cJSON_AddNumberToObject(line, "active_sessions", d->active_sessions);
		cJSON_AddItemToObject(line, "readings", readings_to_json(&c->snap));
	}
	add_time(line, "decided_at", c->now);
	return line;
}

static void log_decision(struct check *c, const struct view *v, const struct task *t,
                         const struct policy_decision *d)
{
	char id[TASK_ID_MAX];
	cJSON *ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "status", policy_status_name(d->status));
	if (d->status == POLICY_DEFERRED)
		cJSON_AddStringToObject(ev, "reason", policy_reason_name(d->reason));
	if (d->status == POLICY_READY)
		cJSON_AddStringToObject(ev, "task_id", task_id_format(t->id, id));
	cJSON_AddNumberToObject(ev, "pending_count", (double)v->pv.npending);
	cJSON_AddNumberToObject(ev, "in_flight", d->in_flight);
	cJSON_AddNumberToObject(ev, "max_concurrent", c->ctx->cfg->policy.max_concurrent);
	log_event(c->ctx, "decision", ev);
}

/* Whether queue_expire, which changed `changed` entries of this read-only view, blocked a task. */
static int view_blocked(const struct check *c, const struct queue *view, long changed)
{
	for (size_t i = 0; changed > 0 && !c->ctx->dry_run && i < queue_count(view); i++)
		if (queue_entry(view, i)->view_changed && queue_entry(view, i)->status == TASK_BLOCKED)
			return 1;
	return 0;
}

/*
 * A lease that lapsed on the task's last retry, or a dependency that ended badly, blocks a task
 * in the read-only view only.  Record that once the view is closed (rare: one small commit), so
 * the block and its alert do not wait for the next command that happens to write the queue.
 */
static void record_blocks(struct check *c)
{
	struct ctx *ctx = c->ctx;
	struct queue *q = NULL;
	char *cause = NULL;
	int rc = ctx_queue(ctx, 1, 0, &q, &cause);
	if (rc == QUEUE_OK)
		rc = queue_expire(q, c->now, &cause) < 0 ? QUEUE_ECORRUPT : ctx_commit(ctx, q, &cause);
	queue_free(q);
	if (rc < 0)
		warnf(ctx, "cannot record the tasks that became blocked: %s", cause ? cause : "unknown error");
	free(cause);
}

static int decide(struct check *c)
{
	struct ctx *ctx = c->ctx;
	struct queue *q = NULL;
	struct task *top = NULL;
	struct view v = { 0 };
	char *cause = NULL;
	const char *code = "queue_unreadable";
	int probed = c->snapshot_file != NULL, rc;

	if (schedule_tick(ctx, c->now, &cause) < 0) {
		warnf(ctx, "%s", cause);
		free(cause);
		cause = NULL;
	}
	if ((rc = ctx_queue(ctx, 0, 0, &q, &cause)) < 0)
		goto fail;
	int blocks = view_blocked(c, q, queue_expire(q, c->now, NULL));   /* a read-only view */
	if (view_build(q, c->now, &v) < 0) {
		rc = QUEUE_ENOMEM;
		cause = strdup("out of memory");
		goto fail;
	}
	if ((rc = fetch_top(c, q, &v, &top, &cause)) < 0)
		goto fail;
	if (top) {
		read_context(c);
		read_last_decision(c);
	}
	view_context(c, &v);
	/*
	 * First without readings: NO_TASKS, or a deferral no reading can change (draining, no
	 * allowed model, outside hours, budget), is the answer, and nothing is probed.
	 */
	struct policy_decision d = policy_decide(&ctx->cfg->policy, &c->snap, &v.pv, c->now);
	if (d.status == POLICY_READY) {
		if (!c->snapshot_file) {
			int64_t t0 = time_now_ms();
			take_snapshot(c);
			alerts_note_sources(ctx, &c->snap, c->now);
			verbosef(ctx, "probes took %lld ms (cpu: %s)", (long long)(time_now_ms() - t0),
			         c->snap.cpu_method[0] ? c->snap.cpu_method : "not read");
		}
		probed = 1;
		d = policy_decide(&ctx->cfg->policy, &c->snap, &v.pv, c->now);
		if (d.status == POLICY_READY && !ctx->dry_run &&
		    (rc = claim(c, &q, &v, &top, &d, &cause)) < 0) {
			code = "claim_failed";
			goto fail;
		}
	}
	*c->out = (struct check_result){
		.line = decision_line(c, &v, top, &d, probed),
		.status = d.status,
		.reason = d.reason,
		.task_id = d.status == POLICY_READY ? top->id : 0,
	};
	rc = decision_exit(c, d.status, d.reason);
	alerts_note_decision(ctx, d.status, d.reason, d.detail, v.pv.npending, c->now);
	log_decision(c, &v, top, &d);
	write_last_decision(c, &d);
	view_release(&v);
	task_free(top);
	queue_free(q);
	if (blocks)
		record_blocks(c);
	return rc;
fail:
	view_release(&v);
	task_free(top);
	queue_free(q);
	return check_error(exit_for_queue_error(rc), rc == QUEUE_ECORRUPT ? "queue_corrupt" : code, cause);
}

int check_cycle(struct ctx *ctx, const struct check_request *req, struct check_result *out)
{
	struct check c = { .ctx = ctx, .out = out, .exit_code = req->exit_code,
	                   .snapshot_file = req->snapshot_file };
	struct lock *lock = NULL;
	struct lock_holder holder;
	char *cause = NULL;

	*out = (struct check_result){ 0 };
	snapshot_init(&c.snap);
	if (c.snapshot_file && load_snapshot_file(&c, &cause) < 0)
		return check_error(EXIT_DATAERR, "bad_snapshot", cause);
	if (ctx_open_state(ctx) < 0)
		return check_error(EXIT_FAILURE_RUNTIME, "state_dir", strdup("cannot open the state dir"));
	int src = ctx_open_store(ctx, &cause);    /* first: a shared store's clock is now's clock */
	if (src < 0)
		return check_error(exit_for_queue_error(src),
		                   src == QUEUE_ECORRUPT ? "queue_corrupt" : "queue_unreadable", cause);
	c.now = time_now_ms();
	if (!ctx->dry_run) {
		int rc = lock_acquire(ctx->statefd, ctx->cfg->lock_ttl_ms, &lock, &holder, &cause);
		if (rc == LOCK_BUSY)
			return answer_lock_held(&c, &holder);
		if (rc < 0)
			return check_error(EXIT_FAILURE_RUNTIME, "lock_failed", cause);
		watchdog_arm(ctx->cfg->lock_ttl_ms);
	}
	int rc = decide(&c);
	if (lock) {
		watchdog_disarm();
		lock_release(lock);
	}
	return rc;
}

int cmd_check(struct ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "exit-code", no_argument, NULL, 'e' },
		{ "snapshot", required_argument, NULL, 'S' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd *self = cmd_find("check");
	struct check_request req = { 0 };
	struct check_result res;
	int opt;

	while ((opt = getopt_long(argc, argv, "n", opts, NULL)) != -1) {
		switch (opt) {
		case 'e': req.exit_code = 1; break;
		case 'S': req.snapshot_file = optarg; break;
		case 'n': ctx->dry_run = 1; break;
		default: return usage_error(self, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error(self, "unexpected argument '%s'", argv[optind]);
	int rc = check_cycle(ctx, &req, &res);
	if (res.line && print_json_line(res.line) < 0)
		rc = EXIT_FAILURE_RUNTIME;
	cJSON_Delete(res.line);
	return rc;
}
