/* policy.c: the pure decision: ordering, the allowlist and the rules in their documented order. */
#include "policy/policy.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const reason_names[REASON__COUNT] = {
	[REASON_NONE] = NULL,
	[REASON_LOCK_HELD] = "lock_held",
	[REASON_CONCURRENCY_LIMIT] = "concurrency_limit",
	[REASON_VIP_BUSY] = "vip_busy",
	[REASON_CPU_LOAD] = "cpu_load",
	[REASON_MEMORY_PRESSURE] = "memory_pressure",
	[REASON_LOAD_AVERAGE] = "load_average",
	[REASON_CPU_PRESSURE] = "cpu_pressure",
	[REASON_MEMORY_STALL] = "memory_stall",
	[REASON_IO_PRESSURE] = "io_pressure",
	[REASON_DISK_SPACE] = "disk_space",
	[REASON_PROBE_FAILED] = "probe_failed",
	[REASON_DRAINING] = "draining",
	[REASON_NO_ALLOWED_MODEL] = "no_allowed_model",
	[REASON_BUDGET_EXHAUSTED] = "budget_exhausted",
	[REASON_OUTSIDE_HOURS] = "outside_hours",
	[REASON_CUSTOM_LIMIT] = "custom_limit",
};

const char *policy_reason_name(enum policy_reason reason)
{
	return (unsigned)reason < REASON__COUNT ? reason_names[reason] : NULL;
}

const char *policy_status_name(enum policy_status status)
{
	switch (status) {
	case POLICY_READY: return "READY";
	case POLICY_DEFERRED: return "DEFERRED";
	case POLICY_NO_TASKS: return "NO_TASKS";
	}
	return "?";
}

int policy_model_allowed(const struct policy_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nmodels; i++)
		if (strcmp(cfg->models[i], name) == 0)
			return 1;
	return 0;
}

/* Priority plus one point per aging interval waited; waiting never lowers it. */
static int64_t effective_priority(const struct policy_config *cfg, const struct policy_task *t,
                                  int64_t now_ms)
{
	int64_t p = t->priority;
	if (cfg->aging_ms > 0 && now_ms > t->added_at_ms)
		p += (now_ms - t->added_at_ms) / cfg->aging_ms;
	return p;
}

int policy_task_before(const struct policy_config *cfg, const struct policy_task *a,
                       const struct policy_task *b, int64_t now_ms)
{
	int64_t pa = effective_priority(cfg, a, now_ms), pb = effective_priority(cfg, b, now_ms);
	if (pa != pb)
		return pa > pb;
	if (a->added_at_ms != b->added_at_ms)
		return a->added_at_ms < b->added_at_ms;
	return a->id < b->id;
}

size_t policy_pick(const struct policy_config *cfg, const struct policy_view *view, int64_t now_ms)
{
	size_t best = (size_t)-1;
	for (size_t i = 0; i < view->npending; i++)
		if (best == (size_t)-1 ||
		    policy_task_before(cfg, &view->pending[i], &view->pending[best], now_ms))
			best = i;
	return best;
}

