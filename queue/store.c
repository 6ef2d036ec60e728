/*
 * store.c: the queue journal (queue.jsonl) and its transactions.
 *
 * Why it is built this way (see docs/store.md for the measurements):
 *  1. A commit appends its changed tasks as whole lines and fdatasyncs: O(change), not
 *     O(queue), so adding to a queue of 100k tasks costs what adding to an empty one does.
 *  2. A reader never parses the journal it has already indexed: queue.idx holds one fixed-size
 *     entry per task and the number of journal bytes it covers; only the tail past that is
 *     parsed.  A check reads 64 bytes per task and one line (the chosen task's).
 *  3. The index is a cache.  Anything odd about it (missing, another inode, another boot,
 *     wrong size) means: rebuild it from the journal, which is always the authority.
 *  4. A line counts once it ends in '\n'.  A writer killed mid-append leaves an incomplete
 *     line that readers ignore and the next writer cuts off; its command never printed an id.
 *  5. When most of the journal is superseded lines, a commit compacts it: the live lines are
 *     copied, in id order, into a new file that replaces the journal by rename; the previous
 *     journal stays as queue.jsonl.bak.
 */
#include "queue/queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue/index.h"
#include "queue/pgstore.h"
#include "queue/statedir.h"

#define REINDEX_BYTES (64 * 1024)          /* rewrite the index when the tail grows past this */
#define COMPACT_MIN_BYTES (1024 * 1024)    /* never compact a journal smaller than this */
#define LINE_MAX_BYTES ((size_t)8 << 20)
#define CHANGED_IN_PLACE "the line was changed after it was indexed (edit the queue only through governor; removing queue.idx makes governor check every line again)"   /* no task line is longer (prompt 64 KiB, escaped) */

struct queue {
	int dirfd;                 /* borrowed */
	int lockfd;                /* the data lock in a write transaction, else -1 */
	struct pgs *pg;            /* the postgres store (borrowed), or NULL for the journal */
	int pg_write;              /* postgres: in a PGS_WRITE or PGS_CLAIM transaction */
	int jfd;                   /* the journal, or -1 while there is none */
	unsigned flags;
	uint64_t jdev, jino;
	uint64_t jsize;            /* committed bytes: through the last complete line */
	uint64_t covered;          /* journal bytes the index on disk covers */
	int index_stale;           /* the index on disk should be rewritten */
	unsigned long last_id, archived_count;
	uint64_t live_bytes;       /* bytes of the latest line (and newline) of every task */
	struct queue_entry *entries;
	size_t n, cap;
	char *staged;              /* lines to append at commit */
	size_t staged_len, staged_cap;
	int64_t expired_at;        /* queue_expire's now, applied to queue_get's tasks; 0 = none */
	struct queue_options opts;
};

/* The postgres store when this process uses one (queue_use_postgres), else NULL. */
static struct pgs *shared_store;

static int pg_load(struct queue *q, enum pgs_mode mode, char **cause);
static int pg_commit(struct queue *q, int64_t archive_before, char **cause);
static int pg_put(struct queue *q, const struct task *t, enum pgs_put_mode mode, char **cause);
static int pg_parse(uint64_t id, const char *doc, size_t len, struct task **out, char **cause);

void queue_default_options(struct queue_options *o)
{
	*o = (struct queue_options){
		.backoff = { .min_ms = 30 * 1000, .max_ms = 3600 * 1000 },
		.archive_after_ms = 7 * 86400 * 1000LL,
	};
}

void queue_set_options(struct queue *q, const struct queue_options *o)
{
	q->opts = *o;
}

