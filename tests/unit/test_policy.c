/* test_policy.c: the pure decision as a table of {snapshot, config, queue view, expected} rows. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

#define NOW INT64_C(1800000000000)            /* 2027-01-15T08:00:00Z */
#define MIN_MS INT64_C(60000)
#define HOUR_MS INT64_C(3600000)
#define MAX_TASKS 4
#define NO_TASK 0UL                           /* ids start at 1: 0 means "no task chosen" */
#define ANY (-1)                              /* in_flight not checked */

#define GEMINI "google-gemini-flash"
#define HAIKU "claude-haiku-3-5"
#define MINI "gpt-4o-mini"

static const char *const two_models[] = { GEMINI, HAIKU };
static const char *const three_models[] = { GEMINI, HAIKU, MINI };
static const char *const one_model[] = { HAIKU };

/* A snapshot literal: every field named; NAN for an absent reading, -1 for no session source. */
#define SNAP(cpu, mem, load, cpus, disk, bg, vip)                                              \
	{ .cpu_percent = (cpu), .mem_available_percent = (mem), .loadavg1 = (load),             \
	  .loadavg5 = (load), .loadavg15 = (load), .ncpu = (cpus), .disk_free_percent = (disk), \
	  .sessions_background = (bg), .sessions_interactive = (vip), .cpu_method = "delta",   \
	  .failed = "" }
#define SNAP_FAILED(why, bg, vip)                                                              \
	{ .cpu_percent = NAN, .mem_available_percent = 50, .loadavg1 = 0.5, .loadavg5 = 0.5,    \
	  .loadavg15 = 0.5, .ncpu = 4, .disk_free_percent = 50, .sessions_background = (bg),    \
	  .sessions_interactive = (vip), .cpu_method = "", .failed = why }
/* A quiet machine: every rule passes with the default thresholds. */
#define CALM SNAP(20, 60, 0.5, 4, 50, 0, 0)

/* A policy_config literal: every field named. */
#define CFG(conc, cpu, mem, load, disk, vip, aging, list)                                      \
	{ .max_concurrent = (conc), .max_cpu_percent = (cpu), .min_mem_available_percent = (mem), \
	  .max_load_per_cpu = (load), .min_disk_free_percent = (disk),                          \
	  .max_interactive_sessions = (vip), .aging_ms = (aging), .models = (list),             \
	  .nmodels = sizeof(list) / sizeof((list)[0]) }
/* The documented defaults, plus a load limit of 2 per CPU. */
#define DEFAULTS CFG(1, 80, 15, 2, 5, 0, 0, two_models)
#define NO_MODELS_CFG(conc)                                                                   \
	{ .max_concurrent = (conc), .max_cpu_percent = 80, .min_mem_available_percent = 15,     \
	  .max_load_per_cpu = 2, .min_disk_free_percent = 5, .max_interactive_sessions = 0,     \
	  .aging_ms = 0, .models = NULL, .nmodels = 0 }

/* A pending task literal. */
#define TASK(id_, prio, added, mdl) { .id = (id_), .priority = (prio), .added_at_ms = (added), .model = (mdl) }
#define ONE_TASK { TASK(1, 1, NOW - MIN_MS, NULL) }

struct row {
	const char *name;
	struct snapshot snap;
	struct policy_config cfg;
	struct policy_task pending[MAX_TASKS];  /* the rows with id 0 are not part of the view */
	int claimed, running;
	int64_t now;
	enum policy_status status;
	enum policy_reason reason;
	unsigned long task;                     /* id of the chosen task, NO_TASK for none */
	const char *model, *fallback;
	int in_flight;                          /* ANY: not checked */
};

