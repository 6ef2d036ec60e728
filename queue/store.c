/* store.c: queue.json: loading and validating, the data lock, atomic commits, expiry. */
#include "queue/queue.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "queue/statedir.h"
#include "queue/timefmt.h"

struct queue {
	int dirfd;                /* borrowed */
	int lockfd;               /* the data lock while in a transaction, else -1 */
	int loaded;               /* 1 once a document (or no file) was read cleanly */
	unsigned long last_id, archived_count;
	struct task **tasks;
	size_t len, cap;
};

static int set_cause(char **cause, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_cause(char **cause, int code, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	*cause = strdup(buf);
	return code;
}

static struct queue *queue_new(int dirfd)
{
	struct queue *q = calloc(1, sizeof *q);
	if (q) {
		q->dirfd = dirfd;
		q->lockfd = -1;
	}
	return q;
}

static int push(struct queue *q, struct task *t)
{
	if (q->len == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		struct task **tasks = realloc(q->tasks, cap * sizeof *tasks);
		if (!tasks)
			return -1;
		q->tasks = tasks;
		q->cap = cap;
	}
	q->tasks[q->len++] = t;
	return 0;
}

static int read_count(const cJSON *doc, const char *key, unsigned long *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
	if (!v) {
		*out = 0;
		return 0;
	}
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740991.0 ||
	    v->valuedouble != floor(v->valuedouble))
		return -1;
	*out = (unsigned long)v->valuedouble;
	return 0;
}

static int compare_ids(const void *a, const void *b)
{
	unsigned long x = (*(struct task *const *)a)->id, y = (*(struct task *const *)b)->id;
	return (x > y) - (x < y);
}

/* Parse and validate a document into q (empty). */
static int parse_document(struct queue *q, const char *data, size_t len, char **cause)
{
	const char *end = NULL;
	cJSON *doc = cJSON_ParseWithLengthOpts(data, len, &end, 0);
	int rc = QUEUE_ECORRUPT;

	if (!doc) {
		size_t at = end ? (size_t)(end - data) : 0;
		return set_cause(cause, QUEUE_ECORRUPT, "not valid JSON (near byte %zu)", at);
	}
	for (; end && end < data + len; end++)
		if (*end != ' ' && *end != '\n' && *end != '\t' && *end != '\r') {
			set_cause(cause, rc, "trailing data after the JSON document");
			goto out;
		}
	if (!cJSON_IsObject(doc)) {
		set_cause(cause, rc, "not a queue document (expected an object; a legacy array is read by 'governor import')");
		goto out;
	}
	const cJSON *version = cJSON_GetObjectItemCaseSensitive(doc, "version");
	if (!cJSON_IsNumber(version)) {
		set_cause(cause, rc, "missing \"version\"");
		goto out;
	}
	if (version->valuedouble != QUEUE_VERSION) {
		set_cause(cause, rc, "unknown version %g (this governor reads version %d)",
		          version->valuedouble, QUEUE_VERSION);
		goto out;
	}
	if (read_count(doc, "last_id", &q->last_id) < 0 ||
	    read_count(doc, "archived_count", &q->archived_count) < 0) {
		set_cause(cause, rc, "\"last_id\" and \"archived_count\" must be non-negative integers");
		goto out;
	}
	const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(doc, "tasks");
	if (!cJSON_IsArray(tasks)) {
		set_cause(cause, rc, "\"tasks\" is missing or not an array");
		goto out;
	}
	for (const cJSON *e = tasks->child; e; e = e->next) {
		struct task *t = task_from_json(e, cause);
		if (!t)
			goto out;
		if (push(q, t) < 0) {
			task_free(t);
			rc = set_cause(cause, QUEUE_ENOMEM, "out of memory");
			goto out;
		}
		if (t->id > q->last_id) {
			char id[TASK_ID_MAX];
			set_cause(cause, rc, "task %s is above last_id %lu", task_id_format(t->id, id),
			          q->last_id);
			goto out;
		}
	}
	if (q->len > 1) {
		struct task **sorted = malloc(q->len * sizeof *sorted);
		if (!sorted) {
			rc = set_cause(cause, QUEUE_ENOMEM, "out of memory");
			goto out;
		}
		memcpy(sorted, q->tasks, q->len * sizeof *sorted);
		qsort(sorted, q->len, sizeof *sorted, compare_ids);
		for (size_t i = 1; i < q->len; i++)
			if (sorted[i]->id == sorted[i - 1]->id) {
				char id[TASK_ID_MAX];
				set_cause(cause, rc, "duplicate task id %s", task_id_format(sorted[i]->id, id));
				free(sorted);
				goto out;
			}
		free(sorted);
	}
	rc = QUEUE_OK;
out:
	cJSON_Delete(doc);
	return rc;
}

