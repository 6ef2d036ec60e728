/*
 * alerts.h: the alert outbox, alerts/pending.json in the state dir: what raises an alert (a
 * task became blocked, the lane starved, a source kept failing), and its delivery to a
 * Slack-compatible webhook through the governor-http helper.  docs/alerts.md has the rules.
 *
 * Why governor/ and not queue/: the outbox is a state-dir file like the history log, but its
 * triggers read the config, the queue and the probes' snapshot, and delivery spawns the HTTP
 * helper (probes/fetch.h); only governor/ may use all of those.  The first two groups below
 * take no ctx and print nothing, so the unit test and the fuzzer link them on their own.
 *
 * The files, in the directory alerts/ (0700; refused when a symlink, another user's, or
 * writable by group or others):
 *   pending.json  the outbox: a JSON array of alerts, oldest first, one alert a line; replaced
 *                 whole (temp file, fsync, rename, fsync of the directory)
 *   pending.lock  flock, held for one read-modify-write of pending.json (readers take none)
 *   sending.lock  flock, held by the one process posting to the webhook
 *   unsent        exists while pending.json holds an unsent alert: check's one-stat test
 *   starvation    "v1 SINCE_MS ALERTED": the current starvation episode
 *   failures      "v1" then "NAME COUNT SINCE_MS" lines: consecutive failures per source
 *
 * An alert in pending.json:
 *   {"id":"task_blocked:T-07:1764079200000","kind":"task_blocked","at":"2026-11-25T14:00:00Z",
 *    "text":"governor: task T-07 blocked after 3 failed attempts: exit status 1","task":"T-07",
 *    "host":"box","sent":false}
 * id is the dedupe key (an alert whose id is in the outbox is not added again); "task" or
 * "source" (sessions.NAME, limits.NAME) when the alert is about one; once posted,
 * "sent":true and "sent_at"; after failed posts, "tries", "tried_at" and "error".  Keys this
 * version does not know are kept as they are.
 */
#ifndef GOVERNOR_ALERTS_H
#define GOVERNOR_ALERTS_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "queue/task.h"

struct ctx;
struct queue;
struct snapshot;

#define ALERTS_DIR "alerts"
#define ALERTS_FILE "pending.json"
#define ALERTS_MAX 1000                    /* the outbox keeps at most this many alerts */
#define ALERTS_FILE_MAX ((size_t)4 << 20)  /* a larger pending.json is refused as corrupt */
#define ALERTS_TEXT_MAX 1024               /* bytes of an alert's text, with its NUL */
#define ALERTS_POST_TIMEOUT_MS 2000        /* one webhook request */
#define ALERTS_POST_BUDGET_MS 2000         /* no new request starts after this much delivery */
#define ALERTS_POST_MAX 20                 /* requests per delivery */

enum alert_kind { ALERT_TASK_BLOCKED, ALERT_STARVED, ALERT_SOURCE_FAILING, ALERT__KIND_COUNT };

/* "task_blocked", "starved", "source_failing". */
const char *alert_kind_name(enum alert_kind kind);

/* A new alert, before it is in the outbox.  Plain values; "" for an absent task or source. */
struct alert {
	enum alert_kind kind;
	char id[160];
	char text[ALERTS_TEXT_MAX];
	char task[TASK_ID_MAX];
	char source[64];
	int64_t at;
};

/* --- building alerts (pure) ------------------------------------------------------------------ */

/*
 * t became blocked at t->finished_at: "governor: task T-07 blocked after 3 failed attempts:
 * LAST_ERROR" when its retries ran out, else "governor: task T-07 blocked: BLOCKED_REASON"
 * (a dependency that cannot be done).
 */
void alert_task_blocked(struct alert *a, const struct task *t, int64_t now);

/* pending eligible tasks, none started since `since`; reason and detail: the last deferral. */
void alert_starved(struct alert *a, int64_t since, int64_t now, size_t pending,
                   const char *reason, const char *detail);

/* source (sessions.NAME or limits.NAME) failed count runs in a row since `since`; error or NULL. */
void alert_source_failing(struct alert *a, const char *source, int count, int64_t since,
                          const char *error, int64_t now);

/* --- the outbox as data (pure) --------------------------------------------------------------- */

/*
 * Parse pending.json: a JSON array whose elements are objects with a non-empty string "id",
 * strings "kind", "text" and "at" (RFC 3339) and a boolean "sent"; empty text (or only white
 * space) is an empty outbox.  0 with *outbox (caller deletes), or -1 with *cause.
 */
int alerts_parse(const char *text, size_t len, cJSON **outbox, char **cause);

/* The outbox as pending.json holds it: "[\n{...},\n{...}\n]\n".  Caller frees; NULL: no memory. */
char *alerts_format(const cJSON *outbox);