static const struct row rows[] = {
	/* 1. NO_TASKS */
	{ "empty queue", CALM, DEFAULTS, { { 0 } }, 0, 0, NOW,
	  POLICY_NO_TASKS, REASON_NONE, NO_TASK, NULL, NULL, 0 },
	{ "empty queue wins over draining and a bad machine", SNAP(99, 1, 50, 1, 0, 9, 9),
	  CFG(0, 80, 15, 2, 5, 1, 0, two_models), { { 0 } }, 3, 2, NOW,
	  POLICY_NO_TASKS, REASON_NONE, NO_TASK, NULL, NULL, 9 },
	{ "empty queue wins over an empty allowlist", CALM, NO_MODELS_CFG(1), { { 0 } }, 0, 0, NOW,
	  POLICY_NO_TASKS, REASON_NONE, NO_TASK, NULL, NULL, 0 },

	/* READY on a quiet machine */
	{ "quiet machine", CALM, DEFAULTS, ONE_TASK, 0, 0, NOW,
	  POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },
	{ "no session sources at all", SNAP(20, 60, 0.5, 4, 50, -1, -1), DEFAULTS, ONE_TASK, 0, 0,
	  NOW, POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },

	/* 2. draining wins over everything after it */
	{ "draining", CALM, CFG(0, 80, 15, 2, 5, 0, 0, two_models), ONE_TASK, 0, 0, NOW,
	  POLICY_DEFERRED, REASON_DRAINING, 1, NULL, NULL, 0 },
	{ "draining over no allowed model", CALM, NO_MODELS_CFG(0), ONE_TASK, 0, 0, NOW,
	  POLICY_DEFERRED, REASON_DRAINING, 1, NULL, NULL, 0 },
	{ "draining over every other rule", SNAP_FAILED("cpu: boom", 0, 3),
	  CFG(0, 80, 15, 2, 5, 1, 0, two_models), { TASK(1, 1, NOW, "not-allowed") }, 5, 5, NOW,
	  POLICY_DEFERRED, REASON_DRAINING, 1, NULL, NULL, 10 },
	{ "draining over a bad machine", SNAP(100, 0, 64, 4, 0, 8, 8),
	  CFG(0, 80, 15, 2, 5, 1, 0, two_models), ONE_TASK, 0, 0, NOW,
	  POLICY_DEFERRED, REASON_DRAINING, 1, NULL, NULL, 8 },

	/* 3. the allowlist */
	{ "empty allowlist", CALM, NO_MODELS_CFG(1), ONE_TASK, 0, 0, NOW,
	  POLICY_DEFERRED, REASON_NO_ALLOWED_MODEL, 1, NULL, NULL, 0 },
	{ "requested model not on the list", CALM, DEFAULTS,
	  { TASK(1, 1, NOW, "gpt-5") }, 0, 0, NOW,
	  POLICY_DEFERRED, REASON_NO_ALLOWED_MODEL, 1, NULL, NULL, 0 },
	{ "model names are compared exactly", CALM, DEFAULTS,
	  { TASK(1, 1, NOW, "Google-Gemini-Flash") }, 0, 0, NOW,
	  POLICY_DEFERRED, REASON_NO_ALLOWED_MODEL, 1, NULL, NULL, 0 },
	{ "no allowed model before probe_failed", SNAP_FAILED("cpu: boom", 0, 0), NO_MODELS_CFG(1),
	  ONE_TASK, 0, 0, NOW, POLICY_DEFERRED, REASON_NO_ALLOWED_MODEL, 1, NULL, NULL, 0 },
	{ "the first task decides: its model is not allowed", CALM, DEFAULTS,
	  { TASK(1, 2, NOW, "gpt-5"), TASK(2, 1, NOW, NULL) }, 0, 0, NOW,
	  POLICY_DEFERRED, REASON_NO_ALLOWED_MODEL, 1, NULL, NULL, 0 },

	/* 4. probe_failed */
	{ "probe failed", SNAP_FAILED("sessions: sessions.x: bad match pattern", 0, 0), DEFAULTS,
	  ONE_TASK, 0, 0, NOW, POLICY_DEFERRED, REASON_PROBE_FAILED, 1, NULL, NULL, 0 },
	{ "probe failed before vip_busy", SNAP_FAILED("cpu: boom", 0, 1),
	  CFG(1, 80, 15, 2, 5, 1, 0, two_models), ONE_TASK, 1, 0, NOW,
	  POLICY_DEFERRED, REASON_PROBE_FAILED, 1, NULL, NULL, 1 },

	/* 5. vip_busy */
	{ "vip at the limit", SNAP(20, 60, 0.5, 4, 50, 0, 2), CFG(1, 80, 15, 2, 5, 2, 0, two_models),
	  ONE_TASK, 0, 0, NOW, POLICY_DEFERRED, REASON_VIP_BUSY, 1, NULL, NULL, 0 },
	{ "vip above the limit", SNAP(20, 60, 0.5, 4, 50, 0, 3), CFG(1, 80, 15, 2, 5, 2, 0, two_models),
	  ONE_TASK, 0, 0, NOW, POLICY_DEFERRED, REASON_VIP_BUSY, 1, NULL, NULL, 0 },
	{ "vip below the limit", SNAP(20, 60, 0.5, 4, 50, 0, 1), CFG(1, 80, 15, 2, 5, 2, 0, two_models),
	  ONE_TASK, 0, 0, NOW, POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },
	{ "vip rule off (0)", SNAP(20, 60, 0.5, 4, 50, 0, 7), CFG(1, 80, 15, 2, 5, 0, 0, two_models),
	  ONE_TASK, 0, 0, NOW, POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },
	{ "vip without a source is not busy", SNAP(20, 60, 0.5, 4, 50, 0, -1),
	  CFG(1, 80, 15, 2, 5, 1, 0, two_models), ONE_TASK, 0, 0, NOW,
	  POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },
	{ "vip_busy before concurrency_limit", SNAP(20, 60, 0.5, 4, 50, 6, 1),
	  CFG(1, 80, 15, 2, 5, 1, 0, two_models), ONE_TASK, 1, 0, NOW,
	  POLICY_DEFERRED, REASON_VIP_BUSY, 1, NULL, NULL, 6 },

	/* 6. concurrency_limit: in_flight = max(claimed + running, background sessions) */
	{ "background sessions over the limit", SNAP(20, 60, 0.5, 4, 50, 6, 0), DEFAULTS, ONE_TASK,
	  0, 0, NOW, POLICY_DEFERRED, REASON_CONCURRENCY_LIMIT, 1, NULL, NULL, 6 },
	{ "in flight below the limit", SNAP(20, 60, 0.5, 4, 50, 1, 0),
	  CFG(3, 80, 15, 2, 5, 0, 0, two_models), ONE_TASK, 1, 1, NOW,
	  POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 2 },
	{ "claimed + running at the limit", SNAP(20, 60, 0.5, 4, 50, 1, 0),
	  CFG(3, 80, 15, 2, 5, 0, 0, two_models), ONE_TASK, 2, 1, NOW,
	  POLICY_DEFERRED, REASON_CONCURRENCY_LIMIT, 1, NULL, NULL, 3 },
	{ "one claim, limit 1, no session source", SNAP(20, 60, 0.5, 4, 50, -1, -1), DEFAULTS,
	  ONE_TASK, 1, 0, NOW, POLICY_DEFERRED, REASON_CONCURRENCY_LIMIT, 1, NULL, NULL, 1 },
	{ "one running, limit 1", CALM, DEFAULTS, ONE_TASK, 0, 1, NOW,
	  POLICY_DEFERRED, REASON_CONCURRENCY_LIMIT, 1, NULL, NULL, 1 },
	{ "background sessions at the limit", SNAP(20, 60, 0.5, 4, 50, 2, 0),
	  CFG(2, 80, 15, 2, 5, 0, 0, two_models), ONE_TASK, 1, 0, NOW,
	  POLICY_DEFERRED, REASON_CONCURRENCY_LIMIT, 1, NULL, NULL, 2 },
	{ "concurrency_limit before cpu_load", SNAP(99, 60, 0.5, 4, 50, 0, 0), DEFAULTS, ONE_TASK,
	  1, 0, NOW, POLICY_DEFERRED, REASON_CONCURRENCY_LIMIT, 1, NULL, NULL, 1 },

	/* 7. cpu_load: strictly above */
	{ "cpu exactly at the limit", SNAP(80, 60, 0.5, 4, 50, 0, 0), DEFAULTS, ONE_TASK, 0, 0, NOW,
	  POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },
	{ "cpu just above the limit", SNAP(80.5, 60, 0.5, 4, 50, 0, 0), DEFAULTS, ONE_TASK, 0, 0,
	  NOW, POLICY_DEFERRED, REASON_CPU_LOAD, 1, NULL, NULL, 0 },
	{ "cpu and memory both bad: cpu first", SNAP(95, 5, 0.5, 4, 50, 0, 0), DEFAULTS, ONE_TASK,
	  0, 0, NOW, POLICY_DEFERRED, REASON_CPU_LOAD, 1, NULL, NULL, 0 },
	{ "cpu rule off (0)", SNAP(100, 60, 0.5, 4, 50, 0, 0), CFG(1, 0, 15, 2, 5, 0, 0, two_models),
	  ONE_TASK, 0, 0, NOW, POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },
	{ "cpu absent (NAN): rule skipped", SNAP(NAN, 60, 0.5, 4, 50, 0, 0), DEFAULTS, ONE_TASK, 0,
	  0, NOW, POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },

	/* 8. memory_pressure: strictly below */
	{ "memory below the minimum", SNAP(20, 14.9, 0.5, 4, 50, 0, 0), DEFAULTS, ONE_TASK, 0, 0,
	  NOW, POLICY_DEFERRED, REASON_MEMORY_PRESSURE, 1, NULL, NULL, 0 },
	{ "memory exactly at the minimum", SNAP(20, 15, 0.5, 4, 50, 0, 0), DEFAULTS, ONE_TASK, 0, 0,
	  NOW, POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },
	{ "memory and load both bad: memory first", SNAP(20, 3, 40, 4, 50, 0, 0), DEFAULTS, ONE_TASK,
	  0, 0, NOW, POLICY_DEFERRED, REASON_MEMORY_PRESSURE, 1, NULL, NULL, 0 },
	{ "memory rule off (0)", SNAP(20, 0, 0.5, 4, 50, 0, 0), CFG(1, 80, 0, 2, 5, 0, 0, two_models),
	  ONE_TASK, 0, 0, NOW, POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },
	{ "memory absent (NAN): rule skipped", SNAP(20, NAN, 0.5, 4, 50, 0, 0), DEFAULTS, ONE_TASK,
	  0, 0, NOW, POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },

	/* 9. load_average: loadavg1 / ncpu, strictly above */
	{ "load per cpu above the limit", SNAP(20, 60, 9, 4, 50, 0, 0), DEFAULTS, ONE_TASK, 0, 0,
	  NOW, POLICY_DEFERRED, REASON_LOAD_AVERAGE, 1, NULL, NULL, 0 },
	{ "load per cpu exactly at the limit", SNAP(20, 60, 8, 4, 50, 0, 0), DEFAULTS, ONE_TASK, 0,
	  0, NOW, POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },
	{ "same load on one cpu is too much", SNAP(20, 60, 3, 1, 50, 0, 0), DEFAULTS, ONE_TASK, 0,
	  0, NOW, POLICY_DEFERRED, REASON_LOAD_AVERAGE, 1, NULL, NULL, 0 },
	{ "load and disk both bad: load first", SNAP(20, 60, 40, 4, 1, 0, 0), DEFAULTS, ONE_TASK, 0,
	  0, NOW, POLICY_DEFERRED, REASON_LOAD_AVERAGE, 1, NULL, NULL, 0 },
	{ "load rule off (0)", SNAP(20, 60, 400, 4, 50, 0, 0), CFG(1, 80, 15, 0, 5, 0, 0, two_models),
	  ONE_TASK, 0, 0, NOW, POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },
	{ "load absent (NAN): rule skipped", SNAP(20, 60, NAN, 4, 50, 0, 0), DEFAULTS, ONE_TASK, 0,
	  0, NOW, POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },
	{ "cpu count absent (NAN): rule skipped", SNAP(20, 60, 400, NAN, 50, 0, 0), DEFAULTS,
	  ONE_TASK, 0, 0, NOW, POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },

	/* 10. disk_space: strictly below */
	{ "disk below the minimum", SNAP(20, 60, 0.5, 4, 4, 0, 0), DEFAULTS, ONE_TASK, 0, 0, NOW,
	  POLICY_DEFERRED, REASON_DISK_SPACE, 1, NULL, NULL, 0 },
	{ "disk exactly at the minimum", SNAP(20, 60, 0.5, 4, 5, 0, 0), DEFAULTS, ONE_TASK, 0, 0, NOW,
	  POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },
	{ "disk rule off (0)", SNAP(20, 60, 0.5, 4, 0, 0, 0), CFG(1, 80, 15, 2, 0, 0, 0, two_models),
	  ONE_TASK, 0, 0, NOW, POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },
	{ "disk absent (NAN): rule skipped", SNAP(20, 60, 0.5, 4, NAN, 0, 0), DEFAULTS, ONE_TASK, 0,
	  0, NOW, POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },

	/* NAN everywhere and every threshold off */
	{ "every reading absent", SNAP(NAN, NAN, NAN, NAN, NAN, -1, -1),
	  CFG(1, 80, 15, 2, 5, 1, 0, two_models), ONE_TASK, 0, 0, NOW,
	  POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },
	{ "every threshold 0 on a bad machine", SNAP(100, 0, 1000, 1, 0, 0, 50),
	  CFG(1, 0, 0, 0, 0, 0, 0, two_models), ONE_TASK, 0, 0, NOW,
	  POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },

	/* Task order: priority desc, added_at asc, id asc; aging */
	{ "higher priority first", CALM, DEFAULTS,
	  { TASK(1, 1, NOW - 3 * HOUR_MS, NULL), TASK(2, 2, NOW, NULL), TASK(3, 0, NOW - 9 * HOUR_MS, NULL) },
	  0, 0, NOW, POLICY_READY, REASON_NONE, 2, GEMINI, HAIKU, 0 },
	{ "negative priority last", CALM, DEFAULTS,
	  { TASK(1, -5, NOW - 3 * HOUR_MS, NULL), TASK(2, 0, NOW, NULL) },
	  0, 0, NOW, POLICY_READY, REASON_NONE, 2, GEMINI, HAIKU, 0 },
	{ "same priority: older first", CALM, DEFAULTS,
	  { TASK(4, 1, NOW - 1 * MIN_MS, NULL), TASK(9, 1, NOW - 2 * MIN_MS, NULL), TASK(2, 1, NOW, NULL) },
	  0, 0, NOW, POLICY_READY, REASON_NONE, 9, GEMINI, HAIKU, 0 },
	{ "same priority and time: lower id first", CALM, DEFAULTS,
	  { TASK(12, 1, NOW - MIN_MS, NULL), TASK(7, 1, NOW - MIN_MS, NULL), TASK(10, 1, NOW - MIN_MS, NULL) },
	  0, 0, NOW, POLICY_READY, REASON_NONE, 7, GEMINI, HAIKU, 0 },
	{ "aging off: waiting does not raise priority", CALM, DEFAULTS,
	  { TASK(1, 0, NOW - 100 * HOUR_MS, NULL), TASK(2, 2, NOW, NULL) },
	  0, 0, NOW, POLICY_READY, REASON_NONE, 2, GEMINI, HAIKU, 0 },
	{ "aging: 3 intervals waited beat 2 points", CALM, CFG(1, 80, 15, 2, 5, 0, HOUR_MS, two_models),
	  { TASK(1, 2, NOW, NULL), TASK(2, 0, NOW - 3 * HOUR_MS, NULL) },
	  0, 0, NOW, POLICY_READY, REASON_NONE, 2, GEMINI, HAIKU, 0 },
	{ "aging: an unfinished interval counts nothing", CALM,
	  CFG(1, 80, 15, 2, 5, 0, HOUR_MS, two_models),
	  { TASK(1, 2, NOW - 1, NULL), TASK(2, 0, NOW - 2 * HOUR_MS + 1, NULL) },
	  0, 0, NOW, POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },
	{ "aging: a tie is broken by age", CALM, CFG(1, 80, 15, 2, 5, 0, HOUR_MS, two_models),
	  { TASK(1, 2, NOW, NULL), TASK(2, 0, NOW - 2 * HOUR_MS, NULL) },
	  0, 0, NOW, POLICY_READY, REASON_NONE, 2, GEMINI, HAIKU, 0 },
	{ "aging: a task from the future gains nothing", CALM,
	  CFG(1, 80, 15, 2, 5, 0, HOUR_MS, two_models),
	  { TASK(1, 1, NOW + 5 * HOUR_MS, NULL), TASK(2, 0, NOW, NULL) },
	  0, 0, NOW, POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },
	{ "the chosen task is reported when deferred", SNAP(95, 60, 0.5, 4, 50, 0, 0), DEFAULTS,
	  { TASK(3, 0, NOW, NULL), TASK(5, 2, NOW, NULL) },
	  0, 0, NOW, POLICY_DEFERRED, REASON_CPU_LOAD, 5, NULL, NULL, 0 },

	/* Models */
	{ "requested allowed model; fallback the first other", CALM, DEFAULTS,
	  { TASK(1, 1, NOW, HAIKU) }, 0, 0, NOW, POLICY_READY, REASON_NONE, 1, HAIKU, GEMINI, 0 },
	{ "requested third model; fallback the first other", CALM,
	  CFG(1, 80, 15, 2, 5, 0, 0, three_models),
	  { TASK(1, 1, NOW, MINI) }, 0, 0, NOW, POLICY_READY, REASON_NONE, 1, MINI, GEMINI, 0 },
	{ "three models, none requested", CALM, CFG(1, 80, 15, 2, 5, 0, 0, three_models),
	  ONE_TASK, 0, 0, NOW, POLICY_READY, REASON_NONE, 1, GEMINI, HAIKU, 0 },
	{ "single model: no fallback", CALM, CFG(1, 80, 15, 2, 5, 0, 0, one_model),
	  ONE_TASK, 0, 0, NOW, POLICY_READY, REASON_NONE, 1, HAIKU, NULL, 0 },
	{ "single model requested: no fallback", CALM, CFG(1, 80, 15, 2, 5, 0, 0, one_model),
	  { TASK(1, 1, NOW, HAIKU) }, 0, 0, NOW, POLICY_READY, REASON_NONE, 1, HAIKU, NULL, 0 },
	{ "single model, another requested", CALM, CFG(1, 80, 15, 2, 5, 0, 0, one_model),
	  { TASK(1, 1, NOW, GEMINI) }, 0, 0, NOW,
	  POLICY_DEFERRED, REASON_NO_ALLOWED_MODEL, 1, NULL, NULL, 0 },
};

