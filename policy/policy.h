/*
 * policy.h: the pure decision.  (config, snapshot, queue view, now) -> decision.
 *
 * No I/O, no clock, no globals: the caller passes the time and every reading, so a table of
 * literal rows tests it and `governor check --snapshot FILE` replays it exactly.
 *
 * Rules, in order; the first that fails names the reason (see docs/governor.1):
 *   1. no eligible pending task                          -> NO_TASKS
 *   2. max_concurrent = 0                                -> DEFERRED draining
 *   3. empty allowlist, or the task asks for a model
 *      that is not on it                                 -> DEFERRED no_allowed_model
 *   4. now is outside every active_hours range           -> DEFERRED outside_hours (none = always)
 *   5. READY hand-outs in the last hour or day reached
 *      max_dispatch_per_hour / _per_day                  -> DEFERRED budget_exhausted (0 = off)
 *   6. a required probe failed                           -> DEFERRED probe_failed
 *   7. interactive sessions >= max_interactive_sessions  -> DEFERRED vip_busy      (0 = off)
 *   8. in_flight >= max_concurrent, where in_flight =
 *      max(claimed + running, background sessions)       -> DEFERRED concurrency_limit
 *      (claimed + running of this host), or the tasks in
 *      flight on every host >= fleet_max_concurrent       -> DEFERRED concurrency_limit (0 = off)
 *   9. cpu_percent > max_cpu_percent                     -> DEFERRED cpu_load      (0 = off)
 *  10. mem_available_percent < min_mem_available_percent -> DEFERRED memory_pressure (0 = off)
 *  11. loadavg1 / ncpu > max_load_per_cpu                -> DEFERRED load_average  (0 = off)
 *  12. pressure_cpu > max_cpu_pressure                   -> DEFERRED cpu_pressure  (0 = off)
 *  13. pressure_memory > max_memory_pressure             -> DEFERRED memory_stall  (0 = off)
 *  14. pressure_io > max_io_pressure                     -> DEFERRED io_pressure   (0 = off)
 *  15. disk_free_percent < min_disk_free_percent         -> DEFERRED disk_space    (0 = off)
 *  16. a custom limit's value > its max or < its min, or
 *      an exit-status limit's value is not 0             -> DEFERRED custom_limit
 *  otherwise                                             -> READY
 * A reading that is absent (NAN) skips its rule.  Rules 2-5 need no readings: a caller may
 * decide once with an empty snapshot and probe only when that says READY.
 *
 * No flapping: when view->last_reason names one of the load rules 9-16 (the previous decision
 * was deferred by it), that rule's threshold is tightened by resume_margin, so READY comes back
 * only once the reading is better than the threshold by the margin: percentages (cpu, memory,
 * PSI, disk) by that many points, load per CPU by margin/100 (load 1.0 per CPU = 100 points),
 * a custom limit by that many of its own units (and only the limit named by last_limit).
 *
 * Task order: effective priority descending (priority, plus one point per `aging` waited when
 * aging > 0), then added_at ascending, then id ascending.
 */
#ifndef POLICY_POLICY_H
#define POLICY_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "probes/snapshot.h"

enum policy_status { POLICY_NO_TASKS, POLICY_READY, POLICY_DEFERRED };

/* Reason codes; policy_reason_name() gives the stable JSON string of each. */
enum policy_reason {
	REASON_NONE,
	REASON_LOCK_HELD,
	REASON_CONCURRENCY_LIMIT,
	REASON_VIP_BUSY,
	REASON_CPU_LOAD,
	REASON_MEMORY_PRESSURE,
	REASON_LOAD_AVERAGE,
	REASON_CPU_PRESSURE,
	REASON_MEMORY_STALL,
	REASON_IO_PRESSURE,
	REASON_DISK_SPACE,
	REASON_PROBE_FAILED,
	REASON_DRAINING,
	REASON_NO_ALLOWED_MODEL,
	REASON_BUDGET_EXHAUSTED,
	REASON_OUTSIDE_HOURS,
	REASON_CUSTOM_LIMIT,
	REASON__COUNT
};

