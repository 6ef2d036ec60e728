/*
 * lock.h: the decision lock, a lockfile with a TTL ("lock" in the state dir).
 *
 * One check cycle holds it.  It is an flock() on the file, so a holder that dies (even by
 * SIGKILL) releases it at once.  The file records who holds it: pid, the pid's start time, the
 * boot id, and the acquisition and expiry times (wall clock for people, CLOCK_BOOTTIME for the
 * decision).  A holder that is still alive past its expiry (stopped, hung) loses the lock: the
 * next caller replaces the file with a new one, under a second lock ("lock.break") so that two
 * breakers cannot both win.  The caller must make sure it never outlives its own TTL (governor
 * arms a watchdog), so a broken holder does no work after the break.
 *
 * The descriptor is O_CLOEXEC: a child spawned after a check inherits no lock.
 */
#ifndef QUEUE_LOCK_H
#define QUEUE_LOCK_H

#include <stdint.h>
#include <sys/types.h>

#define LOCK_FILE "lock"
#define LOCK_BREAK_FILE "lock.break"

enum lock_result { LOCK_ACQUIRED = 0, LOCK_ERROR = -1, LOCK_BUSY = -2 };

struct lock_holder {
	pid_t pid;
	int64_t acquired_at;          /* ms since the epoch */
	int64_t expires_at;           /* ms since the epoch; 0 when unknown */
};

struct lock;

/*
 * Take the lock for ttl_ms.  LOCK_ACQUIRED with *out set; LOCK_BUSY with *holder filled (as far
 * as the file tells) when a live holder's TTL has not run out; LOCK_ERROR with *cause.
 */
int lock_acquire(int dirfd, int64_t ttl_ms, struct lock **out, struct lock_holder *holder,
                 char **cause);

/* Release and free; NULL is fine. */
void lock_release(struct lock *l);

#endif
