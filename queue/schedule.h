/*
 * schedule.h: recurring schedules and their file, schedules.json in the state dir.
 *
 * The file is one small JSON document, {"version":1,"schedules":[...]} (see docs/schedules.md),
 * always replaced whole: temp file, fsync, rename, the previous version kept as
 * schedules.json.bak.  Readers take no lock (the file only changes by rename).  A writer holds
 * the queue's data lock (a queue_begin transaction) from the moment it reads the file until it
 * has written it, so a schedule change and the task it enqueues form one critical section.
 *
 * Calling sequence:
 *
 *   struct schedules s;
 *   if ((rc = schedules_read(dirfd, config_parse_duration, &s, &cause)) < 0) ...
 *   struct schedule *x = schedules_find(&s, "nightly");          // borrowed from s
 *   ... change fields, schedules_add(), schedules_remove() ...
 *   rc = schedules_write(dirfd, &s, &cause);                      // under the data lock
 *   schedules_release(&s);
 *
 * Errors are enum queue_error codes (queue/queue.h) with a malloc'd *cause the caller frees:
 * QUEUE_ECORRUPT when the file is not a valid schedules document (nothing writes over it: every
 * writer reads it first and stops), QUEUE_EIO, QUEUE_ENOMEM.
 *
 * The "every" durations are parsed by a function the caller passes (the config's duration
 * syntax lives in governor/), so this module stores their text as given and their length in ms.
 */
#ifndef QUEUE_SCHEDULE_H
#define QUEUE_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "queue/cron.h"

#define SCHEDULE_FILE "schedules.json"
#define SCHEDULE_VERSION 1
#define SCHEDULE_NAME_MAX 64                  /* [A-Za-z0-9_-]{1,64} */
#define SCHEDULE_EVERY_MIN_MS 60000           /* --every is at least one minute */
#define SCHEDULE_EVERY_MAX_MS (INT64_C(3650) * 86400000)   /* and at most 3650 days */
#define SCHEDULE_FILE_MAX ((size_t)16 << 20)
#define SCHEDULE_COUNT_MAX 1000

enum schedule_rule { SCHEDULE_EVERY, SCHEDULE_CRON, SCHEDULE_MANUAL };

/* Parses a duration ("15m") into ms: 0, or -1 when invalid.  config_parse_duration fits. */
typedef int schedule_duration_fn(const char *text, int64_t *ms);

/* One schedule.  Owns its strings; schedule_release frees them.  Times are ms, 0 = null. */
struct schedule {
	char *name;
	char *prompt;
	int priority;
	char *model;                 /* requested model, or NULL */
	enum schedule_rule rule;
	char *spec;                  /* every: the duration text; cron: the expression; manual: NULL */
	int64_t every_ms;            /* every: the period */
	struct cron cron;            /* cron: the parsed expression */
	bool enabled;
	int64_t created_at;
	int64_t last_run;            /* when a task was last enqueued; 0 = never */
	int64_t next_run;            /* when it is due next; 0 = never (manual, or no cron match) */
	unsigned long run_count;     /* tasks enqueued so far */
	unsigned long last_task_id;  /* the last task enqueued; 0 = none */
};

/* All schedules, in the order they were added.  Owns the items. */
struct schedules {
	struct schedule *items;
	size_t n, cap;
};

const char *schedule_rule_name(enum schedule_rule r);

/* 0 when name is 1-64 characters of A-Z, a-z, 0-9, '_' and '-'; else -1. */
int schedule_name_check(const char *name);

/*
 * Set s's rule from text: SCHEDULE_EVERY, a duration (parse; SCHEDULE_EVERY_MIN_MS to _MAX_MS);
 * SCHEDULE_CRON, an expression (cron_parse; whether it ever matches is schedule_next's
 * business); SCHEDULE_MANUAL, text is ignored (may be NULL).  s->spec becomes a copy of text.
 * 0, or -1 with *cause (caller frees) saying what is wrong with text.
 */
int schedule_set_rule(struct schedule *s, enum schedule_rule rule, const char *text,
                      schedule_duration_fn *parse, char **cause);

/*
 * When s is due next after now, into *next (0 when never: manual, or a cron expression that
 * no longer matches).  every: the first time after now on the grid next_run + k * every_ms, or
 * now + every_ms when next_run is unset; cron: cron_next(now).  next may be &s->next_run.
 */
void schedule_next(const struct schedule *s, int64_t now, int64_t *next);

/* Enabled, not manual, and next_run is set and not after now. */
bool schedule_due(const struct schedule *s, int64_t now);

void schedule_release(struct schedule *s);

/*
 * Read SCHEDULE_FILE from the state dir into *out (caller releases it).  A missing file is an
 * empty set (one failed openat, nothing else).  QUEUE_OK, or an error with *cause.
 */
int schedules_read(int dirfd, schedule_duration_fn *parse, struct schedules *out, char **cause);

/*
 * The same from text (a whole document); cause strings name the file, the schedule and the key.
 * A document with a name twice, an unknown rule or a bad value is QUEUE_ECORRUPT.
 */
int schedules_parse(const char *text, size_t len, schedule_duration_fn *parse,
                    struct schedules *out, char **cause);

/*
 * Replace SCHEDULE_FILE with the document for s (STATEDIR_DURABLE | STATEDIR_BACKUP).  The
 * caller holds the data lock.  QUEUE_OK, or QUEUE_EIO / QUEUE_ENOMEM with *cause.
 */
int schedules_write(int dirfd, const struct schedules *s, char **cause);

/* The schedule named name, borrowed from s (valid until s changes), or NULL. */
struct schedule *schedules_find(struct schedules *s, const char *name);

/* Append item, taking over what it owns (*item is zeroed).  0, or -1 when out of memory. */
int schedules_add(struct schedules *s, struct schedule *item);

/* Remove and release the schedule at index i (< s->n); later items move up. */
void schedules_remove(struct schedules *s, size_t i);

void schedules_release(struct schedules *s);

/* The JSON form of one schedule, as stored; a new tree (caller deletes) or NULL. */
cJSON *schedule_to_json(const struct schedule *s);

#endif