static int set_cause(char **cause, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_cause(char **cause, int code, const char *fmt, ...)
{
	char buf[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	*cause = strdup(buf);
	return code;
}

static int corrupt(char **cause, uint64_t offset, long line, const char *why)
{
	if (line > 0)
		return set_cause(cause, QUEUE_ECORRUPT,
		                 "queue '%s' is corrupt at line %ld: %s; it was left as it is",
		                 QUEUE_JOURNAL, line, why);
	return set_cause(cause, QUEUE_ECORRUPT,
	                 "queue '%s' is corrupt at byte %llu: %s; it was left as it is",
	                 QUEUE_JOURNAL, (unsigned long long)offset, why);
}

/* --- entries ---------------------------------------------------------------------------- */

static size_t lower_bound(const struct queue *q, uint64_t id)
{
	size_t lo = 0, hi = q->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (q->entries[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct queue_entry *queue_find(const struct queue *q, uint64_t id)
{
	size_t i = lower_bound(q, id);
	return i < q->n && q->entries[i].id == id ? &q->entries[i] : NULL;
}

/*
 * A time as the journal keeps it: whole seconds (time_format).  An entry built from a task in
 * memory must say what the same task's line will say when it is replayed, or the order of two
 * tasks added in the same second would depend on which of them the index happens to cover.
 */
static int64_t as_stored(int64_t ms)
{
	return ms >= 0 ? ms - ms % 1000 : ms - (1000 + ms % 1000) % 1000;
}

/*
 * A 32-bit checksum of a line, to notice one edited in place.  Not CRC-32: a byte-at-a-time
 * CRC cost 3.5 ms per 1.4 MB in `list --json`; this mixes 8 bytes per multiply.  It guards
 * against accidents, not against someone who wants to fool it.
 */
static uint32_t line_sum(const char *p, size_t len)
{
	uint64_t h = 0x9E3779B97F4A7C15ull ^ len, w;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0xFF51AFD7ED558CCDull;
		h ^= h >> 32;
	}
	for (; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 0x100000001B3ull;
	h ^= h >> 29;
	h *= 0xC4CEB9FE1A85EC53ull;
	h ^= h >> 32;
	return (uint32_t)h;
}

static struct queue_entry entry_of(const struct task *t, uint64_t offset, const char *line,
                                   size_t length)
{
	struct queue_entry e = {
		.id = t->id,
		.added_at = as_stored(t->added_at),
		.deadline = as_stored(t->status == TASK_CLAIMED ? t->claim_expires_at
		                      : t->status == TASK_RUNNING ? t->lease_expires_at
		                      : t->status == TASK_PENDING ? 0 : t->finished_at),
		.eligible_at = as_stored(t->eligible_at),
		.after = t->after,
		.offset = offset,
		.length = (uint32_t)length,
		.priority = t->priority,
		.retries = t->retries,
		.max_retries = t->max_retries,
		.status = (uint8_t)t->status,
		.has_model = t->model != NULL,
		.sum = line_sum(line, length),
	};
	return e;
}

/* Insert or replace e (by id), keeping id order; appends are the common case. */
static int upsert(struct queue *q, const struct queue_entry *e)
{
	q->live_bytes += e->length + 1;
	if (q->flags & QUEUE_APPEND_ONLY)
		return 0;
	size_t i = q->n && e->id > q->entries[q->n - 1].id ? q->n : lower_bound(q, e->id);
	if (i < q->n && q->entries[i].id == e->id) {
		q->live_bytes -= q->entries[i].length + 1;
		q->entries[i] = *e;
		return 0;
	}
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 64;
		struct queue_entry *grown = realloc(q->entries, cap * sizeof *grown);
		if (!grown)
			return -1;
		q->entries = grown;
		q->cap = cap;
	}
	memmove(&q->entries[i + 1], &q->entries[i], (q->n - i) * sizeof *e);
	q->entries[i] = *e;
	q->n++;
	return 0;
}

/* --- reading the journal ---------------------------------------------------------------- */

/*
 * Parse one JSON value that must fill the text (trailing white space aside).  cJSON on its own
 * stops after the first value, so two task lines glued into one would load as the first.
 */
static cJSON *parse_whole(const char *text, size_t len)
{
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!j)
		return NULL;
	for (; end && end < text + len; end++)
		if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
			cJSON_Delete(j);
			return NULL;
		}
	return j;
}

int queue_json_has_nul(const char *text, size_t len)
{
	int in_string = 0;
	for (size_t i = 0; i < len; i++) {
		if (!in_string) {
			in_string = text[i] == '"';
		} else if (text[i] == '"') {
			in_string = 0;
		} else if (text[i] == '\\' && i + 1 < len) {
			if (text[i + 1] == 'u' && i + 5 < len && memcmp(text + i + 2, "0000", 4) == 0)
				return 1;
			i++;                          /* the escaped character, \\ and \" included */
		} else if (text[i] == '\0') {
			return 1;
		}
	}
	return 0;
}

static int parse_header(struct queue *q, const char *line, size_t len, char **cause)
{
	cJSON *h = parse_whole(line, len);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(h, "version"),
	            *last = cJSON_GetObjectItemCaseSensitive(h, "last_id"),
	            *arch = cJSON_GetObjectItemCaseSensitive(h, "archived_count");
	int rc = QUEUE_OK;
	if (!cJSON_IsObject(h) || !cJSON_IsNumber(v))
		rc = corrupt(cause, 0, 1, "the first line is not a queue header {\"version\":2,...}");
	else if (v->valuedouble != QUEUE_VERSION)
		rc = set_cause(cause, QUEUE_ECORRUPT,
		               "queue '%s' has version %g; this governor reads version %d; it was left as it is",
		               QUEUE_JOURNAL, v->valuedouble, QUEUE_VERSION);
	else if (!cJSON_IsNumber(last) || last->valuedouble < 0 || last->valuedouble > 9e15 ||
	         (arch && (!cJSON_IsNumber(arch) || arch->valuedouble < 0 || arch->valuedouble > 9e15)))
		rc = corrupt(cause, 0, 1, "\"last_id\" and \"archived_count\" must be non-negative integers");
	else {
		q->last_id = (unsigned long)last->valuedouble;
		q->archived_count = arch ? (unsigned long)arch->valuedouble : 0;
	}
	cJSON_Delete(h);
	return rc;
}

/* Parse one task line, validating it in full. */
static struct task *parse_task(const char *line, size_t len, char **why)
{
	/* cJSON ends a string at \u0000: the task would load cut short and be saved that way. */
	if (queue_json_has_nul(line, len)) {
		*why = strdup("a string contains a NUL character (\\u0000)");
		return NULL;
	}
	cJSON *j = parse_whole(line, len);
	if (!j) {
		*why = strdup("not valid JSON (or more than one JSON value)");
		return NULL;
	}
	/* A key given twice is ambiguous: cJSON reads the first, jq the last. */
	for (const cJSON *a = cJSON_IsObject(j) ? j->child : NULL; a; a = a->next)
		for (const cJSON *b = a->next; b; b = b->next)
			if (a->string && b->string && strcmp(a->string, b->string) == 0) {
				char msg[160];
				snprintf(msg, sizeof msg, "the key \"%.100s\" appears twice", a->string);
				cJSON_Delete(j);
				*why = strdup(msg);
				return NULL;
			}
	struct task *t = task_from_json(j, why);
	cJSON_Delete(j);
	return t;
}

/*
 * Apply the journal from q->covered to size: every complete line; an incomplete last line is
 * left out of q->jsize.  From offset 0 the first line is the header.
 */
static int replay(struct queue *q, uint64_t size, char **cause)
{
	uint64_t start = q->covered;
	size_t len = (size_t)(size - start);
	long line_no = start == 0 ? 1 : 0;      /* line numbers are known from the start only */
	q->jsize = start;
	if (len == 0)
		return start == 0 ? corrupt(cause, 0, 1, "empty file (no header line)") : QUEUE_OK;
	char *buf = malloc(len);
	if (!buf)
		return set_cause(cause, QUEUE_ENOMEM, "out of memory");
	if (statedir_pread_all(q->jfd, buf, len, start) < 0) {
		free(buf);
		return set_cause(cause, QUEUE_EIO, "cannot read queue '%s': %s", QUEUE_JOURNAL,
		                 strerror(errno));
	}
	int rc = QUEUE_OK;
	for (size_t pos = 0; pos < len;) {
		char *nl = memchr(buf + pos, '\n', len - pos);
		if (!nl)
			break;                           /* an uncommitted, torn last line */
		size_t llen = (size_t)(nl - (buf + pos));
		uint64_t off = start + pos;
		if (off == 0) {
			rc = parse_header(q, buf, llen, cause);
		} else if (llen > LINE_MAX_BYTES) {
			rc = corrupt(cause, off, line_no, "line too long");
		} else {
			char *why = NULL;
			struct task *t = parse_task(buf + pos, llen, &why);
			if (!t) {
				rc = corrupt(cause, off, line_no, why ? why : "invalid task");
				free(why);
			} else {
				struct queue_entry e = entry_of(t, off, buf + pos, llen);
				if (t->id > q->last_id)
					q->last_id = t->id;
				task_free(t);
				if (upsert(q, &e) < 0)
					rc = set_cause(cause, QUEUE_ENOMEM, "out of memory");
			}
		}
		if (rc < 0)
			break;
		pos += llen + 1;
		q->jsize = start + pos;
		if (line_no)
			line_no++;
	}
	free(buf);
	if (rc == QUEUE_OK && q->jsize == 0)
		rc = corrupt(cause, 0, 1, "no complete header line");
	return rc;
}

static void fill_header(const struct queue *q, struct index_header *h)
{
	*h = (struct index_header){
		.version = INDEX_VERSION,
		.entry_size = sizeof(struct queue_entry),
		.journal_dev = q->jdev,
		.journal_ino = q->jino,
		.covered = q->jsize,
		.last_id = q->last_id,
		.archived_count = q->archived_count,
		.count = q->n,
		.live_bytes = q->live_bytes,
	};
	memcpy(h->magic, INDEX_MAGIC, sizeof h->magic);
	time_boot_id(h->boot_id);
}

/* Best effort: the index is a cache, and a reader may lack the right to write it. */
static void write_index(struct queue *q)
{
	struct index_header h;
	if (q->flags & QUEUE_APPEND_ONLY || q->jfd < 0)
		return;
	fill_header(q, &h);
	if (index_write(q->dirfd, &h, q->entries) == 0) {
		q->covered = q->jsize;
		q->index_stale = 0;
	}
}

static int load(struct queue *q, int writable, char **cause)
{
	struct index_header h;
	struct stat st;
	struct queue_entry *entries = NULL;
	int append_only = q->flags & QUEUE_APPEND_ONLY;

	/*
	 * The index first, the journal's size after: the journal only grows, so an index that a
	 * writer replaced in between still covers no more than we see.  The other order would make
	 * a busy queue look stale and cost a full rebuild.
	 */
	int have_index = index_read(q->dirfd, &h, append_only ? NULL : &entries) == 0;
	q->jfd = statedir_openat(q->dirfd, QUEUE_JOURNAL, writable ? O_RDWR | O_APPEND : O_RDONLY);
	if (q->jfd < 0) {
		free(entries);
		if (errno == ENOENT) {
			q->flags &= ~QUEUE_APPEND_ONLY;  /* no queue yet: empty, and every entry is known */
			return QUEUE_OK;
		}
		char why[200];
		return set_cause(cause, QUEUE_EIO, "cannot open queue '%s': %s", QUEUE_JOURNAL,
		                 statedir_why(q->dirfd, QUEUE_JOURNAL, errno, why, sizeof why));
	}
	if (fstat(q->jfd, &st) < 0) {
		free(entries);
		return set_cause(cause, QUEUE_EIO, "cannot stat queue '%s': %s", QUEUE_JOURNAL,
		                 strerror(errno));
	}
	q->jdev = (uint64_t)st.st_dev;
	q->jino = (uint64_t)st.st_ino;
	uint64_t size = (uint64_t)st.st_size;

	int fits = have_index && h.journal_dev == q->jdev && h.journal_ino == q->jino &&
	           h.covered <= size;
	if (fits && append_only && size - h.covered > REINDEX_BYTES) {
		/* The tail is long enough that this commit should reindex: it needs every entry. */
		q->flags &= ~QUEUE_APPEND_ONLY;
		append_only = 0;
		fits = index_read(q->dirfd, &h, &entries) == 0 && h.journal_dev == q->jdev &&
		       h.journal_ino == q->jino && h.covered <= size;
	}
	if (fits) {
		q->covered = h.covered;
		q->last_id = (unsigned long)h.last_id;
		q->archived_count = (unsigned long)h.archived_count;
		q->live_bytes = h.live_bytes;
		q->entries = entries;
		q->n = q->cap = append_only ? 0 : (size_t)h.count;
	} else {
		free(entries);
		q->flags &= ~QUEUE_APPEND_ONLY;      /* a rebuild needs every entry */
		q->covered = 0;
		q->index_stale = 1;
	}
	int rc = replay(q, size, cause);
	if (rc < 0)
		return rc;
	if (q->jsize - q->covered > REINDEX_BYTES)
		q->index_stale = 1;
	return QUEUE_OK;
}

static struct queue *queue_new(int dirfd, unsigned flags)
{
	struct queue *q = calloc(1, sizeof *q);
	if (q) {
		q->dirfd = dirfd;
		q->lockfd = q->jfd = -1;
		q->flags = flags;
		q->pg = shared_store;
		queue_default_options(&q->opts);
	}
	return q;
}

int queue_load(int dirfd, struct queue **out, char **cause)
{
	struct queue *q = queue_new(dirfd, 0);
	if (!q)
		return set_cause(cause, QUEUE_ENOMEM, "out of memory");
	int rc = q->pg ? pg_load(q, PGS_READ, cause) : load(q, 0, cause);
	if (rc < 0) {
		queue_free(q);
		return rc;
	}
	if (q->index_stale)
		write_index(q);
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

static int header_line(const struct queue *q, char *buf, size_t size)
{
	return snprintf(buf, size, "{\"version\":%d,\"last_id\":%lu,\"archived_count\":%lu}\n",
	                QUEUE_VERSION, q->last_id, q->archived_count);
}

int queue_begin(int dirfd, unsigned flags, struct queue **out, char **cause)
{
	struct queue *q = queue_new(dirfd, flags & ~(unsigned)QUEUE_APPEND_ONLY);
	int rc;
	if (!q)
		return set_cause(cause, QUEUE_ENOMEM, "out of memory");
	if (q->pg) {
		rc = pg_load(q, flags & QUEUE_CLAIM ? PGS_CLAIM : PGS_WRITE, cause);
		if (rc < 0) {
			queue_free(q);
			return rc;
		}
		*out = q;
		return QUEUE_OK;
	}
	q->flags = flags;
	q->lockfd = statedir_openat(dirfd, QUEUE_LOCK_FILE, O_RDWR | O_CREAT);
	char why[200];
	if (q->lockfd < 0)
		rc = set_cause(cause, QUEUE_EIO, "cannot open data lock '%s': %s", QUEUE_LOCK_FILE,
		               statedir_why(dirfd, QUEUE_LOCK_FILE, errno, why, sizeof why));
	else if ((rc = take_data_lock(q->lockfd)) == QUEUE_EBUSY)
		set_cause(cause, rc, "queue is busy: data lock '%s' still held after %d ms",
		          QUEUE_LOCK_FILE, QUEUE_LOCK_WAIT_MS);
	else if (rc < 0)
		set_cause(cause, rc, "cannot lock '%s': %s", QUEUE_LOCK_FILE, strerror(errno));
	else
		rc = load(q, 1, cause);
	if (rc == QUEUE_OK && q->jfd >= 0) {
		struct stat st;
		/* Cut off a torn line a killed writer left; it was never committed. */
		if (fstat(q->jfd, &st) == 0 && (uint64_t)st.st_size > q->jsize &&
		    ftruncate(q->jfd, (off_t)q->jsize) < 0)
			rc = set_cause(cause, QUEUE_EIO, "cannot truncate the torn end of '%s': %s",
			               QUEUE_JOURNAL, strerror(errno));
	} else if (rc == QUEUE_OK) {
		char h[128];
		const struct queue empty = { 0 };
		q->jsize = (uint64_t)header_line(&empty, h, sizeof h);   /* staged lines follow it */
	}
	if (rc < 0) {
		queue_free(q);
		return rc;
	}
	*out = q;
	return QUEUE_OK;
}

void queue_free(struct queue *q)
{
	if (!q)
		return;
	if (q->pg)
		pgs_end(q->pg, 0, NULL);   /* nothing committed: roll back, release the locks */
	if (q->jfd >= 0)
		close(q->jfd);
	if (q->lockfd >= 0)
		close(q->lockfd);      /* releases the flock */
	free(q->entries);
	free(q->staged);
	free(q);
}

size_t queue_count(const struct queue *q) { return q->n; }
const struct queue_entry *queue_entry(const struct queue *q, size_t i) { return i < q->n ? &q->entries[i] : NULL; }
unsigned long queue_last_id(const struct queue *q) { return q->last_id; }
unsigned long queue_archived_count(const struct queue *q) { return q->archived_count; }

/* --- whole tasks ------------------------------------------------------------------------ */

static int finished_badly(uint8_t status)
{
	return status == TASK_BLOCKED || status == TASK_CANCELLED || status == TASK_SKIPPED;
}

#define BLOCKED_REASON_MAX 64

/* Why a dependant of dep (which ended without being done) is blocked. */
static void blocked_reason(const struct queue_entry *dep, char reason[BLOCKED_REASON_MAX])
{
	snprintf(reason, BLOCKED_REASON_MAX, "depends on T-%02llu, which is %s",
	         (unsigned long long)dep->id, task_status_name((enum task_status)dep->status));
}

int queue_get(struct queue *q, uint64_t id, struct task **out, char **cause)
{
	const struct queue_entry *e = queue_find(q, id);
	char *buf, *why = NULL;
	if (!e)
		return set_cause(cause, QUEUE_ENOENT, "no task T-%02llu", (unsigned long long)id);
	if (q->pg) {
		size_t len;
		int rc = pgs_doc(q->pg, id, &buf, &len, cause);
		if (rc == QUEUE_OK)
			rc = pg_parse(id, buf, len, out, cause);
		free(buf);
		if (rc < 0)
			return rc;
	} else if (e->offset >= q->jsize && q->lockfd >= 0) {
		/* staged in this transaction, not yet in the journal */
		buf = q->staged + (e->offset - q->jsize);
		*out = parse_task(buf, e->length, &why);
	} else {
		if (!(buf = malloc(e->length ? e->length : 1)))
			return set_cause(cause, QUEUE_ENOMEM, "out of memory");
		if (statedir_pread_all(q->jfd, buf, e->length, e->offset) < 0) {
			free(buf);
			return set_cause(cause, QUEUE_EIO, "cannot read queue '%s': %s", QUEUE_JOURNAL,
			                 strerror(errno));
		}
		*out = line_sum(buf, e->length) == e->sum ? parse_task(buf, e->length, &why) : NULL;
		if (!*out && !why)
			why = strdup(CHANGED_IN_PLACE);
		free(buf);
	}
	if (!*out) {
		int rc = corrupt(cause, e->offset, 0, why ? why : "invalid task");
		free(why);
		return rc;
	}
	if (q->expired_at) {
		task_expire(*out, q->expired_at, &q->opts.backoff);
		/* A read-only queue_expire blocked only the entry of a dependant: do it to the task too. */
		const struct queue_entry *dep;
		if ((*out)->status == TASK_PENDING && e->status == TASK_BLOCKED && (*out)->after &&
		    (dep = queue_find(q, (*out)->after)) && finished_badly(dep->status)) {
			char reason[BLOCKED_REASON_MAX];
			blocked_reason(dep, reason);
			task_block(*out, q->expired_at, reason);
		}
	}
	return QUEUE_OK;
}

/* t as one line of JSON (cJSON_free it), its length in *len; NULL when out of memory. */
static char *task_line(const struct task *t, size_t *len)
{
	cJSON *j = task_to_json(t);
	char *text = j ? cJSON_PrintUnformatted(j) : NULL;
	cJSON_Delete(j);
	if (text)
		*len = strlen(text);
	return text;
}

int queue_get_json(struct queue *q, uint64_t id, char **out, size_t *len, char **cause)
{
	const struct queue_entry *e = queue_find(q, id);
	if (!e)
		return set_cause(cause, QUEUE_ENOENT, "no task T-%02llu", (unsigned long long)id);
	if (q->pg && !e->view_changed)
		return pgs_doc(q->pg, id, out, len, cause);
	if (e->view_changed || q->pg || (e->offset >= q->jsize && q->lockfd >= 0)) {
		struct task *t;
		int rc = queue_get(q, id, &t, cause);
		if (rc < 0)
			return rc;
		*out = task_line(t, len);
		task_free(t);
		return *out ? QUEUE_OK : set_cause(cause, QUEUE_ENOMEM, "out of memory");
	}
	char *buf = malloc((size_t)e->length + 1);
	if (!buf)
		return set_cause(cause, QUEUE_ENOMEM, "out of memory");
	if (statedir_pread_all(q->jfd, buf, e->length, e->offset) < 0) {
		free(buf);
		return set_cause(cause, QUEUE_EIO, "cannot read queue '%s': %s", QUEUE_JOURNAL,
		                 strerror(errno));
	}
	buf[e->length] = '\0';
	if (line_sum(buf, e->length) != e->sum) {
		free(buf);
		return corrupt(cause, e->offset, 0, CHANGED_IN_PLACE);
	}
	*out = buf;
	*len = e->length;
	return QUEUE_OK;
}

int queue_put(struct queue *q, const struct task *t, char **cause)
{
	if (q->lockfd < 0 && !q->pg_write)
		return set_cause(cause, QUEUE_EIO, "internal error: queue_put outside a transaction");
	if (q->pg) {
		/* The row is written at once; the transaction makes the commit whole. */
		int rc = pg_put(q, t, PGS_REPLACE, cause);
		return rc < 0 ? rc : QUEUE_OK;
	}
	size_t len;
	char *text = task_line(t, &len);
	if (!text)
		return set_cause(cause, QUEUE_ENOMEM, "out of memory");
	if (q->staged_len + len + 1 > q->staged_cap) {
		size_t cap = (q->staged_len + len + 1) * 2;
		char *grown = realloc(q->staged, cap);
		if (!grown) {
			cJSON_free(text);
			return set_cause(cause, QUEUE_ENOMEM, "out of memory");
		}
		q->staged = grown;
		q->staged_cap = cap;
	}
	struct queue_entry e = entry_of(t, q->jsize + q->staged_len, text, len);
	memcpy(q->staged + q->staged_len, text, len);
	q->staged[q->staged_len + len] = '\n';
	q->staged_len += len + 1;
	cJSON_free(text);
	if (upsert(q, &e) < 0)
		return set_cause(cause, QUEUE_ENOMEM, "out of memory");
	return QUEUE_OK;
}

int queue_add(struct queue *q, struct task *t, char **cause)
{
	t->id = q->last_id + 1;
	int rc = queue_put(q, t, cause);
	if (rc == QUEUE_OK)
		q->last_id = t->id;
	return rc;
}

/* In a write transaction: re-read the task, let change() move it, stage it. */
static int restage(struct queue *q, uint64_t id, int64_t now, const char *reason, char **cause)
{
	struct task *t;
	int rc = queue_get(q, id, &t, cause);     /* applies the time-based expiry */
	if (rc < 0)
		return rc;
	if (reason)
		task_block(t, now, reason);
	rc = queue_put(q, t, cause);               /* replaces the entry in place */
	task_free(t);
	return rc;
}

/*
 * Whether queue_expire may record a change to e.  Under the data lock (or the postgres store's
 * exclusive lock) always.  In a postgres claim, which runs beside other hosts' claims, only
 * when e's row can be locked as it was read (FOR UPDATE SKIP LOCKED): another claim holds it
 * or changed it otherwise, and then this one changes only its view.
 */
static int may_record(struct queue *q, const struct queue_entry *e)
{
	if (q->lockfd >= 0 || (q->pg_write && !(q->flags & QUEUE_CLAIM)))
		return 1;
	return q->pg_write && pgs_lock(q->pg, e->id, e->status, e->deadline) == 1;
}

long queue_expire(struct queue *q, int64_t now, char **cause)
{
	long changed = 0;
	q->expired_at = now;
	for (size_t i = 0; i < q->n; i++) {
		struct queue_entry *e = &q->entries[i];
		if ((e->status == TASK_CLAIMED || e->status == TASK_RUNNING) && e->deadline <= now) {
			changed++;
			if (may_record(q, e)) {
				if (restage(q, e->id, now, NULL, cause) < 0)
					return -1;
				continue;
			}
			/* A read-only view: task_expire()'s rule on the entry alone. */
			e->view_changed = 1;
			if (e->status == TASK_RUNNING && ++e->retries >= e->max_retries) {
				e->status = TASK_BLOCKED;
				e->deadline = now;
			} else {
				if (e->status == TASK_RUNNING)
					e->eligible_at = now + q->opts.backoff.min_ms;
				e->status = TASK_PENDING;
				e->deadline = 0;
			}
		}
	}
	/* Dependants of tasks that ended without being done cannot run: block them (chains too). */
	for (int pass = 0, again = 1; again && pass < 64; pass++) {
		again = 0;
		for (size_t i = 0; i < q->n; i++) {
			struct queue_entry *e = &q->entries[i];
			const struct queue_entry *dep;
			char reason[BLOCKED_REASON_MAX];
			if (e->status != TASK_PENDING || !e->after || !(dep = queue_find(q, e->after)) ||
			    !finished_badly(dep->status))
				continue;
			changed++;
			again = 1;
			blocked_reason(dep, reason);
			if (may_record(q, e)) {
				if (restage(q, e->id, now, reason, cause) < 0)
					return -1;
			} else {
				e->status = TASK_BLOCKED;
				e->deadline = now;
				e->view_changed = 1;
			}
		}
	}
	return changed;
}

int queue_eligible(const struct queue *q, const struct queue_entry *e, int64_t now,
                   int64_t *waits_until)
{
	const struct queue_entry *dep;
	*waits_until = 0;
	if (e->status != TASK_PENDING)
		return 0;
	if (e->after && (dep = queue_find(q, e->after)) && dep->status != TASK_DONE)
		return 0;
	if (e->eligible_at > now) {
		*waits_until = e->eligible_at;
		return 0;
	}
	return 1;
}

/* --- committing -------------------------------------------------------------------------- */

/* The first journal: header and staged lines, created whole (temp file, fsync, rename). */
static int create_journal(struct queue *q, char **cause)
{
	const struct queue empty = { 0 };   /* the header as it was at queue_begin: no queue yet */
	char h[128];
	struct stat st;
	int hlen = header_line(&empty, h, sizeof h);
	char *buf = malloc((size_t)hlen + q->staged_len);
	if (!buf)
		return set_cause(cause, QUEUE_ENOMEM, "out of memory");
	memcpy(buf, h, (size_t)hlen);
	memcpy(buf + hlen, q->staged, q->staged_len);
	int rc = statedir_replace(q->dirfd, QUEUE_JOURNAL, buf, (size_t)hlen + q->staged_len,
	                          STATEDIR_DURABLE);
	free(buf);
	if (rc < 0)
		return set_cause(cause, QUEUE_EIO, "cannot write queue '%s': %s", QUEUE_JOURNAL,
		                 strerror(errno));
	q->jfd = statedir_openat(q->dirfd, QUEUE_JOURNAL, O_RDWR | O_APPEND);
	if (q->jfd < 0 || fstat(q->jfd, &st) < 0)
		return set_cause(cause, QUEUE_EIO, "cannot reopen queue '%s': %s", QUEUE_JOURNAL,
		                 strerror(errno));
	q->jdev = (uint64_t)st.st_dev;
	q->jino = (uint64_t)st.st_ino;
	q->jsize += q->staged_len;
	q->index_stale = 1;
	return QUEUE_OK;
}

static int append_staged(struct queue *q, char **cause)
{
	if (statedir_write_all(q->jfd, q->staged, q->staged_len) < 0 || fdatasync(q->jfd) < 0) {
		int saved = errno;
		/* Take back whatever part was written: the commit did not happen. */
		if (ftruncate(q->jfd, (off_t)q->jsize) < 0)
			saved = saved ? saved : errno;
		return set_cause(cause, QUEUE_EIO, "cannot write queue '%s': %s", QUEUE_JOURNAL,
		                 strerror(saved));
	}
	q->jsize += q->staged_len;
	return QUEUE_OK;
}

/*
 * Remove the temp files writers killed mid-replace left behind (their names end in the dead
 * writer's pid, so nobody else ever reuses them).  Journal temps are only written under the data
 * lock, which we hold: any that exist are dead.  Index temps are written by readers without a
 * lock, so only those a minute old, long past any live writer, go.  Best effort.
 */
static void sweep_temps(int dirfd)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	struct stat st;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, QUEUE_JOURNAL ".tmp.", sizeof QUEUE_JOURNAL ".tmp." - 1) == 0 ||
		    strncmp(e->d_name, QUEUE_JOURNAL ".bak.tmp.", sizeof QUEUE_JOURNAL ".bak.tmp." - 1) == 0)
			unlinkat(dirfd, e->d_name, 0);
		else if (strncmp(e->d_name, QUEUE_INDEX ".tmp.", sizeof QUEUE_INDEX ".tmp." - 1) == 0 &&
		         fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		         time(NULL) - st.st_mtime > 60)
			unlinkat(dirfd, e->d_name, 0);
	}
	closedir(d);
}

