/*
 * statedir.h: the state directory that holds the queue, the locks and the caches.
 *
 * The directory is created 0700 (with missing parents) and refused when another user owns it or
 * group or others may write to it.  Everything inside is opened relative to its descriptor with
 * O_NOFOLLOW and O_CLOEXEC, so a planted symlink is refused and no child inherits a descriptor.
 */
#ifndef QUEUE_STATEDIR_H
#define QUEUE_STATEDIR_H

#include <stddef.h>
#include <stdint.h>

/* Open (creating when create is non-zero) the state dir; returns its fd or -1 with *cause. */
int statedir_open(const char *path, int create, char **cause);

/*
 * Open a file inside the state dir: O_NOFOLLOW | O_CLOEXEC added to flags, mode 0600.  An
 * existing file owned by another user or writable by group or others is refused (errno EPERM).
 */
int statedir_openat(int dirfd, const char *name, int flags);

/*
 * Why statedir_openat(dirfd, name, ...) failed with err, for a message: for a refusal, who owns
 * the file or what its mode is and the command that fixes it ("owned by uid 65534, not by you
 * (uid 1000); fix with: chown 1000 queue.jsonl"), "a symbolic link, which governor does not
 * follow; remove it", "not a regular file"; else strerror(err).  Returns buf.
 */
char *statedir_why(int dirfd, const char *name, int err, char *buf, size_t size);

#define STATEDIR_DURABLE 1u  /* fsync the file and the directory */
#define STATEDIR_BACKUP 2u   /* keep the previous version as "<name>.bak" (a hard link: no copy) */

/*
 * Replace name atomically with len bytes of data: write a temporary file beside it, rename it
 * over name; with STATEDIR_DURABLE, fsync before the rename and the directory after it.
 * 0, or -1 with errno set.
 */
int statedir_replace(int dirfd, const char *name, const void *data, size_t len, unsigned flags);

/* write() all of len bytes, retrying on EINTR and short writes.  0, or -1 with errno. */
int statedir_write_all(int fd, const void *data, size_t len);

/* pread() exactly len bytes at off; a short file is EIO.  0, or -1 with errno. */
int statedir_pread_all(int fd, void *buf, size_t len, uint64_t off);

/* Read a whole file (at most max bytes) into a malloc'd NUL-terminated buffer.  -1 with errno. */
int statedir_read(int dirfd, const char *name, size_t max, char **data, size_t *len);

#endif
