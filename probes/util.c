/* util.c: small helpers the probes share: error causes, clocks, the boot id and state files. */
#include "probes/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int probe_fail(char **cause, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (cause == NULL)
		return -1;
	*cause = NULL;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	*cause = malloc((size_t)n + 1);
	if (*cause == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(*cause, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return -1;
}

int probe_boot_id(char *buf, size_t size)
{
	char raw[64];
	long n;
	size_t len;

	n = probe_read_small("/proc/sys/kernel/random/boot_id", raw, sizeof raw);
	if (n <= 0)
		return -1;
	len = strspn(raw, "0123456789abcdefABCDEF-");
	if (len == 0 || len >= size)
		return -1;
	memcpy(buf, raw, len);
	buf[len] = '\0';
	return 0;
}

int64_t probe_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t probe_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long probe_read_small(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd == -1)
		return -1;
	while (len < size - 1) {
		ssize_t n = read(fd, buf + len, size - 1 - len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			int err = errno;

			close(fd);
			errno = err;
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (long)len;
}

int probe_state_read(int dirfd, const char *name, size_t max, char **data, size_t *len)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    st.st_size < 0 || (size_t)st.st_size > max) {
		close(fd);
		return -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != (size_t)st.st_size) {
		free(buf);
		return -1;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 0;
}

int probe_state_replace(int dirfd, const char *name, const void *data, size_t len)
{
	char tmp[256];
	const char *p = data;
	size_t done = 0;
	int fd, ok = 1;

	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", name, (long)getpid()) >= (int)sizeof tmp)
		return -1;
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1 && errno == EEXIST) {
		/* Left behind by a dead process that had our pid. */
		unlinkat(dirfd, tmp, 0);
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (fd == -1)
		return -1;
	while (ok && done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			ok = 0;
		else
			done += (size_t)n;
	}
	if (close(fd) == -1)
		ok = 0;
	if (!ok || renameat(dirfd, tmp, dirfd, name) == -1) {
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	return 0;
}