/* Copy the live lines into a new journal; the old one becomes queue.jsonl.bak.  0 or -1. */
static int compact(struct queue *q)
{
	sweep_temps(q->dirfd);
	char h[128];
	int hlen = header_line(q, h, sizeof h), rc = -1;
	size_t total = (size_t)hlen + (size_t)q->live_bytes, pos = (size_t)hlen;
	struct queue_entry *moved = malloc((q->n ? q->n : 1) * sizeof *moved);
	char *buf = malloc(total);
	struct stat st;
	if (!buf || !moved)
		goto out;
	memcpy(buf, h, (size_t)hlen);
	for (size_t i = 0; i < q->n; i++) {
		const struct queue_entry *e = &q->entries[i];
		if (pos + e->length + 1 > total ||
		    statedir_pread_all(q->jfd, buf + pos, e->length, e->offset) < 0)
			goto out;
		moved[i] = *e;
		moved[i].offset = pos;
		pos += e->length;
		buf[pos++] = '\n';
	}
	if (statedir_replace(q->dirfd, QUEUE_JOURNAL, buf, pos, STATEDIR_DURABLE | STATEDIR_BACKUP) < 0)
		goto out;
	rc = 0;
	q->index_stale = 1;          /* at worst the next reader rebuilds from the new journal */
	int fd = statedir_openat(q->dirfd, QUEUE_JOURNAL, O_RDWR | O_APPEND);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(q->jfd);
	q->jfd = fd;
	q->jdev = (uint64_t)st.st_dev;
	q->jino = (uint64_t)st.st_ino;
	q->jsize = pos;
	free(q->entries);
	q->entries = moved;
	q->cap = q->n ? q->n : 1;
	moved = NULL;
out:
	free(moved);
	free(buf);
	return rc;
}

