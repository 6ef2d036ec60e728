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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