static struct policy_decision *defer(struct policy_decision *d, enum policy_reason reason,
                                     const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static struct policy_decision *defer(struct policy_decision *d, enum policy_reason reason,
                                     const char *fmt, ...)
{
	va_list ap;
	d->status = POLICY_DEFERRED;
	d->reason = reason;
	d->model = d->fallback_model = NULL;
	va_start(ap, fmt);
	vsnprintf(d->detail, sizeof d->detail, fmt, ap);
	va_end(ap);
	return d;
}

/* Requested model if allowed, else the preferred one; the fallback is the next distinct one. */
static int choose_models(const struct policy_config *cfg, const struct policy_task *t,
                         struct policy_decision *d)
{
	if (cfg->nmodels == 0)
		return -1;
	if (t->model && !policy_model_allowed(cfg, t->model))
		return -1;
	d->model = t->model ? t->model : cfg->models[0];
	d->fallback_model = NULL;
	for (size_t i = 0; i < cfg->nmodels; i++)
		if (strcmp(cfg->models[i], d->model) != 0) {
			d->fallback_model = cfg->models[i];
			break;
		}
	return 0;
}

static int max_int(int a, int b) { return a > b ? a : b; }

static int in_range(const struct policy_hours *h, int minute)
{
	if (h->start == h->end)
		return 1;                                      /* 00:00-24:00 */
	if (h->start < h->end)
		return minute >= h->start && minute < h->end;
	return minute >= h->start || minute < h->end;       /* wraps midnight */
}

int policy_hours_wait(const struct policy_config *cfg, int seconds)
{
	int minute = seconds / 60, best = -1;
	if (cfg->nhours == 0)
		return 0;
	for (size_t i = 0; i < cfg->nhours; i++) {
		if (in_range(&cfg->hours[i], minute))
			return 0;
		int wait = (cfg->hours[i].start * 60 - seconds + 86400) % 86400;
		if (best < 0 || wait < best)
			best = wait;
	}
	return best;
}

/* 1 when the previous decision was deferred by this rule (for a limit: by this limit). */
static int sticky(const struct policy_view *view, enum policy_reason rule, const char *limit)
{
	if (view->last_reason != rule)
		return 0;
	if (rule != REASON_CUSTOM_LIMIT)
		return 1;
	return limit && view->last_limit && strcmp(limit, view->last_limit) == 0;
}

/*
 * The threshold in force for a "defer above max" rule: max itself, or max - margin while the
 * previous decision was deferred by this rule (then why says so, else it is empty).
 */
static double over(double max, double margin, const struct policy_view *view,
                   enum policy_reason rule, char *why, size_t size, const char *unit)
{
	why[0] = '\0';
	if (margin <= 0 || !sticky(view, rule, NULL))
		return max;
	snprintf(why, size, "; resuming below %g%s (resume_margin)", max - margin, unit);
	return max - margin;
}

/* The same for a "defer below min" rule: min + margin while sticky. */
static double under(double min, double margin, const struct policy_view *view,
                    enum policy_reason rule, char *why, size_t size, const char *unit)
{
	why[0] = '\0';
	if (margin <= 0 || !sticky(view, rule, NULL))
		return min;
	snprintf(why, size, "; resuming above %g%s (resume_margin)", min + margin, unit);
	return min + margin;
}

/* Rule 16 for one limit: 1 (and *d deferred) when its value is outside its bounds. */
static int check_limit(const struct policy_limit *l, const struct snapshot *snap,
                       const struct policy_view *view, double margin, struct policy_decision *d)
{
	double v = snapshot_limit(snap, l->name);
	int again = margin > 0 && sticky(view, REASON_CUSTOM_LIMIT, l->name);

	if (isnan(v))
		return 0;
	if (l->exit_status) {
		if (v != 0) {
			defer(d, REASON_CUSTOM_LIMIT, "limits.%s: %g (exit status: hold)", l->name, v);
			d->limit = l->name;
			return 1;
		}
		return 0;
	}
	if (!isnan(l->max) && v > (again ? l->max - margin : l->max)) {
		defer(d, REASON_CUSTOM_LIMIT, "limits.%s = %g, max %g%s", l->name, v, l->max,
		      again ? "; resuming below max - resume_margin" : "");
		d->limit = l->name;
		return 1;
	}
	if (!isnan(l->min) && v < (again ? l->min + margin : l->min)) {
		defer(d, REASON_CUSTOM_LIMIT, "limits.%s = %g, min %g%s", l->name, v, l->min,
		      again ? "; resuming above min + resume_margin" : "");
		d->limit = l->name;
		return 1;
	}
	return 0;
}

struct policy_decision policy_decide(const struct policy_config *cfg, const struct snapshot *snap,
                                     const struct policy_view *view, int64_t now_ms)
{
	struct policy_decision d = { .status = POLICY_NO_TASKS, .reason = REASON_NONE };
	int background = snap->sessions_background > 0 ? snap->sessions_background : 0;
	int interactive = snap->sessions_interactive > 0 ? snap->sessions_interactive : 0;

	d.in_flight = max_int(view->claimed + view->running, background);
	d.active_sessions = background + interactive;
	d.task = policy_pick(cfg, view, now_ms);
	if (d.task == (size_t)-1)
		return d;
	const struct policy_task *t = &view->pending[d.task];

	if (cfg->max_concurrent <= 0)
		return *defer(&d, REASON_DRAINING, "max_concurrent is 0: draining, nothing new starts");
	if (choose_models(cfg, t, &d) < 0) {
		if (cfg->nmodels == 0)
			return *defer(&d, REASON_NO_ALLOWED_MODEL, "models.allowed is empty");
		return *defer(&d, REASON_NO_ALLOWED_MODEL, "T-%02lu asks for model %s, not in models.allowed",
		              t->id, t->model);
	}
	int wait = policy_hours_wait(cfg, view->local_seconds);
	if (wait > 0) {
		defer(&d, REASON_OUTSIDE_HOURS, "outside active_hours; next start in %d min", (wait + 59) / 60);
		d.retry_after_ms = now_ms + (int64_t)wait * 1000;
		return d;
	}
	const struct policy_budget *b = &view->budget;
	if (cfg->max_dispatch_per_hour > 0 && b->hour >= cfg->max_dispatch_per_hour) {
		defer(&d, REASON_BUDGET_EXHAUSTED, "%d tasks handed out in the last hour, limit %d",
		      b->hour, cfg->max_dispatch_per_hour);
		d.retry_after_ms = b->hour_oldest_ms + 3600 * 1000LL;
		return d;
	}
	if (cfg->max_dispatch_per_day > 0 && b->day >= cfg->max_dispatch_per_day) {
		defer(&d, REASON_BUDGET_EXHAUSTED, "%d tasks handed out in the last 24 h, limit %d",
		      b->day, cfg->max_dispatch_per_day);
		d.retry_after_ms = b->day_oldest_ms + 86400 * 1000LL;
		return d;
	}
	if (snap->failed[0])
		return *defer(&d, REASON_PROBE_FAILED, "%s", snap->failed);
	if (cfg->max_interactive_sessions > 0 && interactive >= cfg->max_interactive_sessions)
		return *defer(&d, REASON_VIP_BUSY, "%d interactive sessions, limit %d", interactive,
		              cfg->max_interactive_sessions);
	if (d.in_flight >= cfg->max_concurrent)
		return *defer(&d, REASON_CONCURRENCY_LIMIT,
		              "%d in flight (%d claimed or running, %d background sessions), limit %d",
		              d.in_flight, view->claimed + view->running, background, cfg->max_concurrent);
	if (cfg->fleet_max_concurrent > 0 && view->fleet_in_flight >= cfg->fleet_max_concurrent)
		return *defer(&d, REASON_CONCURRENCY_LIMIT,
		              "%d in flight across the fleet, fleet_max_concurrent %d",
		              view->fleet_in_flight, cfg->fleet_max_concurrent);
	const double m = cfg->resume_margin > 0 ? cfg->resume_margin : 0;
	double lim;
	char why[96];

	lim = over(cfg->max_cpu_percent, m, view, REASON_CPU_LOAD, why, sizeof why, "%");
	if (cfg->max_cpu_percent > 0 && !isnan(snap->cpu_percent) && snap->cpu_percent > lim)
		return *defer(&d, REASON_CPU_LOAD, "cpu %.1f%% busy, limit %g%%%s", snap->cpu_percent,
		              cfg->max_cpu_percent, why);
	lim = under(cfg->min_mem_available_percent, m, view, REASON_MEMORY_PRESSURE, why, sizeof why,
	            "%");
	if (cfg->min_mem_available_percent > 0 && !isnan(snap->mem_available_percent) &&
	    snap->mem_available_percent < lim)
		return *defer(&d, REASON_MEMORY_PRESSURE, "memory %.1f%% available, minimum %g%%%s",
		              snap->mem_available_percent, cfg->min_mem_available_percent, why);
	lim = over(cfg->max_load_per_cpu, m / 100, view, REASON_LOAD_AVERAGE, why, sizeof why, "");
	if (cfg->max_load_per_cpu > 0 && !isnan(snap->loadavg1) && snap->ncpu > 0 &&
	    snap->loadavg1 / snap->ncpu > lim)
		return *defer(&d, REASON_LOAD_AVERAGE, "load %.2f on %g CPUs, limit %g per CPU%s",
		              snap->loadavg1, snap->ncpu, cfg->max_load_per_cpu, why);
	lim = over(cfg->max_cpu_pressure, m, view, REASON_CPU_PRESSURE, why, sizeof why, "%");
	if (cfg->max_cpu_pressure > 0 && !isnan(snap->pressure_cpu) && snap->pressure_cpu > lim)
		return *defer(&d, REASON_CPU_PRESSURE, "cpu pressure %.1f%% (some avg10), limit %g%%%s",
		              snap->pressure_cpu, cfg->max_cpu_pressure, why);
	lim = over(cfg->max_memory_pressure, m, view, REASON_MEMORY_STALL, why, sizeof why, "%");
	if (cfg->max_memory_pressure > 0 && !isnan(snap->pressure_memory) &&
	    snap->pressure_memory > lim)
		return *defer(&d, REASON_MEMORY_STALL,
		              "memory pressure %.1f%% (some avg10), limit %g%%%s", snap->pressure_memory,
		              cfg->max_memory_pressure, why);
	lim = over(cfg->max_io_pressure, m, view, REASON_IO_PRESSURE, why, sizeof why, "%");
	if (cfg->max_io_pressure > 0 && !isnan(snap->pressure_io) && snap->pressure_io > lim)
		return *defer(&d, REASON_IO_PRESSURE, "io pressure %.1f%% (some avg10), limit %g%%%s",
		              snap->pressure_io, cfg->max_io_pressure, why);
	lim = under(cfg->min_disk_free_percent, m, view, REASON_DISK_SPACE, why, sizeof why, "%");
	if (cfg->min_disk_free_percent > 0 && !isnan(snap->disk_free_percent) &&
	    snap->disk_free_percent < lim)
		return *defer(&d, REASON_DISK_SPACE, "disk %.1f%% free, minimum %g%%%s",
		              snap->disk_free_percent, cfg->min_disk_free_percent, why);
	for (size_t i = 0; i < cfg->nlimits; i++)
		if (check_limit(&cfg->limits[i], snap, view, m, &d))
			return d;
	d.status = POLICY_READY;
	return d;
}