static int archivable(const struct queue_entry *e, int64_t before)
{
	return (e->status == TASK_DONE || finished_badly(e->status)) && e->deadline > 0 &&
	       e->deadline < before;
}

/* "2026-11.jsonl" for the month (UTC) of ms. */
static void month_file(int64_t ms, char buf[32])
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	if (!gmtime_r(&secs, &tm) || strftime(buf, 32, "%Y-%m.jsonl", &tm) == 0)
		snprintf(buf, 32, "unknown.jsonl");
}

/* Append the lines of every archivable entry of month `name` to archive/<name>; fdatasync. */
/* The size of fd up to its last newline; a partial last line is cut off.  -1 with errno. */
static off_t archive_whole_lines(int fd)
{
	struct stat st;
	char chunk[4096];
	if (fstat(fd, &st) < 0)
		return -1;
	off_t end = st.st_size;
	while (end > 0) {
		size_t n = end < (off_t)sizeof chunk ? (size_t)end : sizeof chunk;
		if (statedir_pread_all(fd, chunk, n, (uint64_t)(end - (off_t)n)) < 0)
			return -1;
		size_t i = n;
		while (i > 0 && chunk[i - 1] != '\n')
			i--;
		if (i > 0) {
			end -= (off_t)(n - i);
			break;
		}
		end -= (off_t)n;
	}
	if (end != st.st_size && ftruncate(fd, end) < 0)
		return -1;
	return end;
}