static int load_into(struct queue *q, char **cause)
{
	char *data;
	size_t len;

	if (statedir_read(q->dirfd, QUEUE_FILE, QUEUE_FILE_MAX, &data, &len) < 0) {
		if (errno == ENOENT) {
			q->loaded = 1;
			return QUEUE_OK;
		}
		if (errno == EFBIG)
			return set_cause(cause, QUEUE_ECORRUPT, "cannot read queue '%s': larger than %zu bytes",
			                 QUEUE_FILE, QUEUE_FILE_MAX);
		if (errno == ELOOP)
			return set_cause(cause, QUEUE_EIO, "cannot read queue '%s': is a symbolic link",
			                 QUEUE_FILE);
		if (errno == EPERM)
			return set_cause(cause, QUEUE_EIO,
			                 "cannot read queue '%s': owned by another user or writable by group or others (fix with: chmod 600)",
			                 QUEUE_FILE);
		return set_cause(cause, QUEUE_EIO, "cannot read queue '%s': %s", QUEUE_FILE,
		                 strerror(errno));
	}
	char *why = NULL;
	int rc = parse_document(q, data, len, &why);
	free(data);
	if (rc == QUEUE_OK) {
		q->loaded = 1;
		return rc;
	}
	set_cause(cause, rc, "queue '%s' is corrupt: %s; it was left as it is (the previous version is %s.bak)",
	          QUEUE_FILE, why ? why : "invalid", QUEUE_FILE);
	free(why);
	return rc;
}

int queue_load(int dirfd, struct queue **out, char **cause)
{
	struct queue *q = queue_new(dirfd);
	if (!q)
		return set_cause(cause, QUEUE_ENOMEM, "out of memory");
	int rc = load_into(q, cause);
	if (rc < 0) {
		queue_free(q);
		return rc;
	}
	*out = q;
	return QUEUE_OK;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* flock with a deadline: polls, so a stopped holder cannot block us forever. */
static int take_data_lock(int fd)
{
	long waited = 0, step = 1;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return QUEUE_EIO;
		if (waited >= QUEUE_LOCK_WAIT_MS)
			return QUEUE_EBUSY;
		sleep_ms(step);
		waited += step;
		if (step < 8)
			step *= 2;
	}
	return QUEUE_OK;
}

int queue_begin(int dirfd, struct queue **out, char **cause)
{
	struct queue *q = queue_new(dirfd);
	if (!q)
		return set_cause(cause, QUEUE_ENOMEM, "out of memory");
	q->lockfd = statedir_openat(dirfd, QUEUE_LOCK_FILE, O_RDWR | O_CREAT);
	if (q->lockfd < 0) {
		int rc = set_cause(cause, QUEUE_EIO, "cannot open data lock '%s': %s", QUEUE_LOCK_FILE,
		                   strerror(errno));
		queue_free(q);
		return rc;
	}
	int rc = take_data_lock(q->lockfd);
	if (rc == QUEUE_EBUSY)
		set_cause(cause, rc, "queue is busy: data lock '%s' still held after %d ms",
		          QUEUE_LOCK_FILE, QUEUE_LOCK_WAIT_MS);
	else if (rc < 0)
		set_cause(cause, rc, "cannot lock '%s': %s", QUEUE_LOCK_FILE, strerror(errno));
	else
		rc = load_into(q, cause);
	if (rc < 0) {
		queue_free(q);
		return rc;
	}
	*out = q;
	return QUEUE_OK;
}

