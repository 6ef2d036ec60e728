/*
 * queue.h: the persistent queue (queue.json in the state dir) and its transactions.
 *
 * Calling sequence:
 *
 *   Read only (no lock: commits are atomic renames, so a reader sees one whole version):
 *       struct queue *q;
 *       if (queue_load(dirfd, &q, &cause) < 0) ...   // QUEUE_ECORRUPT or QUEUE_EIO
 *       ... queue_len(q), queue_at(q, i), queue_find(q, id) ...
 *       queue_free(q);
 *
 *   Read-modify-write (under the data lock, queue.lock):
 *       if (queue_begin(dirfd, &q, &cause) < 0) ...  // takes the lock, then loads
 *       ... queue_append(q, t), change tasks ...
 *       if (queue_commit(q, &cause) < 0) ...         // temp file, fsync, .bak, rename, fsync dir
 *       queue_free(q);                                // releases the lock
 *
 * A missing queue.json is an empty queue.  A file that cannot be parsed or validated is
 * QUEUE_ECORRUPT and is never written over: queue_commit refuses to run on a queue that was
 * not loaded cleanly.  Ids come from last_id and are never reused.
 */
#ifndef QUEUE_QUEUE_H
#define QUEUE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "queue/task.h"

#define QUEUE_FILE "queue.json"
#define QUEUE_LOCK_FILE "queue.lock"
#define QUEUE_VERSION 1
#define QUEUE_FILE_MAX ((size_t)1 << 30)     /* refuse to load a queue.json larger than 1 GiB */
#define QUEUE_LOCK_WAIT_MS 10000             /* give up on the data lock after this long */

enum queue_error {
	QUEUE_OK = 0,
	QUEUE_EIO = -1,          /* cannot read, write or lock: a runtime failure */
	QUEUE_ECORRUPT = -2,     /* the file is not a valid queue document */
	QUEUE_EBUSY = -3,        /* the data lock was not released within QUEUE_LOCK_WAIT_MS */
	QUEUE_ENOMEM = -4,
};

struct queue;

int queue_load(int dirfd, struct queue **out, char **cause);
int queue_begin(int dirfd, struct queue **out, char **cause);
int queue_commit(struct queue *q, char **cause);
void queue_free(struct queue *q);

size_t queue_len(const struct queue *q);
struct task *queue_at(const struct queue *q, size_t i);
struct task *queue_find(const struct queue *q, unsigned long id);
unsigned long queue_last_id(const struct queue *q);
unsigned long queue_archived_count(const struct queue *q);

/* Give t the next id and take ownership of it.  0, or QUEUE_ENOMEM (t is then freed). */
int queue_append(struct queue *q, struct task *t);

/*
 * Apply the passage of time: a claim past claim_expires_at returns to pending (no attempt is
 * counted); a run past lease_expires_at is a failed attempt ("lease_expired") and goes back to
 * pending, or to blocked once max_retries attempts have failed.  Returns how many tasks changed.
 */
size_t queue_expire(struct queue *q, int64_t now);

/* The whole document as JSON text (caller frees); NULL when out of memory. */
char *queue_to_json(const struct queue *q, int pretty);

#endif