static size_t count_tasks(const struct row *r)
{
	size_t n = 0;

	while (n < MAX_TASKS && r->pending[n].id != 0)
		n++;
	return n;
}

static void check_row(const struct row *r)
{
	struct policy_view view = { .pending = r->pending, .npending = count_tasks(r),
	                            .claimed = r->claimed, .running = r->running };
	struct policy_decision d = policy_decide(&r->cfg, &r->snap, &view, r->now);
	const char *want_reason = policy_reason_name(r->reason);
	const char *got_reason = policy_reason_name(d.reason);

	if (d.status != r->status || d.reason != r->reason)
		fail_msg("row '%s': got %s/%s (%s), want %s/%s", r->name, policy_status_name(d.status),
		         got_reason ? got_reason : "-", d.detail, policy_status_name(r->status),
		         want_reason ? want_reason : "-");
	if (r->task == NO_TASK) {
		if (d.task != (size_t)-1)
			fail_msg("row '%s': chose index %zu, want none", r->name, d.task);
	} else {
		if (d.task >= view.npending)
			fail_msg("row '%s': chose index %zu of %zu", r->name, d.task, view.npending);
		if (r->pending[d.task].id != r->task)
			fail_msg("row '%s': chose T-%02lu, want T-%02lu", r->name, r->pending[d.task].id,
			         r->task);
	}
	if ((r->model == NULL) != (d.model == NULL) ||
	    (r->model && strcmp(r->model, d.model) != 0))
		fail_msg("row '%s': model %s, want %s", r->name, d.model ? d.model : "NULL",
		         r->model ? r->model : "NULL");
	if ((r->fallback == NULL) != (d.fallback_model == NULL) ||
	    (r->fallback && strcmp(r->fallback, d.fallback_model) != 0))
		fail_msg("row '%s': fallback %s, want %s", r->name,
		         d.fallback_model ? d.fallback_model : "NULL", r->fallback ? r->fallback : "NULL");
	if (r->in_flight != ANY && d.in_flight != r->in_flight)
		fail_msg("row '%s': in_flight %d, want %d", r->name, d.in_flight, r->in_flight);
	{
		int bg = r->snap.sessions_background > 0 ? r->snap.sessions_background : 0;
		int vip = r->snap.sessions_interactive > 0 ? r->snap.sessions_interactive : 0;

		if (d.active_sessions != bg + vip)
			fail_msg("row '%s': active_sessions %d, want %d", r->name, d.active_sessions,
			         bg + vip);
	}
	/* A DEFERRED decision explains itself; the others carry no detail. */
	if (r->status == POLICY_DEFERRED) {
		if (d.detail[0] == '\0')
			fail_msg("row '%s': DEFERRED without a detail", r->name);
	} else if (d.detail[0] != '\0') {
		fail_msg("row '%s': unexpected detail '%s'", r->name, d.detail);
	}
	/* Every model handed out is on the allowlist. */
	if (d.model && !policy_model_allowed(&r->cfg, d.model))
		fail_msg("row '%s': model %s is not allowed", r->name, d.model);
	if (d.fallback_model && !policy_model_allowed(&r->cfg, d.fallback_model))
		fail_msg("row '%s': fallback %s is not allowed", r->name, d.fallback_model);
}

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		check_row(&rows[i]);
}