char *queue_to_json(const struct queue *q, int pretty)
{
	cJSON *doc = cJSON_CreateObject(), *tasks;
	char *text = NULL;
	if (!doc || !cJSON_AddNumberToObject(doc, "version", QUEUE_VERSION) ||
	    !cJSON_AddNumberToObject(doc, "last_id", (double)q->last_id) ||
	    !cJSON_AddNumberToObject(doc, "archived_count", (double)q->archived_count) ||
	    !(tasks = cJSON_AddArrayToObject(doc, "tasks")))
		goto out;
	for (size_t i = 0; i < q->len; i++) {
		cJSON *t = task_to_json(q->tasks[i]);
		if (!t || !cJSON_AddItemToArray(tasks, t)) {
			cJSON_Delete(t);
			goto out;
		}
	}
	text = pretty ? cJSON_Print(doc) : cJSON_PrintUnformatted(doc);
out:
	cJSON_Delete(doc);
	return text;
}

int queue_commit(struct queue *q, char **cause)
{
	if (q->lockfd < 0 || !q->loaded)
		return set_cause(cause, QUEUE_EIO, "internal error: commit outside a transaction");
	char *text = queue_to_json(q, 0);
	if (!text)
		return set_cause(cause, QUEUE_ENOMEM, "out of memory");
	size_t len = strlen(text);
	text[len] = '\n';    /* cJSON's buffer has room: replace the NUL, write len + 1 */
	int rc = statedir_replace(q->dirfd, QUEUE_FILE, text, len + 1, 1);
	int saved = errno;
	cJSON_free(text);
	if (rc < 0)
		return set_cause(cause, QUEUE_EIO, "cannot write queue '%s': %s", QUEUE_FILE,
		                 strerror(saved));
	return QUEUE_OK;
}

void queue_free(struct queue *q)
{
	if (!q)
		return;
	if (q->lockfd >= 0)
		close(q->lockfd);   /* releases the flock */
	for (size_t i = 0; i < q->len; i++)
		task_free(q->tasks[i]);
	free(q->tasks);
	free(q);
}

size_t queue_len(const struct queue *q) { return q->len; }
struct task *queue_at(const struct queue *q, size_t i) { return i < q->len ? q->tasks[i] : NULL; }
unsigned long queue_last_id(const struct queue *q) { return q->last_id; }
unsigned long queue_archived_count(const struct queue *q) { return q->archived_count; }

struct task *queue_find(const struct queue *q, unsigned long id)
{
	for (size_t i = 0; i < q->len; i++)
		if (q->tasks[i]->id == id)
			return q->tasks[i];
	return NULL;
}

int queue_append(struct queue *q, struct task *t)
{
	t->id = q->last_id + 1;
	if (push(q, t) < 0) {
		task_free(t);
		return QUEUE_ENOMEM;
	}
	q->last_id = t->id;
	return QUEUE_OK;
}

static void replace_string(char **field, const char *value)
{
	char *copy = value ? strdup(value) : NULL;
	free(*field);
	*field = copy;
}

size_t queue_expire(struct queue *q, int64_t now)
{
	size_t changed = 0;
	for (size_t i = 0; i < q->len; i++) {
		struct task *t = q->tasks[i];
		if (t->status == TASK_CLAIMED && t->claim_expires_at <= now) {
			t->status = TASK_PENDING;
			t->claimed_at = t->claim_expires_at = 0;
			t->updated_at = now;
			changed++;
		} else if (t->status == TASK_RUNNING && t->lease_expires_at <= now) {
			task_attempt_end(t, now, "lease_expired", "lease expired without done or fail");
			t->retries++;
			t->lease_expires_at = 0;
			t->updated_at = now;
			replace_string(&t->last_error, "lease_expired");
			if (t->retries >= t->max_retries) {
				char why[96];
				snprintf(why, sizeof why, "failed %d attempts; last: lease_expired", t->retries);
				t->status = TASK_BLOCKED;
				t->finished_at = now;
				replace_string(&t->blocked_reason, why);
			} else {
				t->status = TASK_PENDING;
			}
			changed++;
		}
	}
	return changed;
}
