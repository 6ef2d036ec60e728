/*
 * queue.h: the persistent queue and its transactions.
 *
 * On disk (see docs/store.md):
 *   queue.jsonl   the journal, the only authority: a header line {"version":2,"last_id":N,
 *                 "archived_count":M}, then one task object per line.  A task's latest line
 *                 wins.  Commits append lines and fdatasync; nothing is rewritten in place.
 *   queue.idx     a derived index (one fixed-size entry per task, and how many journal bytes it
 *                 covers).  A cache: when it is missing, stale, from another boot or damaged,
 *                 readers rebuild it from the journal and writers replace it.
 *   queue.jsonl.bak  the journal as it was before the last compaction.
 *   queue.lock    the data lock (flock), held by writers only.
 *
 * Calling sequence:
 *
 *   Read only (no lock; the journal only grows and compaction replaces it by rename, so a
 *   reader sees whole, committed lines):
 *       struct queue *q;
 *       if ((rc = queue_load(dirfd, &q, &cause)) < 0) ...   // QUEUE_ECORRUPT or QUEUE_EIO
 *       for (i = 0; i < queue_count(q); i++) ... queue_entry(q, i) ...
 *       queue_get(q, id, &task, &cause);                     // one whole task, caller frees
 *       queue_free(q);
 *
 *   Read-modify-write (under the data lock, queue.lock):
 *       queue_begin(dirfd, 0, &q, &cause);                   // lock, then load
 *       queue_add(q, t, &cause) / queue_put(q, t, &cause);   // stage changes
 *       queue_commit(q, &cause);                             // append, fdatasync, reindex
 *       queue_free(q);                                       // releases the lock
 *
 * A complete line that does not parse is QUEUE_ECORRUPT and nothing is ever written over it:
 * queue_begin fails, so no commit can follow.  An incomplete last line (a writer died mid-write,
 * before its commit returned) is not part of the queue; the next writer cuts it off.
 */
#ifndef QUEUE_QUEUE_H
#define QUEUE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "queue/task.h"

#define QUEUE_JOURNAL "queue.jsonl"
#define QUEUE_INDEX "queue.idx"
#define QUEUE_LOCK_FILE "queue.lock"
#define QUEUE_ARCHIVE_DIR "archive"
#define QUEUE_VERSION 2
#define QUEUE_LOCK_WAIT_MS 10000             /* give up on the data lock after this long */

enum queue_error {
	QUEUE_OK = 0,
	QUEUE_EIO = -1,          /* cannot read, write or lock: a runtime failure */
	QUEUE_ECORRUPT = -2,     /* the journal is not a valid queue */
	QUEUE_EBUSY = -3,        /* the data lock was not released within QUEUE_LOCK_WAIT_MS */
	QUEUE_ENOMEM = -4,
	QUEUE_ENOENT = -5,       /* no such task */
};

/*
 * What the index keeps of each task: enough to order, count and expire without reading the
 * journal.  Plain values; this is also the on-disk record of queue.idx (native byte order).
 */
struct queue_entry {
	uint64_t id;
	int64_t added_at;
	int64_t deadline;        /* claimed: claim_expires_at; running: lease_expires_at;
	                            done, blocked, cancelled, skipped: finished_at; pending: 0 */
	int64_t eligible_at;     /* earliest start; 0 = at once */
	uint64_t after;          /* the task this one waits for; 0 = none */
	uint64_t offset;         /* of the task's latest line in the journal */
	uint32_t length;         /* of that line, without its newline */
	int32_t priority;
	int32_t retries, max_retries;
	uint8_t status;          /* enum task_status */
	uint8_t has_model;
	uint8_t view_changed;    /* in memory only: a read-only queue_expire changed this entry */
	uint8_t foreign;         /* in memory only: claimed or running on another host (fleet) */
	uint32_t sum;            /* checksum of the line: a line changed in place is noticed */
};

struct queue;

/* How a transaction treats failures and old tasks; queue_default_options() gives DESIGN's. */
struct queue_options {
	struct task_backoff backoff;   /* for runs whose lease lapsed */
	int64_t archive_after_ms;      /* finished tasks older than this leave at commit; 0 = never */
};
void queue_default_options(struct queue_options *o);
void queue_set_options(struct queue *q, const struct queue_options *o);

/* Flags for queue_begin. */
#define QUEUE_APPEND_ONLY 1u   /* only queue_add will be used: do not load the entries */
#define QUEUE_CLAIM 2u         /* a claim (queue_claim): on postgres, claims of other hosts run
                                  side by side and queue_expire only changes the view */
#define QUEUE_FLEET 4u         /* with QUEUE_CLAIM: one claim at a time across the fleet, so a
                                  fleet-wide count cannot change under the claim */