/* The deciding rule does not depend on where the chosen task sits in the view. */
static void test_table_reversed(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		struct row r = rows[i];
		size_t n = count_tasks(&r);

		for (size_t j = 0; j < n; j++)
			r.pending[j] = rows[i].pending[n - 1 - j];
		check_row(&r);
	}
}

/* Every rule in the table was exercised: a rule missing from the rows is a hole. */
static void test_table_covers_rules(void **state)
{
	static const enum policy_reason rules[] = {
		REASON_DRAINING, REASON_NO_ALLOWED_MODEL, REASON_PROBE_FAILED, REASON_VIP_BUSY,
		REASON_CONCURRENCY_LIMIT, REASON_CPU_LOAD, REASON_MEMORY_PRESSURE,
		REASON_LOAD_AVERAGE, REASON_DISK_SPACE,
	};
	int seen_ready = 0, seen_none = 0;

	(void)state;
	for (size_t k = 0; k < sizeof rules / sizeof rules[0]; k++) {
		int seen = 0;

		for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
			seen |= rows[i].reason == rules[k];
		if (!seen)
			fail_msg("no row for %s", policy_reason_name(rules[k]));
	}
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		seen_ready |= rows[i].status == POLICY_READY;
		seen_none |= rows[i].status == POLICY_NO_TASKS;
	}
	assert_true(seen_ready && seen_none);
}

static void test_pick_empty(void **state)
{
	struct policy_config cfg = DEFAULTS;
	struct policy_view none = { .pending = NULL, .npending = 0 };
	struct policy_task one[] = { TASK(3, 1, NOW, NULL) };
	struct policy_view view = { .pending = one, .npending = 1 };

	(void)state;
	assert_true(policy_pick(&cfg, &none, NOW) == (size_t)-1);
	assert_true(policy_pick(&cfg, &view, NOW) == 0);
}

/* Picking and removing gives the same run order whatever the order of the view (all 120). */
static void test_pick_order_independent(void **state)
{
	struct policy_config cfg = CFG(1, 80, 15, 2, 5, 0, HOUR_MS, two_models);
	const struct policy_task base[5] = {
		TASK(1, 1, NOW - 30 * MIN_MS, NULL),  /* 1 */
		TASK(2, 2, NOW - 10 * MIN_MS, NULL),  /* 2, added with T-04: lower id first */
		TASK(3, 0, NOW - 150 * MIN_MS, NULL), /* 0 + 2 aged = 2, older than T-02 and T-04 */
		TASK(4, 2, NOW - 10 * MIN_MS, NULL),  /* 2 */
		TASK(5, -1, NOW - 600 * MIN_MS, NULL), /* -1 + 10 aged = 9 */
	};
	const unsigned long order[5] = { 5, 3, 2, 4, 1 };
	int idx[5] = { 0, 1, 2, 3, 4 }, c[5] = { 0 };
	size_t checked = 0;

	(void)state;
	for (int i = 1;;) {
		struct policy_task p[5];
		struct policy_view view = { .pending = p, .npending = 5 };

		for (int k = 0; k < 5; k++)
			p[k] = base[idx[k]];
		for (size_t k = 0; k < 5; k++) {
			size_t got = policy_pick(&cfg, &view, NOW);

			assert_true(got < view.npending);
			assert_int_equal(p[got].id, order[k]);
			p[got] = p[--view.npending];
		}
		assert_true(policy_pick(&cfg, &view, NOW) == (size_t)-1);
		checked++;
		/* Heap's algorithm: the next permutation of idx. */
		while (i < 5 && c[i] >= i) {
			c[i] = 0;
			i++;
		}
		if (i == 5)
			break;
		int j = i % 2 == 0 ? 0 : c[i], tmp = idx[j];
		idx[j] = idx[i];
		idx[i] = tmp;
		c[i]++;
		i = 1;
	}
	assert_int_equal(checked, 120);
}

/* policy_task_before is a strict order: irreflexive, asymmetric. */
static void test_task_before(void **state)
{
	struct policy_config cfg = CFG(1, 80, 15, 2, 5, 0, 0, two_models);
	const struct policy_task t[] = {
		TASK(1, 1, NOW, NULL), TASK(2, 1, NOW, NULL), TASK(3, 2, NOW + 1, NULL),
		TASK(4, 1, NOW - 1, NULL), TASK(5, 0, NOW - HOUR_MS, NULL),
	};
	const size_t n = sizeof t / sizeof t[0];

	(void)state;
	for (size_t i = 0; i < n; i++) {
		assert_false(policy_task_before(&cfg, &t[i], &t[i], NOW));
		for (size_t j = 0; j < n; j++)
			if (i != j)
				assert_int_not_equal(policy_task_before(&cfg, &t[i], &t[j], NOW),
				                     policy_task_before(&cfg, &t[j], &t[i], NOW));
	}
	assert_true(policy_task_before(&cfg, &t[2], &t[0], NOW));  /* priority */
	assert_true(policy_task_before(&cfg, &t[3], &t[0], NOW));  /* older */
	assert_true(policy_task_before(&cfg, &t[0], &t[1], NOW));  /* lower id */
	assert_true(policy_task_before(&cfg, &t[0], &t[4], NOW));
	cfg.aging_ms = 30 * MIN_MS;                                /* T-05 gains 2 points: 2 */
	assert_true(policy_task_before(&cfg, &t[4], &t[0], NOW));
	assert_true(policy_task_before(&cfg, &t[4], &t[2], NOW));  /* tie at 2: older wins */
}

static void test_model_allowed(void **state)
{
	struct policy_config cfg = DEFAULTS;
	struct policy_config empty = NO_MODELS_CFG(1);

	(void)state;
	assert_true(policy_model_allowed(&cfg, GEMINI));
	assert_true(policy_model_allowed(&cfg, HAIKU));
	assert_false(policy_model_allowed(&cfg, MINI));
	assert_false(policy_model_allowed(&cfg, ""));
	assert_false(policy_model_allowed(&cfg, "google-gemini"));
	assert_false(policy_model_allowed(&empty, GEMINI));
}

/* The reason names are the fixed, documented set of DESIGN 5.1. */
static void test_reason_names(void **state)
{
	static const struct { enum policy_reason reason; const char *name; } documented[] = {
		{ REASON_LOCK_HELD, "lock_held" },
		{ REASON_CONCURRENCY_LIMIT, "concurrency_limit" },
		{ REASON_VIP_BUSY, "vip_busy" },
		{ REASON_CPU_LOAD, "cpu_load" },
		{ REASON_MEMORY_PRESSURE, "memory_pressure" },
		{ REASON_LOAD_AVERAGE, "load_average" },
		{ REASON_CPU_PRESSURE, "cpu_pressure" },
		{ REASON_MEMORY_STALL, "memory_stall" },
		{ REASON_IO_PRESSURE, "io_pressure" },
		{ REASON_DISK_SPACE, "disk_space" },
		{ REASON_PROBE_FAILED, "probe_failed" },
		{ REASON_DRAINING, "draining" },
		{ REASON_NO_ALLOWED_MODEL, "no_allowed_model" },
		{ REASON_BUDGET_EXHAUSTED, "budget_exhausted" },
		{ REASON_OUTSIDE_HOURS, "outside_hours" },
		{ REASON_CUSTOM_LIMIT, "custom_limit" },
	};
	const size_t ndoc = sizeof documented / sizeof documented[0];

	(void)state;
	assert_null(policy_reason_name(REASON_NONE));
	assert_null(policy_reason_name(REASON__COUNT));
	assert_null(policy_reason_name((enum policy_reason)-1));
	/* One documented name per reason, no more, no fewer. */
	assert_int_equal(ndoc, REASON__COUNT - 1);
	for (size_t i = 0; i < ndoc; i++) {
		const char *got = policy_reason_name(documented[i].reason);

		assert_non_null(got);
		assert_string_equal(got, documented[i].name);
	}
	for (int a = REASON_NONE + 1; a < REASON__COUNT; a++) {
		const char *na = policy_reason_name((enum policy_reason)a);

		assert_non_null(na);
		assert_true(na[0] != '\0');
		for (int b = a + 1; b < REASON__COUNT; b++)
			assert_string_not_equal(na, policy_reason_name((enum policy_reason)b));
	}
}

