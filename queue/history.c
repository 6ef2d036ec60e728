/* history.c: append-only JSON-lines log of decisions and transitions. */
#include "queue/history.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "queue/statedir.h"

int history_append(int dirfd, const char *line, size_t len)
{
	int fd = statedir_openat(dirfd, HISTORY_FILE, O_WRONLY | O_CREAT | O_APPEND);
	if (fd < 0)
		return -1;
	struct iovec iov[2] = { { (void *)line, len }, { "\n", 1 } };
	ssize_t n = writev(fd, iov, 2);
	int saved = errno;
	close(fd);
	if (n != (ssize_t)len + 1) {
		errno = n < 0 ? saved : EIO;
		return -1;
	}
	return 0;
}