/* Append a unsent, stamped with host (NULL: none).  1 added, 0 its id is there already, -1 ENOMEM. */
int alerts_add(cJSON *outbox, const struct alert *a, const char *host);

/* Drop alerts beyond max: the oldest sent ones first, then the oldest.  Returns how many went. */
size_t alerts_trim(cJSON *outbox, size_t max);

size_t alerts_unsent(const cJSON *outbox);

/*
 * Record a delivery of the alert id: error NULL marks it sent at now ("sent", "sent_at"); else
 * one more failed try ("tries", "tried_at", "error").  0, or -1 when id is not there.
 */
int alerts_mark(cJSON *outbox, const char *id, int64_t now, const char *error);

/* The webhook request body {"text":TEXT}.  Caller frees; NULL when out of memory. */
char *alerts_payload(const char *text);

/*
 * What is wrong with a webhook URL as a static message, or NULL when it is fine: http:// or
 * https://, no credentials (user:password@), no white space or control characters; "" (no
 * webhook) is fine.
 */
const char *alerts_url_problem(const char *url);

/* The URL as `governor config` and messages show it: scheme and host, the rest "/...".  Caller frees. */
char *alerts_url_redact(const char *url);

/* --- the outbox on disk ---------------------------------------------------------------------- */

/*
 * alerts/ in the state dir, created (0700) when create is set: its fd, or -1 with *cause
 * (errno ENOENT: there is none and create is 0).  Refused when a symlink, another user's, or
 * writable by group or others.
 */
int alerts_open_dir(int statefd, int create, char **cause);

/*
 * Add alerts, stamped with host (store.host: the host name unless configured), under
 * pending.lock (waiting at most 5 s for it) and write the outbox back, trimmed
 * to ALERTS_MAX, creating alerts/ when missing.  A pending.json that does not parse is moved
 * aside to pending.json.bad (replacing an older one) and a new outbox started: then *note says
 * so, also on success.  Returns how many were added (duplicates are not), or -1 with *cause.
 */
int alerts_raise(int statefd, const char *host, const struct alert *a, size_t n, char **note,
                 char **cause);

/*
 * The outbox, read without a lock (a missing one is empty).  0 with *outbox, or with *cause -1
 * (cannot read it) or -2 (it is corrupt; it is left as it is).
 */
int alerts_read(int statefd, cJSON **outbox, char **cause);

/*
 * Empty the outbox under its lock; *removed (caller deletes) is what it held.  With dry_run
 * only read it.  Returns as alerts_read.
 */
int alerts_clear(int statefd, int dry_run, cJSON **removed, char **cause);

/*
 * Post the unsent alerts, oldest first, to url (one request each, ALERTS_POST_TIMEOUT_MS,
 * through helper: NULL finds governor-http); stop at the first failure, after
 * ALERTS_POST_MAX requests or once ALERTS_POST_BUDGET_MS have passed.  A cheap no-op (one
 * fstatat) when the outbox holds nothing unsent, and when another process is posting.  The
 * outcome is recorded under pending.lock.  Returns how many were sent; *failure (caller frees)
 * says why the first one that was not sent failed, or why the outbox could not be read.
 */
int alerts_deliver(int statefd, const char *url, const char *helper, char **failure);

/* --- the command layer's side ---------------------------------------------------------------- */

/* Remember which tasks are blocked as a write transaction begins (ctx_queue calls it). */
void alerts_watch(struct ctx *ctx, const struct queue *q);

/*
 * The tasks the current write transaction of q blocked (blocked now, not in the watch), as
 * alerts: *out (caller frees) with *n entries.  Called after staging, before the commit.
 */
void alerts_blocked(struct ctx *ctx, struct queue *q, struct alert **out, size_t *n);

/* Raise alerts into the outbox; a failure is a warning.  Does nothing under --dry-run. */
void alerts_notify(struct ctx *ctx, const struct alert *a, size_t n);

/*
 * After a decision (not a lock_held answer): with [alerts] starvation_alert set, DEFERRED starts
 * or continues a starvation episode and raises its alert once it is that old; READY and
 * NO_TASKS end it.  pending: eligible pending tasks.  One unlinkat (ENOENT) when there is no
 * episode.
 */
void alerts_note_decision(struct ctx *ctx, int status, int reason, const char *detail,
                          size_t pending, int64_t now);

/*
 * After live probes: count consecutive failures of every command and HTTP source and limit
 * (a NAN value in snap), raise source_failing when a count reaches [alerts] source_failures,
 * reset a count on success.
 */
void alerts_note_sources(struct ctx *ctx, const struct snapshot *snap, int64_t now);

/*
 * Deliver the outbox to [alerts] webhook when one is set (see alerts_deliver); a failure is a
 * warning on stderr.  check and run call it after printing their line; main calls it after any
 * command that raised alerts.  Does nothing under --dry-run.
 */
void alerts_flush(struct ctx *ctx);

#endif
