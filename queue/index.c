/* index.c: read, validate and replace queue.idx. */
#include "queue/index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/statedir.h"

int index_read(int dirfd, struct index_header *h, struct queue_entry **entries)
{
	char boot[BOOT_ID_MAX];
	struct stat st;
	int rc = -1;
	int fd = statedir_openat(dirfd, QUEUE_INDEX, O_RDONLY);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || statedir_pread_all(fd, h, sizeof *h, 0) < 0)
		goto out;
	time_boot_id(boot);
	if (memcmp(h->magic, INDEX_MAGIC, sizeof h->magic) != 0 || h->version != INDEX_VERSION ||
	    h->entry_size != sizeof(struct queue_entry) || !boot[0] ||
	    strncmp(h->boot_id, boot, sizeof h->boot_id) != 0 ||
	    h->count > (uint64_t)(st.st_size / (off_t)sizeof(struct queue_entry)) ||
	    (uint64_t)st.st_size != sizeof *h + h->count * sizeof(struct queue_entry))
		goto out;
	if (entries) {
		size_t bytes = (size_t)h->count * sizeof **entries;
		*entries = malloc(bytes ? bytes : 1);
		if (!*entries)
			goto out;
		if (statedir_pread_all(fd, *entries, bytes, sizeof *h) < 0) {
			free(*entries);
			*entries = NULL;
			goto out;
		}
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

int index_write(int dirfd, const struct index_header *h, const struct queue_entry *entries)
{
	size_t bytes = (size_t)h->count * sizeof *entries;
	char *buf = malloc(sizeof *h + bytes);
	if (!buf)
		return -1;
	memcpy(buf, h, sizeof *h);
	if (bytes)
		memcpy(buf + sizeof *h, entries, bytes);
	int rc = statedir_replace(dirfd, QUEUE_INDEX, buf, sizeof *h + bytes, 0);
	free(buf);
	return rc;
}
