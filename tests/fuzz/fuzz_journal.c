/*
 * fuzz_journal.c: the queue loader on arbitrary bytes.
 *
 * The input is written as queue.jsonl into a private state dir (on /dev/shm when it exists, so
 * fdatasync costs nothing) and read the ways governor reads it: queue_load (replay, index
 * rebuild), again through the index it wrote, every task fetched with queue_get, then a write
 * transaction (queue_begin, queue_expire, queue_add, queue_commit).  The same bytes are also
 * parsed as one JSON task (task_from_json, then task_to_json and back).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "queue/queue.h"
#include "queue/statedir.h"
#include "queue/task.h"
#include "queue/timefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int dirfd_ = -1;
static char dir_[256];

static void clean(void)
{
	static const char *const names[] = { QUEUE_JOURNAL, QUEUE_INDEX, QUEUE_JOURNAL ".bak",
	                                     QUEUE_LOCK_FILE };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		unlinkat(dirfd_, names[i], 0);
}

static void setup(void)
{
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir_, sizeof dir_, "%s/fuzz-journal.XXXXXX", base);
	if (!mkdtemp(dir_))
		abort();
	char *cause = NULL;
	dirfd_ = statedir_open(dir_, 0, &cause);
	if (dirfd_ < 0)
		abort();
}

static void read_all(struct queue *q)
{
	for (size_t i = 0; i < queue_count(q); i++) {
		struct task *t = NULL;
		char *cause = NULL;
		if (queue_get(q, queue_entry(q, i)->id, &t, &cause) == QUEUE_OK)
			task_free(t);
		free(cause);
	}
}

static void as_task(const uint8_t *data, size_t size)
{
	cJSON *j = cJSON_ParseWithLength((const char *)data, size);
	char *cause = NULL;
	struct task *t = j ? task_from_json(j, &cause) : NULL;
	free(cause);
	cJSON_Delete(j);
	if (!t)
		return;
	/* What the loader accepts must survive its own round trip. */
	cJSON *back = task_to_json(t);
	struct task *again = back ? task_from_json(back, &cause) : NULL;
	if (back && !again) {
		fprintf(stderr, "task_to_json output refused by task_from_json: %s\n", cause);
		abort();
	}
	if (again && (again->id != t->id || strcmp(again->prompt, t->prompt) != 0 ||
	              again->status != t->status || again->priority != t->priority))
		abort();
	task_free(again);
	cJSON_Delete(back);
	task_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (dirfd_ < 0)
		setup();
	as_task(data, size);

	clean();
	int fd = openat(dirfd_, QUEUE_JOURNAL, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || statedir_write_all(fd, data, size) < 0)
		abort();
	close(fd);

	struct queue *q = NULL;
	char *cause = NULL;
	int rc = queue_load(dirfd_, &q, &cause);
	free(cause);
	cause = NULL;
	if (rc != QUEUE_OK)
		return 0;
	read_all(q);
	queue_expire(q, time_now_ms(), NULL);
	size_t n = queue_count(q);
	unsigned long last = queue_last_id(q);
	queue_free(q);

	/* Again, through the index the first load wrote: the same view. */
	if (queue_load(dirfd_, &q, &cause) != QUEUE_OK) {
		fprintf(stderr, "second load failed: %s\n", cause);
		abort();
	}
	if (queue_count(q) != n || queue_last_id(q) != last)
		abort();
	read_all(q);
	queue_free(q);

	/* A writer: expire, add one task, commit; the result must load. */
	if (queue_begin(dirfd_, 0, &q, &cause) != QUEUE_OK) {
		free(cause);
		return 0;
	}
	queue_expire(q, time_now_ms(), NULL);
	struct task *t = task_new("fuzz", 1, NULL, "fuzz", 3, time_now_ms());
	if (t && queue_add(q, t, &cause) == QUEUE_OK && queue_commit(q, &cause) == QUEUE_OK) {
		unsigned long id = t->id;
		queue_free(q);
		q = NULL;
		if (queue_load(dirfd_, &q, &cause) != QUEUE_OK || !queue_find(q, id)) {
			fprintf(stderr, "committed task T-%lu not found: %s\n", id, cause ? cause : "");
			abort();
		}
	}
	task_free(t);
	free(cause);
	queue_free(q);
	return 0;
}
