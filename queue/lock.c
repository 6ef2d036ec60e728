/*
 * lock.c: the decision lock with a TTL.
 *
 * Why it is built this way:
 *  1. Liveness comes from flock(), not from the pid: the kernel drops the lock when the holder's
 *     descriptor goes away, so a crash or SIGKILL never blocks the next run, and a reused pid
 *     inherits nothing.
 *  2. The TTL is judged on CLOCK_BOOTTIME, which all processes of one boot share and which a
 *     wall-clock jump cannot move; the wall-clock times in the file are for people.
 *  3. A live holder past its TTL is stopped or hung.  We replace the file (write a new one, flock
 *     it, rename it over), never unlink-then-create, so there is no moment without a lock file;
 *     "lock.break" serialises breakers, so two of them cannot both win.
 *  4. After taking the flock we check that the path still names our inode: the file may have
 *     been replaced between our open() and flock().
 */
#include "queue/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue/statedir.h"
#include "queue/timefmt.h"

#define RECORD_MAX 256

struct lock {
	int fd;
};

struct record {
	long pid;
	char boot_id[BOOT_ID_MAX];
	int64_t acquired_ms, expires_ms;    /* wall clock */
	int64_t expires_boot_ns;            /* CLOCK_BOOTTIME */
};

static int64_t boottime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int format_record(const struct record *r, char *buf, size_t size)
{
	char acq[TIME_RFC3339_MAX], exp[TIME_RFC3339_MAX];
	int n = snprintf(buf, size,
	                 "pid=%ld boot_id=%s expires_boot_ns=%" PRId64 " acquired_ms=%" PRId64
	                 " expires_ms=%" PRId64 " acquired=%s expires=%s\n",
	                 r->pid, r->boot_id[0] ? r->boot_id : "-", r->expires_boot_ns, r->acquired_ms,
	                 r->expires_ms, time_format(r->acquired_ms, acq), time_format(r->expires_ms, exp));
	return n > 0 && (size_t)n < size ? n : -1;
}

static int parse_record(const char *buf, struct record *r)
{
	return sscanf(buf,
	              "pid=%ld boot_id=%39s expires_boot_ns=%" SCNd64 " acquired_ms=%" SCNd64
	              " expires_ms=%" SCNd64,
	              &r->pid, r->boot_id, &r->expires_boot_ns, &r->acquired_ms, &r->expires_ms) == 5
	               ? 0 : -1;
}

static int write_record(int fd, int64_t ttl_ms)
{
	struct record r = { .pid = (long)getpid() };
	char buf[RECORD_MAX];
	time_boot_id(r.boot_id);
	r.acquired_ms = time_now_ms();
	r.expires_ms = r.acquired_ms + ttl_ms;
	r.expires_boot_ns = boottime_ns() + ttl_ms * 1000000;
	int n = format_record(&r, buf, sizeof buf);
	if (n < 0 || pwrite(fd, buf, (size_t)n, 0) != n || ftruncate(fd, n) < 0)
		return -1;
	return 0;
}

/* Whether the holder recorded in fd is past its TTL; fills *holder with what the file says. */
static int holder_expired(int fd, int64_t ttl_ms, struct lock_holder *holder)
{
	char buf[RECORD_MAX], boot[BOOT_ID_MAX];
	struct record r = { 0 };
	struct stat st;
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);

	*holder = (struct lock_holder){ 0 };
	buf[n > 0 ? n : 0] = '\0';
	if (n <= 0 || parse_record(buf, &r) < 0) {
		/* A holder between flock() and its first write, or a torn write: judge by age. */
		if (fstat(fd, &st) < 0)
			return 0;
		int64_t mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
		return time_now_ms() - mtime_ms > ttl_ms;
	}
	holder->pid = (pid_t)r.pid;
	holder->acquired_at = r.acquired_ms;
	holder->expires_at = r.expires_ms;
	time_boot_id(boot);
	if (strcmp(boot, r.boot_id) != 0)
		return 1;         /* recorded in another boot: its clock means nothing now */
	return boottime_ns() >= r.expires_boot_ns;
}

