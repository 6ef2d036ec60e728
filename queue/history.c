/* history.c: the append-only JSON-lines log of decisions and transitions, rotated by size. */
#include "queue/history.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "queue/statedir.h"

/*
 * Rotate under an flock on the full log itself, and only while the path still names it: of two
 * writers that both see it full, the second finds a new file there and leaves it alone.
 */
static void rotate(int dirfd, int fd)
{
	struct stat mine, there;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return;
	if (fstat(fd, &mine) == 0 && fstatat(dirfd, HISTORY_FILE, &there, AT_SYMLINK_NOFOLLOW) == 0 &&
	    mine.st_ino == there.st_ino && mine.st_dev == there.st_dev)
		renameat(dirfd, HISTORY_FILE, dirfd, HISTORY_OLD_FILE);
	flock(fd, LOCK_UN);
}

int history_append(int dirfd, const char *line, size_t len)
{
	struct stat st;
	int fd = statedir_openat(dirfd, HISTORY_FILE, O_WRONLY | O_CREAT | O_APPEND);
	if (fd < 0)
		return -1;
	struct iovec iov[2] = { { (void *)line, len }, { "\n", 1 } };
	ssize_t n = writev(fd, iov, 2);
	int saved = errno;
	if (n == (ssize_t)len + 1 && fstat(fd, &st) == 0 && (size_t)st.st_size > HISTORY_MAX_BYTES)
		rotate(dirfd, fd);
	close(fd);
	if (n != (ssize_t)len + 1) {
		errno = n < 0 ? saved : EIO;
		return -1;
	}
	return 0;
}

static int each_line(int dirfd, const char *name, int (*fn)(const char *, size_t, void *),
                     void *arg)
{
	char *data;
	size_t len;
	if (statedir_read(dirfd, name, 2 * HISTORY_MAX_BYTES + (1 << 20), &data, &len) < 0)
		return errno == ENOENT ? 0 : -1;
	int stop = 0;
	for (size_t pos = 0; pos < len && !stop;) {
		char *nl = memchr(data + pos, '\n', len - pos);
		if (!nl)
			break;                /* a line still being written */
		size_t n = (size_t)(nl - (data + pos));
		*nl = '\0';
		if (n)
			stop = fn(data + pos, n, arg);
		pos += n + 1;
	}
	free(data);
	return stop ? 1 : 0;
}

int history_each(int dirfd, int (*fn)(const char *line, size_t len, void *arg), void *arg)
{
	int rc = each_line(dirfd, HISTORY_OLD_FILE, fn, arg);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	return each_line(dirfd, HISTORY_FILE, fn, arg) < 0 ? -1 : 0;
}