static void test_status_names(void **state)
{
	(void)state;
	assert_string_equal(policy_status_name(POLICY_READY), "READY");
	assert_string_equal(policy_status_name(POLICY_DEFERRED), "DEFERRED");
	assert_string_equal(policy_status_name(POLICY_NO_TASKS), "NO_TASKS");
}

/* The detail names the numbers that decided, so a user can act on it. */
static void test_details(void **state)
{
	struct policy_task one[] = ONE_TASK, wants[] = { TASK(7, 1, NOW, "gpt-5") };
	struct policy_view view = { .pending = one, .npending = 1 };
	struct policy_config cfg = DEFAULTS;
	struct snapshot busy = SNAP(20, 60, 0.5, 4, 50, 6, 0);
	struct snapshot hot = SNAP(93.5, 60, 0.5, 4, 50, 0, 0);
	struct snapshot calm = CALM;
	struct policy_decision d;

	(void)state;
	d = policy_decide(&cfg, &busy, &view, NOW);
	assert_int_equal(d.reason, REASON_CONCURRENCY_LIMIT);
	assert_non_null(strstr(d.detail, "6"));
	assert_non_null(strstr(d.detail, "limit 1"));
	d = policy_decide(&cfg, &hot, &view, NOW);
	assert_int_equal(d.reason, REASON_CPU_LOAD);
	assert_non_null(strstr(d.detail, "93.5"));
	view.pending = wants;
	d = policy_decide(&cfg, &calm, &view, NOW);
	assert_int_equal(d.reason, REASON_NO_ALLOWED_MODEL);
	assert_non_null(strstr(d.detail, "T-07"));
	assert_non_null(strstr(d.detail, "gpt-5"));
}

/* Fleet mode: max_concurrent counts this host's tasks; fleet_max_concurrent every host's. */
static void test_fleet_cap(void **state)
{
	struct policy_task one[] = ONE_TASK;
	struct policy_config cfg = DEFAULTS;
	struct snapshot calm = CALM, busy = SNAP(99, 60, 0.5, 4, 50, 0, 0);
	struct policy_decision d;
	struct policy_view view = { .pending = one, .npending = 1, .fleet_in_flight = 5 };

	(void)state;
	d = policy_decide(&cfg, &calm, &view, NOW);          /* off (0): other hosts do not count */
	assert_int_equal(d.status, POLICY_READY);
	cfg.fleet_max_concurrent = 6;
	d = policy_decide(&cfg, &calm, &view, NOW);          /* below the cap */
	assert_int_equal(d.status, POLICY_READY);
	view.fleet_in_flight = 6;                            /* at the cap */
	d = policy_decide(&cfg, &calm, &view, NOW);
	assert_int_equal(d.status, POLICY_DEFERRED);
	assert_int_equal(d.reason, REASON_CONCURRENCY_LIMIT);
	assert_string_equal(d.detail, "6 in flight across the fleet, fleet_max_concurrent 6");
	view.claimed = 1;                                    /* this host's limit is named first */
	d = policy_decide(&cfg, &calm, &view, NOW);
	assert_non_null(strstr(d.detail, "limit 1"));
	view.claimed = 0;
	d = policy_decide(&cfg, &busy, &view, NOW);          /* the cap comes before the readings */
	assert_int_equal(d.reason, REASON_CONCURRENCY_LIMIT);
	cfg.max_concurrent = 0;                              /* draining comes before it */
	d = policy_decide(&cfg, &calm, &view, NOW);
	assert_int_equal(d.reason, REASON_DRAINING);
}

/* --- active hours and dispatch budgets (rules 4 and 5) ------------------------------------------ */

#define HM(h, m) ((h) * 60 + (m))
#define AT(h, m, s) ((h) * 3600 + (m) * 60 + (s))

static const struct policy_hours night[] = { { HM(1, 0), HM(7, 0) } };
static const struct policy_hours wraps[] = { { HM(22, 0), HM(6, 0) } };
static const struct policy_hours two[] = { { HM(13, 0), HM(14, 0) }, { HM(1, 0), HM(2, 0) } };
static const struct policy_hours whole_day[] = { { 0, 0 } };                 /* 00:00-24:00 */
static const struct policy_hours to_midnight[] = { { HM(22, 0), 0 } };       /* 22:00-24:00 */
static const struct policy_hours one_minute[] = { { HM(12, 0), HM(12, 1) } };

#define HOURS(arr) .hours = (arr), .nhours = sizeof(arr) / sizeof((arr)[0])

struct hours_row {
	const char *name;
	const struct policy_hours *hours;
	size_t nhours;
	int local_seconds;
	int wait;                       /* seconds until the next start; 0 = inside a range */
};

static const struct hours_row hours_rows[] = {
	{ "no ranges: always", NULL, 0, AT(3, 0, 0), 0 },
	{ "inside 01:00-07:00", night, 1, AT(3, 0, 0), 0 },
	{ "the start minute is inside", night, 1, AT(1, 0, 0), 0 },
	{ "the last second before the end is inside", night, 1, AT(6, 59, 59), 0 },
	{ "the end is outside: wait until 01:00 tomorrow", night, 1, AT(7, 0, 0), 18 * 3600 },
	{ "30 s before the start", night, 1, AT(0, 59, 30), 30 },
	{ "just after midnight, before the start", night, 1, AT(0, 0, 0), 3600 },
	{ "wrapping: late evening inside", wraps, 1, AT(23, 0, 0), 0 },
	{ "wrapping: midnight inside", wraps, 1, AT(0, 0, 0), 0 },
	{ "wrapping: early morning inside", wraps, 1, AT(5, 59, 59), 0 },
	{ "wrapping: the end is outside", wraps, 1, AT(6, 0, 0), 16 * 3600 },
	{ "wrapping: a minute before the start", wraps, 1, AT(21, 59, 0), 60 },
	{ "two ranges: between them, the nearer start", two, 2, AT(3, 0, 0), 10 * 3600 },
	{ "two ranges: after the second, the earlier range tomorrow", two, 2, AT(14, 30, 0),
	  10 * 3600 + 1800 },
	{ "two ranges: inside the second", two, 2, AT(13, 30, 0), 0 },
	{ "two ranges: inside the first", two, 2, AT(1, 59, 59), 0 },
	{ "two ranges: late evening", two, 2, AT(23, 0, 0), 2 * 3600 },
	{ "00:00-24:00 is always: midnight", whole_day, 1, AT(0, 0, 0), 0 },
	{ "00:00-24:00 is always: noon", whole_day, 1, AT(12, 0, 0), 0 },
	{ "00:00-24:00 is always: the last second", whole_day, 1, AT(23, 59, 59), 0 },
	{ "22:00-24:00: the last second inside", to_midnight, 1, AT(23, 59, 59), 0 },
	{ "22:00-24:00: midnight outside", to_midnight, 1, AT(0, 0, 0), 22 * 3600 },
	{ "22:00-24:00: an hour before", to_midnight, 1, AT(21, 0, 0), 3600 },
	{ "one minute: inside", one_minute, 1, AT(12, 0, 59), 0 },
	{ "one minute: just after, a day less a minute", one_minute, 1, AT(12, 1, 0), 86400 - 60 },
};