/* One custom limit ([limits.NAME]).  NAN for an unset bound. */
struct policy_limit {
	const char *name;                 /* borrowed; matches the snapshot's limits[].name */
	double max, min;                  /* defer above max or below min */
	int exit_status;                  /* the value is an exit status: non-zero holds */
};

/* A daily range of local time, in minutes after midnight; start > end wraps midnight. */
struct policy_hours {
	int start, end;
};

struct policy_config {
	int max_concurrent;               /* 0 drains */
	double max_cpu_percent;           /* 0 = off */
	double min_mem_available_percent; /* 0 = off */
	double max_load_per_cpu;          /* 0 = off */
	double min_disk_free_percent;     /* 0 = off */
	int max_interactive_sessions;     /* 0 = off */
	int64_t aging_ms;                 /* 0 = off */
	const char *const *models;        /* allowlist: [0] preferred, [1] fallback */
	size_t nmodels;
	const struct policy_hours *hours; /* active_hours; none = always */
	size_t nhours;
	int max_dispatch_per_hour;        /* 0 = off */
	int max_dispatch_per_day;         /* 0 = off */
	double max_cpu_pressure;          /* PSI some avg10, percent; 0 = off */
	double max_memory_pressure;       /* 0 = off */
	double max_io_pressure;           /* 0 = off */
	double resume_margin;             /* points; 0 = resume at the threshold itself */
	int fleet_max_concurrent;         /* tasks in flight on all hosts of a shared store; 0 = off */
	const struct policy_limit *limits;
	size_t nlimits;
};

/* A pending task as the policy sees it.  Borrowed strings. */
struct policy_task {
	unsigned long id;
	int priority;
	int64_t added_at_ms;
	const char *model;                /* requested model, or NULL */
};

/* READY hand-outs in a sliding window, and when the oldest of them leaves it. */
struct policy_budget {
	int hour, day;                    /* hand-outs in the last hour and the last 24 h */
	int64_t hour_oldest_ms, day_oldest_ms;
};

struct policy_view {
	const struct policy_task *pending; /* eligible pending tasks, any order */
	size_t npending;
	int claimed, running;             /* this host's tasks in flight according to the queue */
	int fleet_in_flight;              /* claimed + running on every host (shared store) */
	struct policy_budget budget;
	int local_seconds;                /* now_ms as local time: seconds after midnight */
	enum policy_reason last_reason;   /* the previous decision's reason (REASON_NONE: READY) */
	const char *last_limit;           /* its limit's name when last_reason is custom_limit */
};

#define POLICY_DETAIL_MAX 256

struct policy_decision {
	enum policy_status status;
	enum policy_reason reason;        /* REASON_NONE unless DEFERRED */
	size_t task;                      /* index into view->pending when READY or DEFERRED */
	const char *model;                /* READY: model to run on (borrowed) */
	const char *fallback_model;       /* READY: next choice, or NULL */
	int in_flight;
	int active_sessions;              /* background + interactive sessions seen */
	char detail[POLICY_DETAIL_MAX];   /* DEFERRED: human-readable specifics */
	int64_t retry_after_ms;           /* DEFERRED: when the reason ends, if known; else 0 */
	const char *limit;                /* custom_limit: the limit's name (borrowed), else NULL */
};

struct policy_decision policy_decide(const struct policy_config *cfg, const struct snapshot *snap,
                                     const struct policy_view *view, int64_t now_ms);

/* Index of the task that runs first, or (size_t)-1 when view has none. */
size_t policy_pick(const struct policy_config *cfg, const struct policy_view *view, int64_t now_ms);

/* 1 if a before b in run order. */
int policy_task_before(const struct policy_config *cfg, const struct policy_task *a,
                       const struct policy_task *b, int64_t now_ms);

/* Seconds from local time `seconds` (after midnight) until the next start of an active range,
 * 0 when inside one (or none is set). */
int policy_hours_wait(const struct policy_config *cfg, int seconds);

/* 1 when name is on the allowlist. */
int policy_model_allowed(const struct policy_config *cfg, const char *name);

/* Stable JSON name of a reason ("concurrency_limit"), or NULL for REASON_NONE. */
const char *policy_reason_name(enum policy_reason reason);
const char *policy_status_name(enum policy_status status);

#endif
