/*
 * pgstore.h: the queue's tables in PostgreSQL (fleet mode; docs/fleet.md).
 *
 * The file store's journal becomes one row per task: the task's JSON line in `doc`, beside the
 * columns of its queue_entry (what ordering, counting and expiry need), the host that last
 * claimed it and whether it is archived.  store.c keeps the same in-memory entries for both
 * stores; this module only moves rows.
 *
 * Transactions (one per queue_load / queue_begin, ended by pgs_end):
 *   PGS_READ   REPEATABLE READ, READ ONLY: a snapshot, no lock.
 *   PGS_WRITE  the store's exclusive advisory lock: the file store's queue.lock, fleet-wide.
 *   PGS_CLAIM  the same lock shared, so claims run side by side on many hosts and exclude the
 *              writers; a claim row is taken with FOR UPDATE SKIP LOCKED (pgs_claim).  With
 *              `fleet` set a second, exclusive lock serialises claims, so that the fleet-wide
 *              count a claim is gated on cannot change under it.
 *
 * Every task time is written in the database's clock: pgs_open measures the offset of the
 * local clock from the server's and time_now_ms() applies it (docs/fleet.md, "Clocks").
 */
#ifndef QUEUE_PGSTORE_H
#define QUEUE_PGSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "queue/queue.h"

#define PGS_SCHEMA_VERSION 2      /* the newest schema this binary creates and understands */

enum pgs_mode { PGS_READ, PGS_WRITE, PGS_CLAIM };

struct pgs;

/*
 * Load libpq, connect with dsn and check the schema: missing or older than PGS_SCHEMA_VERSION
 * asks for `governor store init`, newer is refused.  host is this governor's host id (copied).
 * QUEUE_OK, or QUEUE_EIO / QUEUE_ECORRUPT with *cause.
 */
int pgs_open(const char *dsn, const char *host, struct pgs **out, char **cause);
/*
 * The connection lives until the process exits (the server then ends its session; with no
 * transaction open it logs nothing).  In a child after fork: forget p without a word to the
 * server, whose session is still the parent's.
 */
void pgs_forget(struct pgs *p);

/*
 * Create or migrate the schema to PGS_SCHEMA_VERSION in one transaction (with dry_run, rolled
 * back: only checked).  *from gets the version found (0: none).  A newer schema is refused.
 * Needs no pgs_open.
 */
int pgs_init(const char *dsn, int dry_run, int *from, char **cause);

/* Begin a transaction; pgs_end commits (commit != 0) or rolls back.  QUEUE_OK or error. */
int pgs_begin(struct pgs *p, enum pgs_mode mode, int fleet, char **cause);
int pgs_end(struct pgs *p, int commit, char **cause);

/*
 * The live (not archived) tasks as entries in id order (malloc'd; offset, length and sum are
 * 0), with `foreign` set on claimed and running tasks another host holds; the store's last id
 * and archived count.
 */
int pgs_load(struct pgs *p, struct queue_entry **entries, size_t *n, unsigned long *last_id,
             unsigned long *archived_count, char **cause);

/* A task's line (malloc'd, NUL-terminated).  QUEUE_ENOENT when there is no such row. */
int pgs_doc(struct pgs *p, uint64_t id, char **doc, size_t *len, char **cause);

/* What pgs_put does with a row whose id is there already. */
enum pgs_put_mode {
	PGS_REPLACE,          /* replace it: a transaction's change */
	PGS_KEEP,             /* keep it: a copy (store migrate) never overwrites */
	PGS_KEEP_ARCHIVED,    /* keep it; a new row goes straight into the archive */
};

/*
 * Write a task's row: its entry, the host it names (or NULL) and its line (NUL-terminated).
 * 1 when a row was written, 0 when PGS_KEEP* found the id there, or QUEUE_EIO with *cause.
 */
int pgs_put(struct pgs *p, const struct queue_entry *e, const char *host, const char *doc,
            enum pgs_put_mode mode, char **cause);

/* Record the last id handed out and how many tasks are archived. */
int pgs_set_counts(struct pgs *p, unsigned long last_id, unsigned long archived_count,
                   char **cause);

/* Mark these tasks archived (they stay in the table, out of every load). */
int pgs_archive(struct pgs *p, const uint64_t *ids, size_t n, char **cause);

/*
 * In a PGS_CLAIM transaction: lock the first of ids (in that order) that nobody else has
 * locked and that is still claimable by the database's clock (pending and eligible, or a claim
 * that lapsed): SELECT ... FOR UPDATE SKIP LOCKED.  *id = 0 when none is; else *doc is its
 * line (malloc'd).
 */
int pgs_claim(struct pgs *p, const uint64_t *ids, size_t n, uint64_t *id, char **doc,
              size_t *len, char **cause);

/*
 * Lock a task's row if it is still as it was read (status and deadline) and nobody else holds
 * it: 1 locked, 0 not (or an error, which is the same to the caller: it does not write).
 */
int pgs_lock(struct pgs *p, uint64_t id, int status, int64_t deadline);

#endif