static int append_month(struct queue *q, int afd, const char *name, int64_t before)
{
	char file[32], *buf = NULL;
	size_t len = 0, cap = 0;
	int rc = -1;
	for (size_t i = 0; i < q->n; i++) {
		const struct queue_entry *e = &q->entries[i];
		if (!archivable(e, before))
			continue;
		month_file(e->deadline, file);
		if (strcmp(file, name) != 0)
			continue;
		if (len + e->length + 1 > cap) {
			cap = (len + e->length + 1) * 2;
			char *grown = realloc(buf, cap);
			if (!grown)
				goto out;
			buf = grown;
		}
		if (statedir_pread_all(q->jfd, buf + len, e->length, e->offset) < 0)
			goto out;
		len += e->length;
		buf[len++] = '\n';
	}
	int fd = statedir_openat(afd, name, O_RDWR | O_CREAT | O_APPEND);
	if (fd < 0)
		goto out;
	/*
	 * Appends happen under the data lock, so the file ends where the last archiver stopped.
	 * One that was killed or ran out of space mid-write left a partial line: cut it off (its
	 * tasks are still in the journal, which was not compacted), and cut off our own partial
	 * line the same way when this write fails, so no two lines are ever glued together.
	 */
	off_t whole = archive_whole_lines(fd);
	if (whole < 0) {
		close(fd);
		goto out;
	}
	rc = statedir_write_all(fd, buf, len) == 0 && fdatasync(fd) == 0 ? 0 : -1;
	if (rc < 0) {
		int saved = errno;
		if (ftruncate(fd, whole) == 0)
			fdatasync(fd);
		errno = saved;
	}
	close(fd);
out:
	free(buf);
	return rc;
}

