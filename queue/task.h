/*
 * task.h: the task model and its JSON form (DESIGN 5.2).
 *
 * A struct task owns all its strings and cJSON trees; task_free() releases them.  Times are ms
 * since the epoch, 0 when unset; the file stores them as RFC 3339 strings.
 */
#ifndef QUEUE_TASK_H
#define QUEUE_TASK_H

#include <stdint.h>

#include <cJSON.h>

enum task_status {
	TASK_PENDING,
	TASK_CLAIMED,
	TASK_RUNNING,
	TASK_DONE,
	TASK_BLOCKED,
	TASK_CANCELLED,
	TASK_SKIPPED,
	TASK__STATUS_COUNT
};

#define TASK_PRIORITY_LOW 0
#define TASK_PRIORITY_NORMAL 1
#define TASK_PRIORITY_HIGH 2
#define TASK_PRIORITY_MIN (-1000)
#define TASK_PRIORITY_MAX 1000
#define TASK_PROMPT_MAX (64 * 1024)
#define TASK_ID_MAX 24                   /* "T-" + 20 digits + NUL */

struct task {
	unsigned long id;
	char *prompt;
	int priority;
	char *model;                         /* requested model, or NULL */
	enum task_status status;
	char *source;
	cJSON *metadata;                     /* object, never NULL once loaded or created */
	int retries, max_retries;
	int64_t added_at, updated_at;
	int64_t claimed_at, claim_expires_at;
	int64_t started_at, lease_expires_at;
	int64_t finished_at;
	int64_t eligible_at;                 /* earliest start (backoff, --at, --delay); 0 = at once */
	unsigned long after;                 /* runs only once this task is done; 0 = none */
	char *result;                        /* what `done --result` recorded */
	char *last_error, *blocked_reason;
	char *host;                          /* the host id of the governor that last claimed it */
	cJSON *attempts;                     /* array, one entry per run */
	cJSON *extra;                        /* keys this version does not know, kept as they were */
};

const char *task_status_name(enum task_status s);
/* -1 when name is not a status. */
int task_status_parse(const char *name);

/* "T-07" into buf. */
char *task_id_format(unsigned long id, char buf[TASK_ID_MAX]);
/* Accepts "T-7", "T-07", "t-07" and "7".  0, or -1 when s is not an id. */
int task_id_parse(const char *s, unsigned long *id);

/* Accepts an integer in [TASK_PRIORITY_MIN, TASK_PRIORITY_MAX] or low, normal, high. */
int task_priority_parse(const char *s, int *priority);

/*
 * Check a prompt: non-empty (not only white space), at most TASK_PROMPT_MAX bytes, valid UTF-8,
 * no NUL.  0, or -1 with a static reason in *why.
 */
int task_prompt_check(const char *prompt, size_t len, const char **why);

/* A new pending task; copies the strings.  NULL when out of memory. */
struct task *task_new(const char *prompt, int priority, const char *model, const char *source,
                      int max_retries, int64_t now);
void task_free(struct task *t);

/* JSON form.  task_to_json returns a new tree (caller deletes) or NULL when out of memory. */
cJSON *task_to_json(const struct task *t);
/* Validate and convert; on failure NULL with *cause (caller frees). */
struct task *task_from_json(const cJSON *obj, char **cause);

/* Retry timing: failure n waits a random time in [min_ms, min(max_ms, min_ms * 2^(n-1))]. */
struct task_backoff {
	int64_t min_ms, max_ms;
};

/* The delay before the next attempt after `failures` failed ones; r is a uniform random value. */
int64_t task_backoff_delay(const struct task_backoff *b, int failures, uint32_t r);

/* The verbs that move a task between states. */
enum task_verb { TASK_VERB_DONE, TASK_VERB_FAIL, TASK_VERB_RETRY, TASK_VERB_CANCEL, TASK_VERB_SKIP };

/* Whether verb is allowed in t's current state. */
int task_can(const struct task *t, enum task_verb verb);

/*
 * The transitions.  Each returns 0, or -1 and leaves t unchanged when its state does not allow
 * the verb (see task_can).  Strings are copied.
 *   done:   pending, claimed or running -> done (an open attempt ends "done").
 *   fail:   claimed or running -> one failed attempt: pending again after the backoff, or
 *           blocked once max_retries attempts have failed.  outcome names how ("failed",
 *           "lease_expired", "timeout"), error says why.
 *   retry:  pending, blocked, cancelled or skipped -> pending now, with retries reset to 0.
 *   cancel: pending, claimed, running or blocked -> cancelled.
 *   skip:   pending, claimed or blocked -> skipped.
 */
int task_done(struct task *t, int64_t now, const char *result);
int task_fail(struct task *t, int64_t now, const char *outcome, const char *error,
              const struct task_backoff *b);
int task_retry(struct task *t, int64_t now);
int task_cancel(struct task *t, int64_t now, const char *reason);
int task_skip(struct task *t, int64_t now);
/* Block a pending task because its dependency ended without being done. */
void task_block(struct task *t, int64_t now, const char *reason);

/*
 * Apply the passage of time: a claim past claim_expires_at returns to pending (no attempt is
 * counted); a run past lease_expires_at fails with outcome "lease_expired".  1 if t changed.
 */
int task_expire(struct task *t, int64_t now, const struct task_backoff *b);

/* Record the start and the end of an attempt in t->attempts. */
int task_attempt_begin(struct task *t, int64_t now);
int task_attempt_end(struct task *t, int64_t now, const char *outcome, const char *error);

#endif
