/* statedir.c: the state directory: creation, ownership checks, safe opens and atomic replaces. */
#include "queue/statedir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char **cause, const char *verb, const char *path, int err)
{
	char buf[PATH_MAX + 128];
	snprintf(buf, sizeof buf, "cannot %s state dir '%s': %s", verb, path, strerror(err));
	*cause = strdup(buf);
	return -1;
}

/* mkdir -p: missing parents are created 0700 too; they are ours to create. */
static int make_dirs(const char *path)
{
	char buf[PATH_MAX];
	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int statedir_open(const char *path, int create, char **cause)
{
	struct stat st;
	int fd;

	if (!path || !*path) {
		*cause = strdup("state dir path is empty");
		return -1;
	}
	if (create && make_dirs(path) < 0)
		return fail(cause, "create", path, errno);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail(cause, "open", path,
		            errno == ELOOP ? ENOTDIR : errno);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return fail(cause, "stat", path, errno);
	}
	if (st.st_uid != geteuid()) {
		char buf[PATH_MAX + 160];
		snprintf(buf, sizeof buf,
		         "state dir '%s' is owned by uid %u, not by you (uid %u); use a dir of your own (-d)",
		         path, (unsigned)st.st_uid, (unsigned)geteuid());
		close(fd);
		*cause = strdup(buf);
		return -1;
	}
	if (st.st_mode & 022) {
		char buf[PATH_MAX + 160];
		snprintf(buf, sizeof buf,
		         "state dir '%s' is writable by group or others (mode %03o); fix with: chmod 700 '%s'",
		         path, (unsigned)(st.st_mode & 0777), path);
		close(fd);
		*cause = strdup(buf);
		return -1;
	}
	return fd;
}

int statedir_openat(int dirfd, const char *name, int flags)
{
	struct stat st;
	int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022)) {
		errno = EPERM;
		goto fail;
	}
	return fd;
fail:;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

char *statedir_why(int dirfd, const char *name, int err, char *buf, size_t size)
{
	struct stat st;
	if (err == ELOOP) {
		snprintf(buf, size, "it is a symbolic link, which governor does not follow; remove it");
	} else if ((err == EPERM || err == EINVAL) &&
	           fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISREG(st.st_mode))
			snprintf(buf, size, "it is not a regular file; remove it");
		else if (st.st_uid != geteuid())
			snprintf(buf, size, "owned by uid %u, not by you (uid %u); fix with: chown %u %s",
			         (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(), name);
		else if (st.st_mode & 022)
			snprintf(buf, size, "writable by group or others (mode %03o); fix with: chmod 600 %s",
			         (unsigned)(st.st_mode & 0777), name);
		else
			snprintf(buf, size, "%s", strerror(err));
	} else {
		snprintf(buf, size, "%s", strerror(err));
	}
	return buf;
}

int statedir_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int statedir_replace(int dirfd, const char *name, const void *data, size_t len, unsigned flags)
{
	char tmp[NAME_MAX + 1], bak[NAME_MAX + 1], baktmp[NAME_MAX + 1];
	int fd, saved;

	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", name, (long)getpid()) >= (int)sizeof tmp ||
	    snprintf(bak, sizeof bak, "%s.bak", name) >= (int)sizeof bak ||
	    snprintf(baktmp, sizeof baktmp, "%s.bak.tmp.%ld", name, (long)getpid()) >= (int)sizeof baktmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* A leftover of a crashed process that had our pid is garbage: no one else writes it. */
	unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (statedir_write_all(fd, data, len) < 0 || ((flags & STATEDIR_DURABLE) && fsync(fd) < 0)) {
		saved = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) < 0) {
		saved = errno;
		goto fail;
	}
	if (flags & STATEDIR_BACKUP) {
		unlinkat(dirfd, baktmp, 0);
		if (linkat(dirfd, name, dirfd, baktmp, 0) == 0) {
			if (renameat(dirfd, baktmp, dirfd, bak) < 0) {
				saved = errno;
				unlinkat(dirfd, baktmp, 0);
				goto fail;
			}
		} else if (errno != ENOENT) {
			saved = errno;
			goto fail;
		}
	}
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		saved = errno;
		goto fail;
	}
	if ((flags & STATEDIR_DURABLE) && fsync(dirfd) < 0)
		return -1;
	return 0;
fail:
	unlinkat(dirfd, tmp, 0);
	errno = saved;
	return -1;
}

int statedir_read(int dirfd, const char *name, size_t max, char **data, size_t *len)
{
	struct stat st;
	int fd = statedir_openat(dirfd, name, O_RDONLY);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		goto fail;
	if ((size_t)st.st_size > max) {
		errno = EFBIG;
		goto fail;
	}
	size_t cap = (size_t)st.st_size + 1, n = 0;
	char *buf = malloc(cap);
	if (!buf)
		goto fail;
	for (;;) {
		if (n + 1 >= cap) {
			if (cap > max) {
				free(buf);
				errno = EFBIG;
				goto fail;
			}
			char *bigger = realloc(buf, cap * 2);
			if (!bigger) {
				free(buf);
				goto fail;
			}
			buf = bigger;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
fail:;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int statedir_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;     /* the file is shorter than its reader was told */
			return -1;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}