static int same_file(int dirfd, const char *name, int fd)
{
	struct stat a, b;
	return fstatat(dirfd, name, &a, AT_SYMLINK_NOFOLLOW) == 0 && fstat(fd, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int fail(char **cause, const char *what)
{
	char buf[256];
	snprintf(buf, sizeof buf, "cannot %s decision lock '%s': %s", what, LOCK_FILE, strerror(errno));
	*cause = strdup(buf);
	return LOCK_ERROR;
}

/* An open of `name` that statedir_openat refused or could not do: say why and how to fix it. */
static int fail_open(int dirfd, const char *name, char **cause)
{
	char buf[400], why[200];
	snprintf(buf, sizeof buf, "cannot open decision lock '%s': %s", name,
	         statedir_why(dirfd, name, errno, why, sizeof why));
	*cause = strdup(buf);
	return LOCK_ERROR;
}

static int acquired(int fd, struct lock **out, char **cause)
{
	struct lock *l = malloc(sizeof *l);
	if (!l) {
		close(fd);
		*cause = strdup("out of memory");
		return LOCK_ERROR;
	}
	l->fd = fd;
	*out = l;
	return LOCK_ACQUIRED;
}

/* Replace the expired lock file `stale` (still open) with a new one that we hold. */
static int break_lock(int dirfd, int stale, int64_t ttl_ms, struct lock **out, char **cause)
{
	char tmp[64];
	int bfd, fd, rc = LOCK_BUSY;

	bfd = statedir_openat(dirfd, LOCK_BREAK_FILE, O_RDWR | O_CREAT);
	if (bfd < 0)
		return fail_open(dirfd, LOCK_BREAK_FILE, cause);
	if (flock(bfd, LOCK_EX | LOCK_NB) < 0)
		goto out;                       /* someone else is breaking it right now */
	if (!same_file(dirfd, LOCK_FILE, stale))
		goto out;                       /* already broken by someone else */
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", LOCK_FILE, (long)getpid());
	unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = fail(cause, "create a new");
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 || write_record(fd, ttl_ms) < 0 ||
	    renameat(dirfd, tmp, dirfd, LOCK_FILE) < 0) {
		rc = fail(cause, "replace the expired");
		unlinkat(dirfd, tmp, 0);
		close(fd);
		goto out;
	}
	rc = acquired(fd, out, cause);
out:
	close(bfd);
	return rc;
}

int lock_acquire(int dirfd, int64_t ttl_ms, struct lock **out, struct lock_holder *holder,
                 char **cause)
{
	struct lock_holder scratch;
	if (!holder)
		holder = &scratch;
	*holder = (struct lock_holder){ 0 };
	for (int attempt = 0; attempt < 8; attempt++) {
		int fd = statedir_openat(dirfd, LOCK_FILE, O_RDWR | O_CREAT);
		if (fd < 0)
			return fail_open(dirfd, LOCK_FILE, cause);
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			if (!same_file(dirfd, LOCK_FILE, fd)) {
				close(fd);          /* replaced between open and flock: try the new one */
				continue;
			}
			if (write_record(fd, ttl_ms) < 0) {
				int rc = fail(cause, "write");
				close(fd);
				return rc;
			}
			return acquired(fd, out, cause);
		}
		if (errno != EWOULDBLOCK) {
			int rc = fail(cause, "lock");
			close(fd);
			return rc;
		}
		if (!holder_expired(fd, ttl_ms, holder)) {
			close(fd);
			return LOCK_BUSY;
		}
		int rc = break_lock(dirfd, fd, ttl_ms, out, cause);
		close(fd);
		if (rc != LOCK_BUSY)
			return rc;
		/* Lost the race to another breaker: look again at what the path names now. */
	}
	return LOCK_BUSY;
}

void lock_release(struct lock *l)
{
	if (!l)
		return;
	close(l->fd);
	free(l);
}