/* policy_hours_wait, and the decision it makes: outside_hours with retry_after = now + wait. */
static void test_hours(void **state)
{
	struct policy_task one[] = ONE_TASK;
	struct snapshot calm = CALM;

	(void)state;
	for (size_t i = 0; i < sizeof hours_rows / sizeof hours_rows[0]; i++) {
		const struct hours_row *r = &hours_rows[i];
		struct policy_config cfg = DEFAULTS;
		struct policy_view view = { .pending = one, .npending = 1,
		                            .local_seconds = r->local_seconds };
		struct policy_decision d;
		int wait;

		cfg.hours = r->hours;
		cfg.nhours = r->nhours;
		wait = policy_hours_wait(&cfg, r->local_seconds);
		if (wait != r->wait)
			fail_msg("row '%s': wait %d s, want %d s", r->name, wait, r->wait);
		d = policy_decide(&cfg, &calm, &view, NOW);
		if (r->wait == 0) {
			if (d.status != POLICY_READY || d.retry_after_ms != 0)
				fail_msg("row '%s': %s/%s, want READY", r->name, policy_status_name(d.status),
				         d.reason ? policy_reason_name(d.reason) : "-");
		} else {
			if (d.status != POLICY_DEFERRED || d.reason != REASON_OUTSIDE_HOURS)
				fail_msg("row '%s': %s/%s, want DEFERRED outside_hours", r->name,
				         policy_status_name(d.status), d.reason ? policy_reason_name(d.reason) : "-");
			if (d.retry_after_ms != NOW + (int64_t)r->wait * 1000)
				fail_msg("row '%s': retry_after NOW%+lld ms, want NOW+%d s", r->name,
				         (long long)(d.retry_after_ms - NOW), r->wait);
			assert_non_null(strstr(d.detail, "active_hours"));
			assert_null(d.model);
		}
	}
}

/* An independent reading of the ranges: is minute m of the day inside one? */
static int ref_inside(const struct policy_hours *h, size_t n, int m)
{
	for (size_t i = 0; i < n; i++) {
		int s = h[i].start, e = h[i].end ? h[i].end : 1440;

		if (h[i].start == h[i].end)
			return 1;
		if (s < e ? (m >= s && m < e) : (m >= s || m < e))
			return 1;
	}
	return 0;
}

/* Every minute of the day, for several sets of ranges: the wait ends at the first minute inside. */
static void test_hours_every_minute(void **state)
{
	static const struct { const struct policy_hours *h; size_t n; } sets[] = {
		{ night, 1 }, { wraps, 1 }, { two, 2 }, { whole_day, 1 }, { to_midnight, 1 },
		{ one_minute, 1 },
	};

	(void)state;
	for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
		struct policy_config cfg = DEFAULTS;

		cfg.hours = sets[k].h;
		cfg.nhours = sets[k].n;
		for (int m = 0; m < 1440; m++) {
			int s = m * 60 + 17, want = 0, got = policy_hours_wait(&cfg, s);

			if (!ref_inside(sets[k].h, sets[k].n, m)) {
				int d = 1;

				while (!ref_inside(sets[k].h, sets[k].n, (m + d) % 1440))
					d++;
				want = (m + d) * 60 - s;
			}
			if (got != want)
				fail_msg("set %zu at %02d:%02d:17: wait %d, want %d", k, m / 60, m % 60, got, want);
		}
	}
}

#define BUDGET(h, ho, d, dold) { .hour = (h), .hour_oldest_ms = (ho), .day = (d), .day_oldest_ms = (dold) }

struct budget_row {
	const char *name;
	int per_hour, per_day;
	struct policy_budget budget;
	enum policy_status status;
	int64_t retry_after;            /* DEFERRED budget_exhausted: when */
};

static const struct budget_row budget_rows[] = {
	{ "both off (0): any number handed out", 0, 0, BUDGET(500, NOW - MIN_MS, 5000, NOW - HOUR_MS),
	  POLICY_READY, 0 },
	{ "hour: below the limit", 3, 0, BUDGET(2, NOW - 40 * MIN_MS, 2, NOW - 40 * MIN_MS),
	  POLICY_READY, 0 },
	{ "hour: at the limit", 3, 0, BUDGET(3, NOW - 40 * MIN_MS, 3, NOW - 40 * MIN_MS),
	  POLICY_DEFERRED, NOW + 20 * MIN_MS },
	{ "hour: above the limit", 3, 0, BUDGET(5, NOW - 59 * MIN_MS, 9, NOW - 5 * HOUR_MS),
	  POLICY_DEFERRED, NOW + MIN_MS },
	{ "hour: limit 1, one just handed out", 1, 0, BUDGET(1, NOW - 1000, 1, NOW - 1000),
	  POLICY_DEFERRED, NOW - 1000 + HOUR_MS },
	{ "day: at the limit", 0, 10, BUDGET(1, NOW - MIN_MS, 10, NOW - 23 * HOUR_MS),
	  POLICY_DEFERRED, NOW + HOUR_MS },
	{ "day: below the limit", 0, 10, BUDGET(9, NOW - MIN_MS, 9, NOW - 23 * HOUR_MS),
	  POLICY_READY, 0 },
	{ "hour within, day used up", 5, 10, BUDGET(2, NOW - MIN_MS, 10, NOW - 2 * HOUR_MS),
	  POLICY_DEFERRED, NOW + 22 * HOUR_MS },
	{ "both used up: the hour decides", 2, 4, BUDGET(2, NOW - 30 * MIN_MS, 4, NOW - 20 * HOUR_MS),
	  POLICY_DEFERRED, NOW + 30 * MIN_MS },
	{ "day off, hour within", 5, 0, BUDGET(4, NOW - MIN_MS, 1000, NOW - HOUR_MS),
	  POLICY_READY, 0 },
};

static void test_budget(void **state)
{
	struct policy_task one[] = ONE_TASK;
	struct snapshot calm = CALM;

	(void)state;
	for (size_t i = 0; i < sizeof budget_rows / sizeof budget_rows[0]; i++) {
		const struct budget_row *r = &budget_rows[i];
		struct policy_config cfg = DEFAULTS;
		struct policy_view view = { .pending = one, .npending = 1, .budget = r->budget };
		struct policy_decision d;

		cfg.max_dispatch_per_hour = r->per_hour;
		cfg.max_dispatch_per_day = r->per_day;
		d = policy_decide(&cfg, &calm, &view, NOW);
		if (d.status != r->status ||
		    (r->status == POLICY_DEFERRED && d.reason != REASON_BUDGET_EXHAUSTED))
			fail_msg("row '%s': %s/%s", r->name, policy_status_name(d.status),
			         d.reason ? policy_reason_name(d.reason) : "-");
		if (d.retry_after_ms != r->retry_after)
			fail_msg("row '%s': retry_after NOW%+lld ms, want NOW%+lld ms", r->name,
			         (long long)(d.retry_after_ms - NOW), (long long)(r->retry_after - NOW));
		if (r->status == POLICY_DEFERRED)
			assert_non_null(strstr(d.detail, "limit"));
	}
}

/*
 * Rules 2-6 in order: draining, no_allowed_model, outside_hours, budget_exhausted, probe_failed,
 * then the rest.  Each row turns on every rule from one point on; the first names the reason.
 */
static void test_rule_order_hours_budget(void **state)
{
	static const struct policy_hours far[] = { { HM(20, 0), HM(21, 0) } };
	static const char *const nothing[] = { "x" };
	struct policy_task one[] = ONE_TASK;
	const struct snapshot failed = SNAP_FAILED("cpu: boom", 9, 9);
	const struct snapshot busy = SNAP(95, 60, 0.5, 4, 50, 9, 9);   /* vip, concurrency, cpu */
	const struct snapshot calm = CALM;
	const struct policy_budget spent = BUDGET(5, NOW - MIN_MS, 5, NOW - MIN_MS);
	static const enum policy_reason order[] = {
		REASON_DRAINING, REASON_NO_ALLOWED_MODEL, REASON_OUTSIDE_HOURS, REASON_BUDGET_EXHAUSTED,
		REASON_PROBE_FAILED, REASON_VIP_BUSY,
	};

	(void)state;
	for (size_t from = 0; from < sizeof order / sizeof order[0]; from++) {
		struct policy_config cfg = CFG(1, 80, 15, 2, 5, 1, 0, two_models);
		struct policy_view view = { .pending = one, .npending = 1, .claimed = 1,
		                            .local_seconds = AT(8, 0, 0) };
		const struct snapshot *snap = &busy;
		struct policy_decision d;

		for (size_t k = from; k < sizeof order / sizeof order[0]; k++) {
			switch (order[k]) {
			case REASON_DRAINING: cfg.max_concurrent = 0; break;
			case REASON_NO_ALLOWED_MODEL: cfg.models = nothing; cfg.nmodels = 1;
				one[0].model = "gpt-5"; break;
			case REASON_OUTSIDE_HOURS: cfg.hours = far; cfg.nhours = 1; break;
			case REASON_BUDGET_EXHAUSTED:
				cfg.max_dispatch_per_hour = 1, cfg.max_dispatch_per_day = 1;
				view.budget = spent;
				break;
			case REASON_PROBE_FAILED: snap = &failed; break;
			default: break;            /* vip_busy and the rest: the busy snapshot */
			}
		}
		d = policy_decide(&cfg, snap, &view, NOW);
		one[0].model = NULL;
		if (d.status != POLICY_DEFERRED || d.reason != order[from])
			fail_msg("rules from %s on: got %s", policy_reason_name(order[from]),
			         d.reason ? policy_reason_name(d.reason) : policy_status_name(d.status));
		/* Only outside_hours and budget_exhausted know when they end. */
		if (order[from] == REASON_OUTSIDE_HOURS)
			assert_int_equal(d.retry_after_ms, NOW + 12 * HOUR_MS);
		else if (order[from] == REASON_BUDGET_EXHAUSTED)
			assert_int_equal(d.retry_after_ms, NOW - MIN_MS + HOUR_MS);
		else
			assert_int_equal(d.retry_after_ms, 0);
	}
	/* An empty queue is NO_TASKS whatever the hours and the budget say. */
	{
		struct policy_config cfg = DEFAULTS;
		struct policy_view view = { .pending = NULL, .npending = 0, .budget = spent,
		                            .local_seconds = AT(8, 0, 0) };
		struct policy_decision d;

		cfg.hours = far;
		cfg.nhours = 1;
		cfg.max_dispatch_per_hour = 1;
		d = policy_decide(&cfg, &calm, &view, NOW);
		assert_int_equal(d.status, POLICY_NO_TASKS);
		assert_int_equal(d.retry_after_ms, 0);
	}
}