/*
 * Whether JSON text has a NUL character inside a string (an escaped \u0000, or a raw NUL byte):
 * cJSON would end the string there, so such text must be refused, not read cut short.
 */
int queue_json_has_nul(const char *text, size_t len);

int queue_load(int dirfd, struct queue **out, char **cause);
int queue_begin(int dirfd, unsigned flags, struct queue **out, char **cause);
int queue_commit(struct queue *q, char **cause);
void queue_free(struct queue *q);

/* Entries in id order (not available in QUEUE_APPEND_ONLY transactions). */
size_t queue_count(const struct queue *q);
const struct queue_entry *queue_entry(const struct queue *q, size_t i);
const struct queue_entry *queue_find(const struct queue *q, uint64_t id);
unsigned long queue_last_id(const struct queue *q);
unsigned long queue_archived_count(const struct queue *q);

/*
 * The whole task behind an entry, as of now (after queue_expire, the same expiry applied).
 * 0 with *out (caller frees with task_free), or QUEUE_ENOENT / QUEUE_ECORRUPT / QUEUE_EIO.
 */
int queue_get(struct queue *q, uint64_t id, struct task **out, char **cause);

/*
 * The task behind an entry as one line of JSON text (malloc'd, NUL-terminated, without a
 * newline; caller frees): the stored line itself when nothing has changed it since, so listing
 * many tasks costs a read, not a parse and a print.  Same errors as queue_get.
 */
int queue_get_json(struct queue *q, uint64_t id, char **out, size_t *len, char **cause);

/* Stage t (borrowed; serialised at once) as the task's new version.  Write transactions only. */
int queue_put(struct queue *q, const struct task *t, char **cause);

/* Give t the next id (ids are never reused) and stage it.  t stays the caller's. */
int queue_add(struct queue *q, struct task *t, char **cause);

/*
 * Apply the passage of time to the entries (task_expire: lapsed claims return to pending,
 * lapsed leases are failed attempts), and block a pending task whose dependency ended blocked,
 * cancelled or skipped ("depends on T-NN").  In a write transaction the changed tasks are
 * staged, so the next commit records them; in a read-only view only the entries change (a
 * lapsed lease's retry then counts as not eligible for backoff.min_ms).  Returns how many
 * changed; -1 with *cause when a changed task cannot be read.
 */
long queue_expire(struct queue *q, int64_t now, char **cause);

/*
 * Whether a pending entry may start at now: its time has come and its dependency, if any, is
 * done (or archived: only finished tasks are).  *waits_until gets eligible_at when only time
 * holds it back, else 0.
 */
int queue_eligible(const struct queue *q, const struct queue_entry *e, int64_t now,
                   int64_t *waits_until);

/*
 * Move finished tasks (done, blocked, cancelled, skipped) that finished before `before` to
 * archive/YYYY-MM.jsonl (by the month they finished, UTC), then compact the journal without
 * them; archived_count grows.  Write transactions only; it commits.  Returns how many moved.
 */
long queue_archive(struct queue *q, int64_t before, char **cause);

/*
 * Use the PostgreSQL store for every queue this process opens from now on (fleet mode): load
 * libpq, connect, check the schema, adopt the database's clock (pgstore.h).  host names this
 * governor in the claims it makes.  QUEUE_OK, or QUEUE_EIO / QUEUE_ECORRUPT with *cause.
 */
int queue_use_postgres(const char *dsn, const char *host, char **cause);

/*
 * In a child after fork: drop the parent's connection to the postgres store without a word to
 * the server (the parent still uses it); the next queue opened connects anew.
 */
void queue_forget_store(void);

/* Whether q is shared with other hosts (the postgres store). */
int queue_shared(const struct queue *q);

/*
 * Claim the first task of ids (candidates in the policy's order) that is still claimable, for
 * host, until now + ttl_ms; it is staged, and the caller commits.  The journal takes ids[0]
 * under its data lock.  Postgres locks rows with SELECT ... FOR UPDATE SKIP LOCKED, so two
 * hosts never claim one task; a candidate another host holds or took is passed over.  *out is
 * the claimed task (caller frees) or NULL when no candidate could be claimed.
 */
int queue_claim(struct queue *q, const uint64_t *ids, size_t n, int64_t now, int64_t ttl_ms,
                const char *host, struct task **out, char **cause);

/*
 * Copy a task into a postgres store under its own id (store migrate): 1 when it was added, 0
 * when the store has that id already (it is left alone: copying again is safe), or an error.
 * archived puts it straight into the archive.  last_id grows to cover it; the caller commits.
 */
int queue_import(struct queue *q, const struct task *t, int archived, char **cause);

/* Make the next id handed out at least last_id + 1 (a write transaction; the caller commits). */
void queue_reserve_ids(struct queue *q, unsigned long last_id);

#endif