/*
 * Archive what finished before `before`.  The lines reach archive/ (fdatasync'd) before the
 * compaction that drops them from the journal, so a crash in between repeats lines in the
 * archive (the last copy wins for readers) and never loses one.
 */
static long archive_old(struct queue *q, int64_t before, char **cause)
{
	size_t k = 0;
	for (size_t i = 0; i < q->n; i++)
		k += archivable(&q->entries[i], before);
	if (k == 0 || q->jfd < 0)
		return 0;
	if (mkdirat(q->dirfd, QUEUE_ARCHIVE_DIR, 0700) < 0 && errno != EEXIST)
		return set_cause(cause, QUEUE_EIO, "cannot create '%s': %s", QUEUE_ARCHIVE_DIR,
		                 strerror(errno));
	int afd = openat(q->dirfd, QUEUE_ARCHIVE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat ast;
	if (afd < 0) {
		int err = errno;
		if (fstatat(q->dirfd, QUEUE_ARCHIVE_DIR, &ast, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(ast.st_mode))
			return set_cause(cause, QUEUE_EIO, "cannot open '%s': it is a symbolic link, which "
			                 "governor does not follow; remove it", QUEUE_ARCHIVE_DIR);
		return set_cause(cause, QUEUE_EIO, "cannot open '%s': %s", QUEUE_ARCHIVE_DIR, strerror(err));
	}
	if (fstat(afd, &ast) < 0 || ast.st_uid != geteuid() || (ast.st_mode & 022)) {
		close(afd);
		return set_cause(cause, QUEUE_EIO, "cannot use '%s': owned by another user or writable by "
		                 "group or others; fix with: chown %u %s && chmod 700 %s", QUEUE_ARCHIVE_DIR,
		                 (unsigned)geteuid(), QUEUE_ARCHIVE_DIR, QUEUE_ARCHIVE_DIR);
	}
	char (*done)[32] = malloc(k * sizeof *done);   /* months written: at most one per task */
	size_t ndone = 0;
	int rc = 0;
	if (!done) {
		close(afd);
		return set_cause(cause, QUEUE_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < q->n && rc == 0; i++) {
		char name[32];
		if (!archivable(&q->entries[i], before))
			continue;
		month_file(q->entries[i].deadline, name);
		int seen = 0;
		for (size_t j = 0; j < ndone && !seen; j++)
			seen = strcmp(done[j], name) == 0;
		if (seen)
			continue;
		rc = append_month(q, afd, name, before);
		snprintf(done[ndone++], sizeof done[0], "%s", name);
	}
	free(done);
	if (rc == 0)
		rc = fsync(afd);
	close(afd);
	if (rc < 0)
		return set_cause(cause, QUEUE_EIO, "cannot write to '%s': %s", QUEUE_ARCHIVE_DIR,
		                 strerror(errno));
	size_t w = 0;
	for (size_t i = 0; i < q->n; i++) {
		if (archivable(&q->entries[i], before))
			q->live_bytes -= q->entries[i].length + 1;
		else
			q->entries[w++] = q->entries[i];
	}
	q->n = w;
	q->archived_count += k;
	if (compact(q) < 0)
		return set_cause(cause, QUEUE_EIO, "archived %zu tasks but cannot rewrite '%s': %s",
		                 k, QUEUE_JOURNAL, strerror(errno));
	return (long)k;
}

static int append_pending(struct queue *q, char **cause)
{
	int rc = QUEUE_OK;
	if (q->lockfd < 0)
		return set_cause(cause, QUEUE_EIO, "internal error: commit outside a transaction");
	if (q->staged_len) {
		rc = q->jfd < 0 ? create_journal(q, cause) : append_staged(q, cause);
		if (rc == QUEUE_OK)
			q->staged_len = 0;
	}
	return rc;
}

static void tidy(struct queue *q)
{
	char h[128];
	uint64_t hlen = (uint64_t)header_line(q, h, sizeof h);
	if (!(q->flags & QUEUE_APPEND_ONLY) && q->jsize > COMPACT_MIN_BYTES &&
	    q->jsize > 2 * (q->live_bytes + hlen))
		compact(q);          /* best effort: the journal is complete either way */
	if (q->index_stale || q->jsize - q->covered > REINDEX_BYTES)
		write_index(q);
}

int queue_commit(struct queue *q, char **cause)
{
	if (q->pg)
		return pg_commit(q, q->opts.archive_after_ms > 0 && !(q->flags & QUEUE_CLAIM)
		                        ? time_now_ms() - q->opts.archive_after_ms : 0, cause);
	int rc = append_pending(q, cause);
	if (rc < 0)
		return rc;
	/* Archiving on commit is housekeeping: the commit above already happened. */
	if (!(q->flags & QUEUE_APPEND_ONLY) && q->opts.archive_after_ms > 0) {
		char *ignored = NULL;
		archive_old(q, time_now_ms() - q->opts.archive_after_ms, &ignored);
		free(ignored);
	}
	tidy(q);
	return QUEUE_OK;
}

long queue_archive(struct queue *q, int64_t before, char **cause)
{
	if (q->flags & QUEUE_APPEND_ONLY)
		return set_cause(cause, QUEUE_EIO, "internal error: archive in an append-only transaction");
	if (q->pg) {
		size_t before_n = q->n;
		int rc = pg_commit(q, before, cause);
		return rc < 0 ? rc : (long)(before_n - q->n);
	}
	int rc = append_pending(q, cause);
	if (rc < 0)
		return rc;
	long n = archive_old(q, before, cause);
	tidy(q);
	return n;
}

/* --- the postgres store (fleet mode; docs/fleet.md) -------------------------------------- */

int queue_use_postgres(const char *dsn, const char *host, char **cause)
{
	if (shared_store)
		return QUEUE_OK;
	return pgs_open(dsn, host, &shared_store, cause);
}

void queue_forget_store(void)
{
	pgs_forget(shared_store);
	shared_store = NULL;
}

int queue_shared(const struct queue *q)
{
	return q->pg != NULL;
}

/*
 * Write t's row (pgs_put's mode) and, unless it went to the archive, its entry: 1 written, 0
 * kept (the id was there), or an error.
 */
static int pg_put(struct queue *q, const struct task *t, enum pgs_put_mode mode, char **cause)
{
	size_t len;
	char *text = task_line(t, &len);
	if (!text)
		return set_cause(cause, QUEUE_ENOMEM, "out of memory");
	struct queue_entry e = entry_of(t, 0, text, len);
	int rc = pgs_put(q->pg, &e, t->host, text, mode, cause);
	cJSON_free(text);
	if (rc == 1 && mode != PGS_KEEP_ARCHIVED && upsert(q, &e) < 0)
		return set_cause(cause, QUEUE_ENOMEM, "out of memory");
	return rc;
}

/* A row's line as a task: QUEUE_OK with *out, or QUEUE_ECORRUPT naming the row. */
static int pg_parse(uint64_t id, const char *doc, size_t len, struct task **out, char **cause)
{
	char *why = NULL;
	if ((*out = parse_task(doc, len, &why)))
		return QUEUE_OK;
	int rc = set_cause(cause, QUEUE_ECORRUPT, "the postgres store's row of T-%02llu is not a "
	                   "valid task: %s", (unsigned long long)id, why ? why : "invalid task");
	free(why);
	return rc;
}

static int pg_load(struct queue *q, enum pgs_mode mode, char **cause)
{
	int rc = pgs_begin(q->pg, mode, mode == PGS_CLAIM && (q->flags & QUEUE_FLEET), cause);
	if (rc < 0)
		q->pg = NULL;        /* another queue's transaction is open: not ours to end */
	if (rc == QUEUE_OK)
		rc = pgs_load(q->pg, &q->entries, &q->n, &q->last_id, &q->archived_count, cause);
	q->cap = q->n;
	q->pg_write = mode != PGS_READ;
	return rc;
}

/* Archive what finished before archive_before (0: nothing), record the counts, commit. */
static int pg_commit(struct queue *q, int64_t archive_before, char **cause)
{
	if (!q->pg_write)
		return set_cause(cause, QUEUE_EIO, "internal error: commit outside a transaction");
	size_t k = 0, w = 0;
	for (size_t i = 0; i < q->n && archive_before; i++)
		k += archivable(&q->entries[i], archive_before);
	if (k) {
		uint64_t *ids = malloc(k * sizeof *ids);
		if (!ids)
			return set_cause(cause, QUEUE_ENOMEM, "out of memory");
		for (size_t i = 0, j = 0; i < q->n; i++)
			if (archivable(&q->entries[i], archive_before))
				ids[j++] = q->entries[i].id;
		int rc = pgs_archive(q->pg, ids, k, cause);
		free(ids);
		if (rc < 0)
			return rc;
		for (size_t i = 0; i < q->n; i++)
			if (!archivable(&q->entries[i], archive_before))
				q->entries[w++] = q->entries[i];
		q->n = w;
		q->archived_count += k;
	}
	int rc = pgs_set_counts(q->pg, q->last_id, q->archived_count, cause);
	if (rc == QUEUE_OK)
		rc = pgs_end(q->pg, 1, cause);
	q->pg_write = 0;
	return rc;
}

int queue_claim(struct queue *q, const uint64_t *ids, size_t n, int64_t now, int64_t ttl_ms,
                const char *host, struct task **out, char **cause)
{
	struct task *t = NULL;
	int rc = QUEUE_OK;
	*out = NULL;
	if (n == 0)
		return QUEUE_OK;
	if (q->pg) {
		uint64_t id;
		char *doc = NULL;
		size_t len;
		if ((rc = pgs_claim(q->pg, ids, n, &id, &doc, &len, cause)) < 0 || !id)
			return rc;
		rc = pg_parse(id, doc, len, &t, cause);
		free(doc);
		if (rc < 0)
			return rc;
		task_expire(t, now, &q->opts.backoff);   /* a lapsed claim is pending again */
	} else if ((rc = queue_get(q, ids[0], &t, cause)) < 0) {
		return rc;
	}
	if (t->status != TASK_PENDING) {
		task_free(t);
		return QUEUE_OK;
	}
	free(t->host);
	if (!(t->host = strdup(host))) {
		task_free(t);
		return set_cause(cause, QUEUE_ENOMEM, "out of memory");
	}
	t->status = TASK_CLAIMED;
	t->claimed_at = t->updated_at = now;
	t->claim_expires_at = now + ttl_ms;
	if ((rc = queue_put(q, t, cause)) < 0) {
		task_free(t);
		return rc;
	}
	*out = t;
	return QUEUE_OK;
}

int queue_import(struct queue *q, const struct task *t, int archived, char **cause)
{
	if (!q->pg || !q->pg_write)
		return set_cause(cause, QUEUE_EIO, "internal error: queue_import needs a postgres write "
		                 "transaction");
	int rc = pg_put(q, t, archived ? PGS_KEEP_ARCHIVED : PGS_KEEP, cause);
	if (rc < 0)
		return rc;
	q->archived_count += rc && archived;
	queue_reserve_ids(q, t->id);
	return rc;
}

void queue_reserve_ids(struct queue *q, unsigned long last_id)
{
	if (last_id > q->last_id)
		q->last_id = last_id;
}