/* --- pressure, custom limits and the resume margin (issue 4) ------------------------------- */

/* A calm snapshot with PSI readings (NAN: not available). */
#define PSNAP(pc, pm, pio)                                                                      \
	{ .cpu_percent = 20, .mem_available_percent = 60, .loadavg1 = 0.5, .loadavg5 = 0.5,      \
	  .loadavg15 = 0.5, .ncpu = 4, .disk_free_percent = 50, .pressure_cpu = (pc),            \
	  .pressure_memory = (pm), .pressure_io = (pio), .sessions_background = 0,              \
	  .sessions_interactive = 0, .cpu_method = "delta", .failed = "" }
/* Any snapshot fields, the rest calm. */
#define XSNAP(...)                                                                              \
	{ .cpu_percent = 20, .mem_available_percent = 60, .loadavg1 = 0.5, .loadavg5 = 0.5,      \
	  .loadavg15 = 0.5, .ncpu = 4, .disk_free_percent = 50, .pressure_cpu = NAN,             \
	  .pressure_memory = NAN, .pressure_io = NAN, .sessions_background = 0,                 \
	  .sessions_interactive = 0, .cpu_method = "delta", .failed = "", __VA_ARGS__ }
/* The defaults plus PSI limits 20/10/40 %, resume_margin m and any other fields. */
#define XCFG(m, ...)                                                                           \
	{ .max_concurrent = 1, .max_cpu_percent = 80, .min_mem_available_percent = 15,          \
	  .max_load_per_cpu = 2, .min_disk_free_percent = 5, .models = two_models, .nmodels = 2,  \
	  .max_cpu_pressure = 20, .max_memory_pressure = 10, .max_io_pressure = 40,             \
	  .resume_margin = (m), __VA_ARGS__ }

static const struct policy_limit gpu_max70[] = { { "gpu", 70, NAN, 0 } };
static const struct policy_limit two_limits[] = { { "gpu", 70, NAN, 0 }, { "vram", NAN, 10, 0 } };
static const struct policy_limit gate[] = { { "gate", NAN, NAN, 1 } };

struct row4 {
	const char *name;
	struct snapshot snap;
	struct policy_config cfg;
	enum policy_reason last;                /* the previous decision's reason */
	const char *last_limit;
	enum policy_status status;
	enum policy_reason reason;
	const char *detail;                     /* a substring of the detail, or NULL */
};

/* XSNAP and XCFG give defaults that a row's own fields override, on purpose. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
static const struct row4 rows4[] = {
	/* 12-14. PSI "some avg10", strictly above; NAN skips; 0 turns a rule off */
	{ "cpu pressure above the limit", PSNAP(30, 0, 0), XCFG(0), REASON_NONE, NULL,
	  POLICY_DEFERRED, REASON_CPU_PRESSURE, "cpu pressure 30.0% (some avg10), limit 20%" },
	{ "cpu pressure at the limit", PSNAP(20, 0, 0), XCFG(0), REASON_NONE, NULL,
	  POLICY_READY, REASON_NONE, NULL },
	{ "cpu pressure absent (NAN): rule skipped", PSNAP(NAN, 0, 0), XCFG(0), REASON_NONE, NULL,
	  POLICY_READY, REASON_NONE, NULL },
	{ "cpu pressure rule off (0)", PSNAP(90, 0, 0), XCFG(0, .max_cpu_pressure = 0),
	  REASON_NONE, NULL, POLICY_READY, REASON_NONE, NULL },
	{ "memory stall", PSNAP(0, 15, 0), XCFG(0), REASON_NONE, NULL,
	  POLICY_DEFERRED, REASON_MEMORY_STALL, "memory pressure 15.0%" },
	{ "memory pressure absent (NAN): rule skipped", PSNAP(0, NAN, 0), XCFG(0), REASON_NONE,
	  NULL, POLICY_READY, REASON_NONE, NULL },
	{ "io pressure", PSNAP(0, 0, 50), XCFG(0), REASON_NONE, NULL,
	  POLICY_DEFERRED, REASON_IO_PRESSURE, "io pressure 50.0%" },
	{ "io pressure rule off (0)", PSNAP(0, 0, 99), XCFG(0, .max_io_pressure = 0), REASON_NONE,
	  NULL, POLICY_READY, REASON_NONE, NULL },
	{ "every PSI reading absent", PSNAP(NAN, NAN, NAN), XCFG(0), REASON_NONE, NULL,
	  POLICY_READY, REASON_NONE, NULL },
	{ "cpu pressure before memory stall", PSNAP(30, 15, 50), XCFG(0), REASON_NONE, NULL,
	  POLICY_DEFERRED, REASON_CPU_PRESSURE, NULL },
	{ "memory stall before io pressure", PSNAP(0, 15, 50), XCFG(0), REASON_NONE, NULL,
	  POLICY_DEFERRED, REASON_MEMORY_STALL, NULL },
	{ "load_average before cpu_pressure", XSNAP(.loadavg1 = 9, .pressure_cpu = 30), XCFG(0),
	  REASON_NONE, NULL, POLICY_DEFERRED, REASON_LOAD_AVERAGE, NULL },
	{ "io pressure before disk_space", XSNAP(.pressure_io = 50, .disk_free_percent = 1), XCFG(0),
	  REASON_NONE, NULL, POLICY_DEFERRED, REASON_IO_PRESSURE, NULL },

	/* 16. custom limits */
	{ "custom limit above max", XSNAP(.limits = { { "gpu", 85 } }, .nlimits = 1),
	  XCFG(0, .limits = gpu_max70, .nlimits = 1), REASON_NONE, NULL,
	  POLICY_DEFERRED, REASON_CUSTOM_LIMIT, "limits.gpu = 85, max 70" },
	{ "custom limit at max", XSNAP(.limits = { { "gpu", 70 } }, .nlimits = 1),
	  XCFG(0, .limits = gpu_max70, .nlimits = 1), REASON_NONE, NULL,
	  POLICY_READY, REASON_NONE, NULL },
	{ "custom limit absent (NAN): skipped", XSNAP(.limits = { { "gpu", NAN } }, .nlimits = 1),
	  XCFG(0, .limits = gpu_max70, .nlimits = 1), REASON_NONE, NULL,
	  POLICY_READY, REASON_NONE, NULL },
	{ "custom limit not in the snapshot: skipped", XSNAP(.limits = { { "other", 99 } }, .nlimits = 1),
	  XCFG(0, .limits = gpu_max70, .nlimits = 1), REASON_NONE, NULL,
	  POLICY_READY, REASON_NONE, NULL },
	{ "second limit below its min",
	  XSNAP(.limits = { { "gpu", 10 }, { "vram", 4 } }, .nlimits = 2),
	  XCFG(0, .limits = two_limits, .nlimits = 2), REASON_NONE, NULL,
	  POLICY_DEFERRED, REASON_CUSTOM_LIMIT, "limits.vram = 4, min 10" },
	{ "exit-status limit holds", XSNAP(.limits = { { "gate", 1 } }, .nlimits = 1),
	  XCFG(0, .limits = gate, .nlimits = 1), REASON_NONE, NULL,
	  POLICY_DEFERRED, REASON_CUSTOM_LIMIT, "limits.gate: 1 (exit status: hold)" },
	{ "exit-status limit goes", XSNAP(.limits = { { "gate", 0 } }, .nlimits = 1),
	  XCFG(5, .limits = gate, .nlimits = 1), REASON_CUSTOM_LIMIT, "gate",
	  POLICY_READY, REASON_NONE, NULL },
	{ "disk_space before custom_limit",
	  XSNAP(.disk_free_percent = 1, .limits = { { "gpu", 85 } }, .nlimits = 1),
	  XCFG(0, .limits = gpu_max70, .nlimits = 1), REASON_NONE, NULL,
	  POLICY_DEFERRED, REASON_DISK_SPACE, NULL },
	{ "probe_failed before custom_limit",
	  XSNAP(.failed = "limits: limits.gpu: 'nvidia-smi' timed out after 2s"),
	  XCFG(0, .limits = gpu_max70, .nlimits = 1), REASON_NONE, NULL,
	  POLICY_DEFERRED, REASON_PROBE_FAILED, "limits.gpu" },

	/* No flapping: after a deferral by a rule, READY only once better by resume_margin. */
	{ "cpu within the margin after cpu_load: still deferred", XSNAP(.cpu_percent = 77),
	  XCFG(5), REASON_CPU_LOAD, NULL, POLICY_DEFERRED, REASON_CPU_LOAD, "resuming below 75%" },
	{ "cpu past the margin after cpu_load: READY", XSNAP(.cpu_percent = 74.9), XCFG(5),
	  REASON_CPU_LOAD, NULL, POLICY_READY, REASON_NONE, NULL },
	{ "cpu within the margin after another reason: READY", XSNAP(.cpu_percent = 77), XCFG(5),
	  REASON_CONCURRENCY_LIMIT, NULL, POLICY_READY, REASON_NONE, NULL },
	{ "cpu within the margin, margin 0: READY", XSNAP(.cpu_percent = 77), XCFG(0),
	  REASON_CPU_LOAD, NULL, POLICY_READY, REASON_NONE, NULL },
	{ "memory within the margin after memory_pressure", XSNAP(.mem_available_percent = 19),
	  XCFG(5), REASON_MEMORY_PRESSURE, NULL, POLICY_DEFERRED, REASON_MEMORY_PRESSURE,
	  "resuming above 20%" },
	{ "memory past the margin after memory_pressure", XSNAP(.mem_available_percent = 20.5),
	  XCFG(5), REASON_MEMORY_PRESSURE, NULL, POLICY_READY, REASON_NONE, NULL },
	{ "load within the margin (5 points = 0.05 per CPU)", XSNAP(.loadavg1 = 7.9), XCFG(5),
	  REASON_LOAD_AVERAGE, NULL, POLICY_DEFERRED, REASON_LOAD_AVERAGE, NULL },
	{ "load past the margin", XSNAP(.loadavg1 = 7.7), XCFG(5), REASON_LOAD_AVERAGE, NULL,
	  POLICY_READY, REASON_NONE, NULL },
	{ "cpu pressure within the margin", PSNAP(17, 0, 0), XCFG(5), REASON_CPU_PRESSURE, NULL,
	  POLICY_DEFERRED, REASON_CPU_PRESSURE, "resuming below 15%" },
	{ "cpu pressure past the margin", PSNAP(14, 0, 0), XCFG(5), REASON_CPU_PRESSURE, NULL,
	  POLICY_READY, REASON_NONE, NULL },
	{ "memory stall within the margin", PSNAP(0, 6, 0), XCFG(5), REASON_MEMORY_STALL, NULL,
	  POLICY_DEFERRED, REASON_MEMORY_STALL, NULL },
	{ "io pressure within the margin", PSNAP(0, 0, 36), XCFG(5), REASON_IO_PRESSURE, NULL,
	  POLICY_DEFERRED, REASON_IO_PRESSURE, NULL },
	{ "disk within the margin after disk_space", XSNAP(.disk_free_percent = 8), XCFG(5),
	  REASON_DISK_SPACE, NULL, POLICY_DEFERRED, REASON_DISK_SPACE, "resuming above 10%" },
	{ "custom limit within the margin after that limit",
	  XSNAP(.limits = { { "gpu", 67 } }, .nlimits = 1),
	  XCFG(5, .limits = gpu_max70, .nlimits = 1), REASON_CUSTOM_LIMIT, "gpu",
	  POLICY_DEFERRED, REASON_CUSTOM_LIMIT, "resume_margin" },
	{ "custom limit within the margin after another limit",
	  XSNAP(.limits = { { "gpu", 67 } }, .nlimits = 1),
	  XCFG(5, .limits = gpu_max70, .nlimits = 1), REASON_CUSTOM_LIMIT, "vram",
	  POLICY_READY, REASON_NONE, NULL },
	{ "custom min within the margin",
	  XSNAP(.limits = { { "gpu", 10 }, { "vram", 12 } }, .nlimits = 2),
	  XCFG(5, .limits = two_limits, .nlimits = 2), REASON_CUSTOM_LIMIT, "vram",
	  POLICY_DEFERRED, REASON_CUSTOM_LIMIT, "limits.vram = 12, min 10" },
	{ "the margin never defers a rule that is off", XSNAP(.cpu_percent = 3),
	  XCFG(5, .max_cpu_percent = 0), REASON_CPU_LOAD, NULL, POLICY_READY, REASON_NONE, NULL },
};
#pragma GCC diagnostic pop

static void check_row4(const struct row4 *r)
{
	static const struct policy_task one[] = ONE_TASK;
	struct policy_view view = { .pending = one, .npending = 1, .last_reason = r->last,
	                            .last_limit = r->last_limit };
	struct policy_decision d = policy_decide(&r->cfg, &r->snap, &view, NOW);
	const char *want = policy_reason_name(r->reason), *got = policy_reason_name(d.reason);

	if (d.status != r->status || d.reason != r->reason)
		fail_msg("row '%s': got %s/%s (%s), want %s/%s", r->name, policy_status_name(d.status),
		         got ? got : "-", d.detail, policy_status_name(r->status), want ? want : "-");
	if (r->status == POLICY_DEFERRED && d.detail[0] == '\0')
		fail_msg("row '%s': DEFERRED without a detail", r->name);
	if (r->detail && !strstr(d.detail, r->detail))
		fail_msg("row '%s': detail '%s' does not mention '%s'", r->name, d.detail, r->detail);
	/* A custom_limit names its limit, so check can remember which one deferred. */
	if ((d.reason == REASON_CUSTOM_LIMIT) != (d.limit != NULL))
		fail_msg("row '%s': limit %s with reason %s", r->name, d.limit ? d.limit : "NULL",
		         got ? got : "-");
}

static void test_table_issue4(void **state)
{
	static const enum policy_reason rules[] = {
		REASON_CPU_PRESSURE, REASON_MEMORY_STALL, REASON_IO_PRESSURE, REASON_CUSTOM_LIMIT,
	};

	(void)state;
	for (size_t i = 0; i < sizeof rows4 / sizeof rows4[0]; i++)
		check_row4(&rows4[i]);
	for (size_t k = 0; k < sizeof rules / sizeof rules[0]; k++) {
		int seen = 0;

		for (size_t i = 0; i < sizeof rows4 / sizeof rows4[0]; i++)
			seen |= rows4[i].reason == rules[k];
		if (!seen)
			fail_msg("no row for %s", policy_reason_name(rules[k]));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_reversed),
		cmocka_unit_test(test_table_covers_rules),
		cmocka_unit_test(test_pick_empty),
		cmocka_unit_test(test_pick_order_independent),
		cmocka_unit_test(test_task_before),
		cmocka_unit_test(test_model_allowed),
		cmocka_unit_test(test_reason_names),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_details),
		cmocka_unit_test(test_fleet_cap),
		cmocka_unit_test(test_hours),
		cmocka_unit_test(test_hours_every_minute),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_rule_order_hours_budget),
		cmocka_unit_test(test_table_issue4),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
