/*
 * test_queue.c: times, ids, prompts, the queue store, the task lifecycle (backoff, transitions,
 * dependencies, archive), the state dir, both locks and the history.
 */
#define _GNU_SOURCE /* nftw, timegm */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "queue/history.h"
#include "queue/index.h"
#include "queue/lock.h"
#include "queue/queue.h"
#include "queue/statedir.h"
#include "queue/task.h"
#include "queue/timefmt.h"

#define NOW INT64_C(1800000000000)   /* 2027-01-15T08:00:00Z */
#define MAX_FDS 1024

struct fixture {
	char dir[256];
	int fd;
};

/* Descriptors open before any test ran (inherited from the runner): not ours to judge. */
static unsigned char baseline_fds[MAX_FDS];

static void msleep(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	const char *tmp = getenv("TMPDIR");
	char *cause = NULL;

	assert_non_null(f);
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	assert_true(snprintf(f->dir, sizeof f->dir, "%s/test_queue.XXXXXX", tmp) <
	            (int)sizeof f->dir);
	assert_non_null(mkdtemp(f->dir));
	f->fd = statedir_open(f->dir, 0, &cause);
	if (f->fd < 0)
		fail_msg("statedir_open: %s", cause);
	*state = f;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		chmod(path, 0700), rmdir(path);
	else
		unlink(path);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->fd);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void write_file(int dirfd, const char *name, const char *text, mode_t mode)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

/* The whole file, NUL-terminated (caller frees); NULL when it does not exist. */
static char *slurp(int dirfd, const char *name, size_t *len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	size_t cap = 4096, n = 0;
	char *buf;
	ssize_t r;

	if (fd < 0)
		return NULL;
	buf = malloc(cap);
	assert_non_null(buf);
	while ((r = read(fd, buf + n, cap - n - 1)) > 0) {
		n += (size_t)r;
		if (n + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	assert_true(r == 0);
	close(fd);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static ino_t inode_of(int dirfd, const char *name)
{
	struct stat st;

	assert_int_equal(fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	return st.st_ino;
}

static mode_t mode_of(int dirfd, const char *name)
{
	struct stat st;

	assert_int_equal(fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	return st.st_mode & 07777;
}

/* --- times ------------------------------------------------------------------------------ */

/* The expected value comes from timegm(3), an implementation independent of time_parse. */
static int64_t gm_ms(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
	                 .tm_hour = h, .tm_min = mi, .tm_sec = s };

	return (int64_t)timegm(&tm) * 1000;
}

static void test_time_round_trip(void **state)
{
	static const struct { const char *text; int y, mo, d, h, mi, s; } cases[] = {
		{ "1970-01-01T00:00:00Z", 1970, 1, 1, 0, 0, 0 },
		{ "2000-02-29T23:59:59Z", 2000, 2, 29, 23, 59, 59 },
		{ "2024-02-29T12:00:00Z", 2024, 2, 29, 12, 0, 0 },
		{ "2026-11-25T14:00:00Z", 2026, 11, 25, 14, 0, 0 },
		{ "2026-12-31T23:59:59Z", 2026, 12, 31, 23, 59, 59 },
		{ "2038-01-19T03:14:08Z", 2038, 1, 19, 3, 14, 8 },
		{ "2100-03-01T00:00:00Z", 2100, 3, 1, 0, 0, 0 },
	};
	char buf[TIME_RFC3339_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t ms = -1;

		if (time_parse(cases[i].text, &ms) != 0)
			fail_msg("'%s' rejected", cases[i].text);
		assert_int_equal(ms, gm_ms(cases[i].y, cases[i].mo, cases[i].d, cases[i].h,
		                           cases[i].mi, cases[i].s));
		assert_string_equal(time_format(ms, buf), cases[i].text);
	}
	/* Formatting drops the milliseconds, and the result parses back to whole seconds. */
	{
		int64_t ms = NOW + 999, back = 0;

		time_format(ms, buf);
		assert_int_equal(time_parse(buf, &back), 0);
		assert_int_equal(back, NOW);
	}
	/* Now formats and parses back to within a second. */
	{
		int64_t now = time_now_ms(), back = 0;

		assert_int_equal(time_parse(time_format(now, buf), &back), 0);
		assert_true(back <= now && now - back < 1000);
	}
}

static void test_time_offsets_fractions(void **state)
{
	static const struct { const char *text; int64_t delta_ms; } cases[] = {
		{ "2026-11-25T14:00:00Z", 0 },
		{ "2026-11-25T16:00:00+02:00", 0 },
		{ "2026-11-25T08:30:00-05:30", 0 },
		{ "2026-11-25T14:00:00+00:00", 0 },
		{ "2026-11-25T14:00:00-00:00", 0 },
		{ "2026-11-26T00:00:00+10:00", 0 },
		{ "2026-11-25t14:00:00z", 0 },
		{ "2026-11-25 14:00:00Z", 0 },
		{ "2026-11-25T14:00:00.5Z", 500 },
		{ "2026-11-25T14:00:00.123Z", 123 },
		{ "2026-11-25T14:00:00.123456789Z", 123 },
		{ "2026-11-25T14:00:00.007Z", 7 },
		{ "2026-11-25T16:00:00.250+02:00", 250 },
	};
	const int64_t base = gm_ms(2026, 11, 25, 14, 0, 0);

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t ms = -1;

		if (time_parse(cases[i].text, &ms) != 0)
			fail_msg("'%s' rejected", cases[i].text);
		if (ms != base + cases[i].delta_ms)
			fail_msg("'%s': %lld, want %lld", cases[i].text, (long long)ms,
			         (long long)(base + cases[i].delta_ms));
	}
}

static void test_time_invalid(void **state)
{
	static const char *const bad[] = {
		"", "2026", "2026-11-25", "2026-11-25T14:00Z", "2026-02-30T00:00:00Z",
		"2025-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
		"2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-01-00T00:00:00Z",
		"2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z", "2026-01-01T23:59:61Z",
		"2026-01-01T00:00:00", "2026-01-01T00:00:00Zjunk", "2026-01-01T00:00:00Z ",
		"2026-01-01T00:00:00.Z", "2026-01-01T00:00:00+0200", "2026-01-01T00:00:00+24:00",
		"2026-01-01T00:00:00+02:60", "2026-01-01X00:00:00Z", "26-01-01T00:00:00Z",
		"2026-1-01T00:00:00Z", " 2026-01-01T00:00:00Z", "2026-01-01T00:00:00+02",
		"abcd-ef-ghTij:kl:mnZ",
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t ms = 42;

		if (time_parse(bad[i], &ms) == 0)
			fail_msg("'%s' accepted as %lld", bad[i], (long long)ms);
	}
}

/* --- ids, priorities, prompts --------------------------------------------------------------- */

static void test_task_id(void **state)
{
	static const struct { const char *text; unsigned long id; } good[] = {
		{ "T-07", 7 }, { "t-7", 7 }, { "7", 7 }, { "T-7", 7 }, { "T-1", 1 },
		{ "T-100", 100 }, { "0012", 12 }, { "T-4294967296", 4294967296UL },
	};
	static const char *const bad[] = {
		"T-", "T-0", "X-1", "T-1a", "", "0", "-1", "T--1", "T-+1", "+1", " 7", "7 ",
		"T 7", "T_7", "TT-7", "T-99999999999999999999999", "T-0x1", "1e3",
	};
	char buf[TASK_ID_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		unsigned long id = 0;

		if (task_id_parse(good[i].text, &id) != 0)
			fail_msg("'%s' rejected", good[i].text);
		assert_int_equal(id, good[i].id);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		unsigned long id = 0;

		if (task_id_parse(bad[i], &id) == 0)
			fail_msg("'%s' accepted as %lu", bad[i], id);
	}
	assert_string_equal(task_id_format(1, buf), "T-01");
	assert_string_equal(task_id_format(7, buf), "T-07");
	assert_string_equal(task_id_format(99, buf), "T-99");
	assert_string_equal(task_id_format(100, buf), "T-100");
	assert_string_equal(task_id_format(123456, buf), "T-123456");
	/* Round trip, including the largest id. */
	for (unsigned long id = 1; id < 2000; id += 37) {
		unsigned long back = 0;

		assert_int_equal(task_id_parse(task_id_format(id, buf), &back), 0);
		assert_int_equal(back, id);
	}
	{
		unsigned long back = 0;

		assert_true(strlen(task_id_format(~0UL, buf)) < TASK_ID_MAX);
		assert_int_equal(task_id_parse(buf, &back), 0);
		assert_true(back == ~0UL);
	}
}

static void test_task_priority(void **state)
{
	static const struct { const char *text; int priority; } good[] = {
		{ "low", 0 }, { "normal", 1 }, { "high", 2 }, { "0", 0 }, { "5", 5 },
		{ "-3", -3 }, { "1000", 1000 }, { "-1000", -1000 },
	};
	static const char *const bad[] = {
		"", "1001", "-1001", "1.5", "2x", "urgent", "low ", "99999999999999999999", "-",
	};

	(void)state;
	assert_int_equal(TASK_PRIORITY_LOW, 0);
	assert_int_equal(TASK_PRIORITY_NORMAL, 1);
	assert_int_equal(TASK_PRIORITY_HIGH, 2);
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		int p = 12345;

		if (task_priority_parse(good[i].text, &p) != 0)
			fail_msg("'%s' rejected", good[i].text);
		assert_int_equal(p, good[i].priority);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int p = 12345;

		if (task_priority_parse(bad[i], &p) == 0)
			fail_msg("'%s' accepted as %d", bad[i], p);
		assert_int_equal(p, 12345);
	}
}

static void check_prompt(const char *p, size_t len, int want_ok, const char *why_part)
{
	const char *why = NULL;
	int rc = task_prompt_check(p, len, &why);

	if (want_ok) {
		if (rc != 0)
			fail_msg("prompt of %zu bytes rejected: %s", len, why);
		return;
	}
	if (rc != -1)
		fail_msg("prompt of %zu bytes accepted (want: %s)", len, why_part);
	assert_non_null(why);
	if (strstr(why, why_part) == NULL)
		fail_msg("reason '%s' does not mention '%s'", why, why_part);
}

#define PROMPT(lit, ok, why) check_prompt(lit, sizeof(lit) - 1, ok, why)

static void test_task_prompt(void **state)
{
	char *big = malloc(TASK_PROMPT_MAX + 2);

	(void)state;
	assert_non_null(big);
	PROMPT("", 0, "empty");
	PROMPT(" ", 0, "empty");
	PROMPT(" \t\n\r  ", 0, "empty");
	PROMPT("a\0b", 0, "NUL");
	PROMPT("\0", 0, "NUL");
	PROMPT("\xc3\x28", 0, "UTF-8");          /* bad continuation byte */
	PROMPT("\xc0\xaf", 0, "UTF-8");          /* overlong '/' */
	PROMPT("\xe0\x80\xaf", 0, "UTF-8");      /* overlong, three bytes */
	PROMPT("\xed\xa0\x80", 0, "UTF-8");      /* surrogate U+D800 */
	PROMPT("\xf4\x90\x80\x80", 0, "UTF-8");  /* above U+10FFFF */
	PROMPT("\xff", 0, "UTF-8");
	PROMPT("\x80", 0, "UTF-8");              /* lone continuation byte */
	PROMPT("ok \xe2\x82", 0, "UTF-8");       /* truncated at the end */
	PROMPT("x", 1, NULL);
	PROMPT("  summarise the logs  ", 1, NULL);
	PROMPT("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad", 1, NULL);
	PROMPT("\xef\xbf\xbf\xf4\x8f\xbf\xbf", 1, NULL); /* U+FFFF, U+10FFFF */

	memset(big, 'a', TASK_PROMPT_MAX + 1);
	big[TASK_PROMPT_MAX + 1] = '\0';
	check_prompt(big, TASK_PROMPT_MAX, 1, NULL);         /* 65536 bytes */
	check_prompt(big, TASK_PROMPT_MAX + 1, 0, "longer"); /* 65537 bytes */
	/* Multibyte characters right up to the limit. */
	for (size_t i = 0; i + 2 <= TASK_PROMPT_MAX; i += 2)
		big[i] = '\xc3', big[i + 1] = '\xa9';
	check_prompt(big, TASK_PROMPT_MAX, 1, NULL);
	free(big);
}

/* --- the queue ------------------------------------------------------------------------------ */

static struct task *new_task(const char *prompt, int priority, const char *model)
{
	struct task *t = task_new(prompt, priority, model, "test", 3, NOW);

	assert_non_null(t);
	return t;
}

/*
 * A write transaction that does not archive on commit: the tests' tasks finish around NOW, a
 * fixed time that the real clock will pass.  The archive tests set their own options.
 */
static struct queue *begin_flags(int dirfd, unsigned flags)
{
	struct queue *q = NULL;
	struct queue_options o;
	char *cause = NULL;
	int rc = queue_begin(dirfd, flags, &q, &cause);

	if (rc != QUEUE_OK)
		fail_msg("queue_begin: %d %s", rc, cause ? cause : "");
	queue_default_options(&o);
	o.archive_after_ms = 0;
	queue_set_options(q, &o);
	return q;
}

static struct queue *begin(int dirfd)
{
	return begin_flags(dirfd, 0);
}

static void commit(struct queue *q)
{
	char *cause = NULL;
	int rc = queue_commit(q, &cause);

	if (rc != QUEUE_OK)
		fail_msg("queue_commit: %d %s", rc, cause ? cause : "");
}

static struct queue *load(int dirfd)
{
	struct queue *q = NULL;
	char *cause = NULL;
	int rc = queue_load(dirfd, &q, &cause);

	if (rc != QUEUE_OK)
		fail_msg("queue_load: %d %s", rc, cause ? cause : "");
	return q;
}

/* Add a task (freed here: queue_add leaves it to the caller); returns its id. */
static unsigned long add(struct queue *q, struct task *t)
{
	char *cause = NULL;
	unsigned long id;
	int rc = queue_add(q, t, &cause);

	if (rc != QUEUE_OK)
		fail_msg("queue_add: %d %s", rc, cause ? cause : "");
	id = t->id;
	task_free(t);
	return id;
}

static void put(struct queue *q, const struct task *t)
{
	char *cause = NULL;
	int rc = queue_put(q, t, &cause);

	if (rc != QUEUE_OK)
		fail_msg("queue_put: %d %s", rc, cause ? cause : "");
}

static struct task *get(struct queue *q, unsigned long id)
{
	struct task *t = NULL;
	char *cause = NULL;
	int rc = queue_get(q, id, &t, &cause);

	if (rc != QUEUE_OK)
		fail_msg("queue_get(T-%02lu): %d %s", id, rc, cause ? cause : "");
	assert_non_null(t);
	assert_int_equal(t->id, id);
	return t;
}

/* The n-th line (1-based) of the journal, without its newline (caller frees). */
static char *journal_line(int dirfd, int n)
{
	char *text = slurp(dirfd, QUEUE_JOURNAL, NULL), *p = text, *line;

	assert_non_null(text);
	for (int i = 1; i < n && p; i++) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	assert_true(p != NULL && *p != '\0');
	line = strndup(p, strcspn(p, "\n"));
	free(text);
	return line;
}

static size_t journal_lines(int dirfd)
{
	char *text = slurp(dirfd, QUEUE_JOURNAL, NULL);
	size_t n = 0;

	if (!text)
		return 0;
	for (char *p = text; *p; p++)
		n += *p == '\n';
	free(text);
	return n;
}

static void append_raw(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_APPEND | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(close(fd), 0);
}

static off_t size_of(int dirfd, const char *name)
{
	struct stat st;

	assert_int_equal(fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	return st.st_size;
}

static void test_queue_empty(void **state)
{
	struct fixture *f = *state;
	struct queue *q = load(f->fd);
	struct task *t = (struct task *)&t;
	char *cause = NULL;

	assert_int_equal(queue_count(q), 0);
	assert_int_equal(queue_last_id(q), 0);
	assert_int_equal(queue_archived_count(q), 0);
	assert_null(queue_entry(q, 0));
	assert_null(queue_find(q, 1));
	assert_int_equal(queue_get(q, 1, &t, &cause), QUEUE_ENOENT);
	assert_non_null(cause);
	free(cause);
	queue_free(q);
	/* Reading creates nothing. */
	assert_int_equal(faccessat(f->fd, QUEUE_JOURNAL, F_OK, 0), -1);
	assert_int_equal(faccessat(f->fd, QUEUE_INDEX, F_OK, 0), -1);
	/* Nor does a transaction that commits nothing. */
	q = begin(f->fd);
	commit(q);
	queue_free(q);
	assert_int_equal(faccessat(f->fd, QUEUE_JOURNAL, F_OK, 0), -1);
	queue_free(NULL);
}

static void test_queue_add_commit_load(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	const struct queue_entry *e;
	struct task *t;
	char *line;

	q = begin(f->fd);
	assert_int_equal(add(q, new_task("write the report", 2, "claude-haiku-3-5")), 1);
	/* Visible inside the transaction before the commit. */
	assert_int_equal(queue_count(q), 1);
	t = get(q, 1);
	assert_string_equal(t->prompt, "write the report");
	task_free(t);
	commit(q);
	queue_free(q);
	assert_int_equal(mode_of(f->fd, QUEUE_JOURNAL), 0600);

	q = load(f->fd);
	assert_int_equal(queue_count(q), 1);
	assert_int_equal(queue_last_id(q), 1);
	e = queue_entry(q, 0);
	assert_non_null(e);
	assert_ptr_equal(queue_find(q, 1), e);
	assert_int_equal(e->id, 1);
	assert_int_equal(e->status, TASK_PENDING);
	assert_int_equal(e->priority, 2);
	assert_int_equal(e->added_at, NOW);
	assert_int_equal(e->has_model, 1);
	assert_int_equal(e->retries, 0);
	assert_int_equal(e->max_retries, 3);
	t = get(q, 1);
	assert_string_equal(t->prompt, "write the report");
	assert_int_equal(t->priority, 2);
	assert_string_equal(t->model, "claude-haiku-3-5");
	assert_string_equal(t->source, "test");
	assert_int_equal(t->status, TASK_PENDING);
	assert_int_equal(t->added_at, NOW);
	assert_true(cJSON_IsObject(t->metadata));
	assert_true(cJSON_IsArray(t->attempts));
	task_free(t);
	queue_free(q);

	/* The journal: a version 2 header, then the task in the DESIGN 5.2 shape. */
	assert_int_equal(journal_lines(f->fd), 2);
	line = journal_line(f->fd, 1);
	{
		cJSON *h = cJSON_Parse(line);

		assert_non_null(h);
		assert_int_equal(cJSON_GetObjectItem(h, "version")->valueint, 2);
		assert_true(cJSON_IsNumber(cJSON_GetObjectItem(h, "last_id")));
		cJSON_Delete(h);
	}
	free(line);
	line = journal_line(f->fd, 2);
	{
		cJSON *task = cJSON_Parse(line);

		assert_non_null(task);
		assert_string_equal(cJSON_GetObjectItem(task, "id")->valuestring, "T-01");
		assert_string_equal(cJSON_GetObjectItem(task, "status")->valuestring, "pending");
		assert_string_equal(cJSON_GetObjectItem(task, "added_at")->valuestring,
		                    "2027-01-15T08:00:00Z");
		assert_true(cJSON_IsNull(cJSON_GetObjectItem(task, "claimed_at")));
		cJSON_Delete(task);
	}
	free(line);
}

static void test_queue_ids_never_reused(void **state)
{
	struct fixture *f = *state;
	struct queue *q;

	q = begin(f->fd);
	for (unsigned long i = 1; i <= 3; i++)
		assert_int_equal(add(q, new_task("p", 1, NULL)), i);
	commit(q);
	queue_free(q);

	q = begin(f->fd);
	assert_int_equal(queue_last_id(q), 3);
	assert_int_equal(add(q, new_task("p4", 1, NULL)), 4);
	commit(q);
	queue_free(q);

	/* An append-only transaction counts on from the same place, with or without the index. */
	q = begin_flags(f->fd, QUEUE_APPEND_ONLY);
	assert_int_equal(add(q, new_task("p5", 1, NULL)), 5);
	commit(q);
	queue_free(q);
	unlinkat(f->fd, QUEUE_INDEX, 0);
	q = begin_flags(f->fd, QUEUE_APPEND_ONLY);
	assert_int_equal(add(q, new_task("p6", 1, NULL)), 6);
	commit(q);
	queue_free(q);

	q = load(f->fd);
	assert_int_equal(queue_count(q), 6);
	assert_int_equal(queue_last_id(q), 6);
	for (unsigned long id = 1; id <= 6; id++)
		assert_non_null(queue_find(q, id));
	{
		struct task *t = get(q, 4);

		assert_string_equal(t->prompt, "p4");
		task_free(t);
	}
	queue_free(q);

	/* Tasks gone from the journal (archived) do not give their ids back: last_id rules. */
	write_file(f->fd, QUEUE_JOURNAL,
	           "{\"version\":2,\"last_id\":7,\"archived_count\":5}\n"
	           "{\"id\":\"T-02\",\"prompt\":\"p\",\"status\":\"done\",\"added_at\":\"2026-01-01T00:00:00Z\"}\n",
	           0600);
	unlinkat(f->fd, QUEUE_INDEX, 0);
	q = begin(f->fd);
	assert_int_equal(queue_archived_count(q), 5);
	assert_int_equal(queue_last_id(q), 7);
	assert_int_equal(add(q, new_task("p8", 1, NULL)), 8);
	commit(q);
	queue_free(q);
	q = load(f->fd);
	assert_int_equal(queue_last_id(q), 8);
	assert_int_equal(queue_archived_count(q), 5);
	assert_int_equal(queue_count(q), 2);
	queue_free(q);
	/* A task line above the header's last_id raises it. */
	append_raw(f->fd, QUEUE_JOURNAL,
	           "{\"id\":\"T-20\",\"prompt\":\"p\",\"status\":\"pending\",\"added_at\":\"2026-01-01T00:00:00Z\"}\n");
	q = begin(f->fd);
	assert_int_equal(queue_last_id(q), 20);
	assert_int_equal(add(q, new_task("p21", 1, NULL)), 21);
	queue_free(q);   /* not committed: nothing happened */
	q = load(f->fd);
	assert_int_equal(queue_last_id(q), 20);
	assert_null(queue_find(q, 21));
	queue_free(q);
}

/* A task's latest line wins; earlier lines stay in the journal. */
static void test_queue_put_latest_wins(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	struct task *t;
	char *cause = NULL;

	q = begin(f->fd);
	add(q, new_task("first", 1, NULL));
	add(q, new_task("second", 1, NULL));
	commit(q);
	queue_free(q);

	q = begin(f->fd);
	t = get(q, 1);
	t->status = TASK_DONE;
	t->priority = 7;
	t->finished_at = NOW + 1000;
	put(q, t);
	task_free(t);
	assert_int_equal(queue_find(q, 1)->status, TASK_DONE);
	commit(q);
	queue_free(q);
	assert_int_equal(journal_lines(f->fd), 4);

	q = load(f->fd);
	assert_int_equal(queue_count(q), 2);
	assert_int_equal(queue_find(q, 1)->status, TASK_DONE);
	assert_int_equal(queue_find(q, 1)->priority, 7);
	assert_int_equal(queue_find(q, 2)->status, TASK_PENDING);
	t = get(q, 1);
	assert_int_equal(t->status, TASK_DONE);
	assert_int_equal(t->finished_at, NOW + 1000);
	assert_string_equal(t->prompt, "first");
	/* Only in a transaction. */
	assert_true(queue_put(q, t, &cause) < 0);
	assert_non_null(cause);
	free(cause);
	task_free(t);
	queue_free(q);
}

/* A writer killed mid-append leaves a line without '\n': not part of the queue. */
static void test_queue_torn_line(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	off_t committed;
	char *before, *after;

	q = begin(f->fd);
	add(q, new_task("kept", 1, NULL));
	commit(q);
	queue_free(q);
	committed = size_of(f->fd, QUEUE_JOURNAL);

	/* A whole, valid task line, only the newline missing. */
	append_raw(f->fd, QUEUE_JOURNAL,
	           "{\"id\":\"T-02\",\"prompt\":\"torn\",\"status\":\"pending\",\"added_at\":\"2026-01-01T00:00:00Z\"}");
	before = slurp(f->fd, QUEUE_JOURNAL, NULL);
	q = load(f->fd);
	assert_int_equal(queue_count(q), 1);
	assert_int_equal(queue_last_id(q), 1);
	assert_null(queue_find(q, 2));
	queue_free(q);
	after = slurp(f->fd, QUEUE_JOURNAL, NULL);
	assert_string_equal(before, after);   /* a reader does not repair */
	free(before);
	free(after);

	/* A writer cuts it off before appending: the id is handed out again, never printed. */
	append_raw(f->fd, QUEUE_JOURNAL, ",\"junk\":[1,2");
	q = begin(f->fd);
	assert_int_equal(size_of(f->fd, QUEUE_JOURNAL), committed);
	assert_int_equal(add(q, new_task("after the tear", 1, NULL)), 2);
	commit(q);
	queue_free(q);
	q = load(f->fd);
	assert_int_equal(queue_count(q), 2);
	{
		struct task *t = get(q, 2);

		assert_string_equal(t->prompt, "after the tear");
		task_free(t);
	}
	queue_free(q);
	assert_int_equal(journal_lines(f->fd), 3);
}

static int count_tmp_files(int dirfd)
{
	int dup_fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), n = 0;
	DIR *d;
	struct dirent *de;

	assert_true(dup_fd >= 0);
	d = fdopendir(dup_fd);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".tmp") != NULL)
			n++;
	closedir(d);
	return n;
}

/* statedir_replace with STATEDIR_BACKUP: the previous version's bytes stay as NAME.bak. */
static void test_statedir_replace_backup(void **state)
{
	struct fixture *f = *state;
	char *text;
	size_t len;

	assert_int_equal(statedir_replace(f->fd, "doc", "first version\n", 14,
	                                  STATEDIR_DURABLE | STATEDIR_BACKUP), 0);
	assert_int_equal(faccessat(f->fd, "doc.bak", F_OK, 0), -1);   /* nothing to back up yet */
	assert_int_equal(statedir_replace(f->fd, "doc", "second\n", 7,
	                                  STATEDIR_DURABLE | STATEDIR_BACKUP), 0);
	text = slurp(f->fd, "doc.bak", &len);
	assert_non_null(text);
	assert_int_equal(len, 14);
	assert_memory_equal(text, "first version\n", 14);
	free(text);
	text = slurp(f->fd, "doc", &len);
	assert_string_equal(text, "second\n");
	free(text);
	assert_int_equal(mode_of(f->fd, "doc"), 0600);
	assert_int_equal(mode_of(f->fd, "doc.bak"), 0600);
	/* Without the flag the backup is left alone. */
	assert_int_equal(statedir_replace(f->fd, "doc", "third\n", 6, 0), 0);
	text = slurp(f->fd, "doc.bak", &len);
	assert_int_equal(len, 14);
	free(text);
	assert_int_equal(count_tmp_files(f->fd), 0);
	/* A symlink in the way is replaced, its target untouched. */
	write_file(f->fd, "target", "victim", 0600);
	assert_int_equal(symlinkat("target", f->fd, "linked"), 0);
	assert_int_equal(statedir_replace(f->fd, "linked", "new", 3, 0), 0);
	text = slurp(f->fd, "target", NULL);
	assert_string_equal(text, "victim");
	free(text);
	assert_int_equal(count_tmp_files(f->fd), 0);
}

/*
 * Compaction: once the journal passes 1 MiB and is mostly superseded lines, a commit rewrites
 * it with the live lines only; the journal before that stays as queue.jsonl.bak.
 */
static void test_queue_compaction(void **state)
{
	struct fixture *f = *state;
	const size_t big = 60000;
	char *prompt = malloc(big + 1), *before = NULL;
	size_t before_len = 0;
	struct queue *q;
	ino_t ino;
	int round;

	assert_non_null(prompt);
	memset(prompt, 'p', big);
	prompt[big] = '\0';
	q = begin(f->fd);
	add(q, new_task(prompt, 1, NULL));
	add(q, new_task("small", 1, NULL));
	commit(q);
	queue_free(q);
	ino = inode_of(f->fd, QUEUE_JOURNAL);

	for (round = 1; round <= 40; round++) {
		struct task *t;

		free(before);
		before = slurp(f->fd, QUEUE_JOURNAL, &before_len);
		q = begin(f->fd);
		t = get(q, 1);
		t->priority = round;
		put(q, t);
		task_free(t);
		commit(q);
		queue_free(q);
		assert_int_equal(count_tmp_files(f->fd), 0);
		if (faccessat(f->fd, QUEUE_JOURNAL ".bak", F_OK, 0) == 0)
			break;
		assert_true(inode_of(f->fd, QUEUE_JOURNAL) == ino);   /* appended in place */
	}
	if (round > 40)
		fail_msg("no compaction after 40 rewrites of a 60 kB task");
	assert_true(before_len > 1024 * 1024 - 70000);
	{
		size_t bak_len, now_len;
		char *bak = slurp(f->fd, QUEUE_JOURNAL ".bak", &bak_len);
		char *now = slurp(f->fd, QUEUE_JOURNAL, &now_len);

		/* The backup is the journal as it was, with this commit's line appended. */
		assert_true(bak_len > before_len);
		assert_memory_equal(bak, before, before_len);
		assert_non_null(memchr(bak + before_len, '\n', bak_len - before_len));
		/* The new journal holds one line per task. */
		assert_true(now_len < 2 * big);
		assert_true(inode_of(f->fd, QUEUE_JOURNAL) != ino);
		assert_int_equal(journal_lines(f->fd), 3);
		assert_non_null(strstr(now, "\"last_id\":2"));
		assert_int_equal(mode_of(f->fd, QUEUE_JOURNAL), 0600);
		free(bak);
		free(now);
	}
	free(before);
	q = load(f->fd);
	assert_int_equal(queue_count(q), 2);
	assert_int_equal(queue_find(q, 1)->priority, round);
	{
		struct task *t = get(q, 1);

		assert_string_equal(t->prompt, prompt);
		task_free(t);
		t = get(q, 2);
		assert_string_equal(t->prompt, "small");
		task_free(t);
	}
	queue_free(q);
	q = begin(f->fd);
	assert_int_equal(add(q, new_task("next", 1, NULL)), 3);
	commit(q);
	queue_free(q);
	free(prompt);
}

/* The index is a cache: missing, damaged or stale, the same queue comes out. */
static void test_queue_index_is_a_cache(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	struct queue_entry want[4];

	q = begin(f->fd);
	add(q, new_task("a", 0, NULL));
	add(q, new_task("b", 2, "m"));
	add(q, new_task("c", 1, NULL));
	commit(q);
	queue_free(q);
	q = begin(f->fd);
	{
		struct task *t = get(q, 2);

		t->status = TASK_CANCELLED;
		put(q, t);
		task_free(t);
	}
	commit(q);
	queue_free(q);

	q = load(f->fd);
	assert_int_equal(queue_count(q), 3);
	for (size_t i = 0; i < 3; i++)
		want[i] = *queue_entry(q, i);
	queue_free(q);
	assert_int_equal(want[1].status, TASK_CANCELLED);

	for (int variant = 0; variant < 6; variant++) {
		char *idx = NULL, *j = NULL, *at;
		size_t idx_len = 0;

		if (variant >= 3) {
			/* A valid index for the journal as it is now, kept aside. */
			queue_free(load(f->fd));
			idx = slurp(f->fd, QUEUE_INDEX, &idx_len);
			assert_non_null(idx);
			assert_true(idx_len >= sizeof(struct index_header));
			assert_memory_equal(idx, INDEX_MAGIC, 8);
			j = slurp(f->fd, QUEUE_JOURNAL, NULL);
		}
		switch (variant) {
		case 0:
			unlinkat(f->fd, QUEUE_INDEX, 0);
			break;
		case 1:
			write_file(f->fd, QUEUE_INDEX, "garbage, not an index", 0600);
			break;
		case 2:
			write_file(f->fd, QUEUE_INDEX, "", 0600);
			break;
		case 3:
			/* The journal replaced (a new inode) with T-01 changed inside the covered bytes. */
			at = strstr(j, "\"priority\":0");
			assert_non_null(at);
			at[11] = '5';
			write_file(f->fd, "journal.new", j, 0600);
			assert_int_equal(renameat(f->fd, "journal.new", f->fd, QUEUE_JOURNAL), 0);
			want[0].priority = 5;
			break;
		case 4:
			/* The same inode edited in place, and an index written in another boot. */
			at = strstr(j, "\"priority\":5");
			assert_non_null(at);
			at[11] = '6';
			write_file(f->fd, QUEUE_JOURNAL, j, 0600);
			idx[offsetof(struct index_header, boot_id)] ^= 1;
			want[0].priority = 6;
			break;
		case 5:
			/* The same inode, shorter than the index covers: T-02's last line is gone. */
			at = strrchr(j, '\n');
			assert_non_null(at);
			*at = '\0';
			at = strrchr(j, '\n');
			assert_non_null(at);
			at[1] = '\0';
			write_file(f->fd, QUEUE_JOURNAL, j, 0600);
			want[1].status = TASK_PENDING;
			break;
		}
		if (idx) {
			int fd = openat(f->fd, QUEUE_INDEX, O_WRONLY | O_TRUNC | O_CLOEXEC);

			assert_true(fd >= 0);
			assert_int_equal(write(fd, idx, idx_len), (ssize_t)idx_len);
			close(fd);
		}
		free(idx);
		free(j);

		q = load(f->fd);
		assert_int_equal(queue_count(q), 3);
		for (size_t i = 0; i < 3; i++) {
			const struct queue_entry *e = queue_entry(q, i);

			if (e->id != want[i].id || e->status != want[i].status ||
			    e->priority != want[i].priority || e->added_at != want[i].added_at ||
			    e->has_model != want[i].has_model)
				fail_msg("variant %d: entry %zu: T-%02llu status %d priority %d", variant, i,
				         (unsigned long long)e->id, e->status, e->priority);
		}
		{
			struct task *t = get(q, 1);

			assert_string_equal(t->prompt, "a");
			assert_int_equal(t->priority, want[0].priority);
			task_free(t);
			t = get(q, 2);
			assert_int_equal(t->status, want[1].status);
			task_free(t);
		}
		queue_free(q);
	}

	/* Lines appended after the index was written are read from the tail. */
	q = load(f->fd);
	queue_free(q);
	append_raw(f->fd, QUEUE_JOURNAL,
	           "{\"id\":\"T-03\",\"prompt\":\"c2\",\"priority\":9,\"status\":\"pending\","
	           "\"added_at\":\"2027-01-15T08:00:00Z\"}\n");
	q = load(f->fd);
	assert_int_equal(queue_find(q, 3)->priority, 9);
	{
		struct task *t = get(q, 3);

		assert_string_equal(t->prompt, "c2");
		task_free(t);
	}
	queue_free(q);
}

static void test_queue_commit_outside_transaction(void **state)
{
	struct fixture *f = *state;
	struct queue *q = load(f->fd);
	struct task *t = new_task("p", 1, NULL);
	char *cause = NULL;

	assert_true(queue_add(q, t, &cause) < 0);
	assert_non_null(cause);
	free(cause);
	cause = NULL;
	task_free(t);
	assert_true(queue_commit(q, &cause) < 0);
	assert_non_null(cause);
	free(cause);
	queue_free(q);
	assert_int_equal(faccessat(f->fd, QUEUE_JOURNAL, F_OK, 0), -1);
}

#define HEADER "{\"version\":2,\"last_id\":3,\"archived_count\":0}\n"
#define TASK_OK(id) "{\"id\":\"" id "\",\"prompt\":\"p\",\"status\":\"pending\",\"added_at\":\"2026-01-01T00:00:00Z\"}\n"
#define TASK_WITH(fields) "{\"id\":\"T-01\",\"prompt\":\"p\",\"status\":\"pending\",\"added_at\":\"2026-01-01T00:00:00Z\"," fields "}\n"

static void test_queue_corrupt(void **state)
{
	static const struct { const char *name, *text, *cause; } docs[] = {
		{ "garbage", "this is not json\n", "line 1" },
		{ "empty file", "", "empty" },
		{ "only a torn header", "{\"version\":2,\"last_id\":0", "header" },
		{ "header not an object", "[]\n", "line 1" },
		{ "version 1 (queue.json)", "{\"version\":1,\"last_id\":0,\"tasks\":[]}\n", "version 1" },
		{ "version 3", "{\"version\":3,\"last_id\":0}\n", "version 3" },
		{ "version as string", "{\"version\":\"2\",\"last_id\":0}\n", "line 1" },
		{ "no last_id", "{\"version\":2}\n", "last_id" },
		{ "negative last_id", "{\"version\":2,\"last_id\":-1}\n", "last_id" },
		{ "task line garbage", HEADER "{not json}\n", "line 2" },
		{ "task line truncated but ended", HEADER "{\"id\":\"T-01\",\"pro\n", "line 2" },
		{ "empty line", HEADER "\n" TASK_OK("T-01"), "line 2" },
		{ "third line bad", HEADER TASK_OK("T-01") "[1]\n", "line 3" },
		{ "task not an object", HEADER "\"T-01\"\n", "not an object" },
		{ "priority as string", HEADER TASK_WITH("\"priority\":\"high\""), "\"priority\"" },
		{ "priority out of range", HEADER TASK_WITH("\"priority\":5000"), "\"priority\"" },
		{ "unknown status",
		  HEADER "{\"id\":\"T-01\",\"prompt\":\"p\",\"status\":\"paused\",\"added_at\":\"2026-01-01T00:00:00Z\"}\n",
		  "unknown status \"paused\"" },
		{ "bad time",
		  HEADER "{\"id\":\"T-01\",\"prompt\":\"p\",\"status\":\"pending\",\"added_at\":\"2026-02-30T00:00:00Z\"}\n",
		  "\"added_at\"" },
		{ "time without zone",
		  HEADER "{\"id\":\"T-01\",\"prompt\":\"p\",\"status\":\"pending\",\"added_at\":\"2026-01-01T00:00:00\"}\n",
		  "\"added_at\"" },
		{ "missing added_at", HEADER "{\"id\":\"T-01\",\"prompt\":\"p\",\"status\":\"pending\"}\n",
		  "\"added_at\"" },
		{ "missing prompt",
		  HEADER "{\"id\":\"T-01\",\"status\":\"pending\",\"added_at\":\"2026-01-01T00:00:00Z\"}\n",
		  "\"prompt\"" },
		{ "blank prompt",
		  HEADER "{\"id\":\"T-01\",\"prompt\":\" \",\"status\":\"pending\",\"added_at\":\"2026-01-01T00:00:00Z\"}\n",
		  "empty" },
		{ "bad id", HEADER TASK_OK("7"), "\"id\"" },
		{ "id zero", HEADER TASK_OK("T-00"), "\"id\"" },
		{ "metadata not an object", HEADER TASK_WITH("\"metadata\":[]"), "\"metadata\"" },
		{ "negative retries", HEADER TASK_WITH("\"retries\":-1"), "\"retries\"" },
		{ "attempts not an array", HEADER TASK_WITH("\"attempts\":{}"), "\"attempts\"" },
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		static const unsigned flags[] = { 0, QUEUE_APPEND_ONLY };
		struct queue *q = (struct queue *)&q;   /* must stay untouched on failure */
		char *cause = NULL, *after;
		ino_t ino;
		int rc;

		write_file(f->fd, QUEUE_JOURNAL, docs[i].text, 0600);
		unlinkat(f->fd, QUEUE_INDEX, 0);
		ino = inode_of(f->fd, QUEUE_JOURNAL);

		rc = queue_load(f->fd, &q, &cause);
		if (rc != QUEUE_ECORRUPT)
			fail_msg("%s: queue_load returned %d, want QUEUE_ECORRUPT", docs[i].name, rc);
		assert_ptr_equal(q, (struct queue *)&q);
		assert_non_null(cause);
		if (strstr(cause, docs[i].cause) == NULL || strstr(cause, QUEUE_JOURNAL) == NULL)
			fail_msg("%s: cause '%s' does not name '%s'", docs[i].name, cause, docs[i].cause);
		free(cause);

		for (size_t k = 0; k < 2; k++) {
			cause = NULL;
			rc = queue_begin(f->fd, flags[k], &q, &cause);
			if (rc != QUEUE_ECORRUPT)
				fail_msg("%s: queue_begin(%u) returned %d, want QUEUE_ECORRUPT",
				         docs[i].name, flags[k], rc);
			assert_non_null(cause);
			free(cause);
		}

		/* Never written over, truncated, backed up or indexed. */
		after = slurp(f->fd, QUEUE_JOURNAL, NULL);
		assert_non_null(after);
		assert_string_equal(after, docs[i].text);
		assert_true(inode_of(f->fd, QUEUE_JOURNAL) == ino);
		assert_int_equal(faccessat(f->fd, QUEUE_JOURNAL ".bak", F_OK, 0), -1);
		assert_int_equal(faccessat(f->fd, QUEUE_INDEX, F_OK, 0), -1);
		free(after);
	}
	/* The data lock was released by each failed queue_begin. */
	unlinkat(f->fd, QUEUE_JOURNAL, 0);
	queue_free(begin(f->fd));
}

static void test_queue_unknown_keys_kept(void **state)
{
	static const char line[] =
		"{\"id\":\"T-01\",\"prompt\":\"p\",\"status\":\"pending\",\"added_at\":\"2026-01-01T00:00:00Z\","
		"\"metadata\":{\"origin\":\"cron\",\"n\":[1,2]},"
		"\"x_future\":{\"a\":[1,2,{\"b\":null}]},\"zz_note\":\"keep me\"}";
	struct fixture *f = *state;
	struct queue *q;
	struct task *t;
	cJSON *in = cJSON_Parse(line), *out;
	char *last;
	char doc[1024];

	assert_non_null(in);
	snprintf(doc, sizeof doc, "{\"version\":2,\"last_id\":1,\"archived_count\":0}\n%s\n", line);
	write_file(f->fd, QUEUE_JOURNAL, doc, 0600);

	q = begin(f->fd);
	t = get(q, 1);
	assert_non_null(t->extra);
	t->priority = 2;          /* any change: the task is written again */
	put(q, t);
	task_free(t);
	commit(q);
	queue_free(q);
	assert_int_equal(journal_lines(f->fd), 3);

	last = journal_line(f->fd, 3);
	out = cJSON_Parse(last);
	assert_non_null(out);
	assert_int_equal(cJSON_GetObjectItem(out, "priority")->valueint, 2);
	assert_true(cJSON_Compare(cJSON_GetObjectItem(in, "x_future"),
	                          cJSON_GetObjectItem(out, "x_future"), 1));
	assert_true(cJSON_Compare(cJSON_GetObjectItem(in, "zz_note"),
	                          cJSON_GetObjectItem(out, "zz_note"), 1));
	assert_true(cJSON_Compare(cJSON_GetObjectItem(in, "metadata"),
	                          cJSON_GetObjectItem(out, "metadata"), 1));
	/* Known keys are not written twice. */
	{
		int n = 0;

		for (cJSON *e = out->child; e; e = e->next)
			n += strcmp(e->string, "prompt") == 0;
		assert_int_equal(n, 1);
	}
	cJSON_Delete(in);
	cJSON_Delete(out);
	free(last);

	/* And they survive the next reader too. */
	q = load(f->fd);
	t = get(q, 1);
	assert_non_null(t->extra);
	assert_non_null(cJSON_GetObjectItem(t->extra, "x_future"));
	assert_string_equal(cJSON_GetObjectItem(t->extra, "zz_note")->valuestring, "keep me");
	task_free(t);
	queue_free(q);
}

static const char *last_attempt(const struct task *t, const char *key)
{
	int n = cJSON_GetArraySize(t->attempts);
	const cJSON *a = n > 0 ? cJSON_GetArrayItem(t->attempts, n - 1) : NULL;
	const cJSON *v = a ? cJSON_GetObjectItem(a, key) : NULL;

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * T-01: claim lapsed.  T-02: claim still valid.  T-03: lease lapsed, retries left.
 * T-04: lease lapsed on the last retry.  T-05: lease still valid.  T-06: done.
 */
static void plant_expiry_tasks(int dirfd)
{
	struct queue *q = begin(dirfd);
	struct task *t;

	t = new_task("p1", 1, NULL);
	t->status = TASK_CLAIMED, t->claimed_at = NOW - 600000, t->claim_expires_at = NOW - 1;
	t->retries = 1;
	add(q, t);
	t = new_task("p2", 1, NULL);
	t->status = TASK_CLAIMED, t->claimed_at = NOW - 1000, t->claim_expires_at = NOW + 299000;
	add(q, t);
	t = new_task("p3", 1, NULL);
	t->status = TASK_RUNNING, t->started_at = NOW - 3600000, t->lease_expires_at = NOW - 1;
	t->retries = 1, t->max_retries = 3;
	assert_int_equal(task_attempt_begin(t, t->started_at), 0);
	add(q, t);
	t = new_task("p4", 1, NULL);
	t->status = TASK_RUNNING, t->started_at = NOW - 3600000, t->lease_expires_at = NOW - 1;
	t->retries = 2, t->max_retries = 3;
	assert_int_equal(task_attempt_begin(t, t->started_at), 0);
	add(q, t);
	t = new_task("p5", 1, NULL);
	t->status = TASK_RUNNING, t->started_at = NOW - 1000, t->lease_expires_at = NOW + 1000;
	assert_int_equal(task_attempt_begin(t, t->started_at), 0);
	add(q, t);
	t = new_task("p6", 1, NULL);
	t->status = TASK_DONE, t->finished_at = NOW - 5000;
	add(q, t);
	commit(q);
	queue_free(q);
}

static void check_expired_entries(const struct queue *q)
{
	assert_int_equal(queue_find(q, 1)->status, TASK_PENDING);
	assert_int_equal(queue_find(q, 1)->retries, 1);
	assert_int_equal(queue_find(q, 2)->status, TASK_CLAIMED);
	assert_int_equal(queue_find(q, 3)->status, TASK_PENDING);
	assert_int_equal(queue_find(q, 3)->retries, 2);
	assert_int_equal(queue_find(q, 4)->status, TASK_BLOCKED);
	assert_int_equal(queue_find(q, 4)->retries, 3);
	assert_int_equal(queue_find(q, 5)->status, TASK_RUNNING);
	assert_int_equal(queue_find(q, 6)->status, TASK_DONE);
}

static void check_expired_tasks(struct queue *q)
{
	struct task *t;

	t = get(q, 1);
	assert_int_equal(t->status, TASK_PENDING);
	assert_int_equal(t->retries, 1);                 /* a lapsed claim is not an attempt */
	assert_int_equal(t->claim_expires_at, 0);
	assert_int_equal(cJSON_GetArraySize(t->attempts), 0);
	task_free(t);

	t = get(q, 2);
	assert_int_equal(t->status, TASK_CLAIMED);
	assert_int_equal(t->claim_expires_at, NOW + 299000);
	task_free(t);

	t = get(q, 3);
	assert_int_equal(t->status, TASK_PENDING);
	assert_int_equal(t->retries, 2);
	assert_int_equal(cJSON_GetArraySize(t->attempts), 1);
	assert_string_equal(last_attempt(t, "outcome"), "lease_expired");
	assert_non_null(last_attempt(t, "ended_at"));
	assert_string_equal(t->last_error, "lease_expired");
	assert_null(t->blocked_reason);
	task_free(t);

	t = get(q, 4);
	assert_int_equal(t->status, TASK_BLOCKED);
	assert_int_equal(t->retries, 3);
	assert_string_equal(last_attempt(t, "outcome"), "lease_expired");
	assert_non_null(t->blocked_reason);
	assert_non_null(strstr(t->blocked_reason, "lease_expired"));
	assert_int_equal(t->finished_at, NOW);
	task_free(t);

	t = get(q, 5);
	assert_int_equal(t->status, TASK_RUNNING);
	task_free(t);
	t = get(q, 6);
	assert_int_equal(t->status, TASK_DONE);
	task_free(t);
}

static void test_queue_expire(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	char *cause = NULL, *before, *after;

	plant_expiry_tasks(f->fd);
	before = slurp(f->fd, QUEUE_JOURNAL, NULL);

	/* A read-only view: the entries and the tasks read show the expiry; nothing is written. */
	q = load(f->fd);
	assert_int_equal(queue_expire(q, NOW, &cause), 3);
	check_expired_entries(q);
	check_expired_tasks(q);
	queue_free(q);
	after = slurp(f->fd, QUEUE_JOURNAL, NULL);
	assert_string_equal(before, after);
	free(after);
	free(before);

	/* In a transaction the changes are recorded. */
	q = begin(f->fd);
	assert_int_equal(queue_expire(q, NOW, &cause), 3);
	check_expired_entries(q);
	commit(q);
	queue_free(q);
	assert_int_equal(journal_lines(f->fd), 1 + 6 + 3);

	q = load(f->fd);
	check_expired_entries(q);
	check_expired_tasks(q);
	/* Nothing left to expire at the same moment. */
	assert_int_equal(queue_expire(q, NOW, &cause), 0);
	queue_free(q);
	assert_null(cause);
}

/* --- the lifecycle: backoff, transitions, dependencies, eligibility, archive ------------------ */

/* A small deterministic generator for the jitter values. */
static uint32_t xorshift32(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* min * 2^(n-1), capped at max, computed independently of task_backoff_delay. */
static int64_t ref_ceiling(int64_t min, int64_t max, int n)
{
	long double c;

	if (n <= 1 || min == 0)
		return min < max ? min : max;
	if (n - 1 >= 64)
		return max;
	c = (long double)min * (long double)(UINT64_C(1) << (n - 1));
	return c >= (long double)max ? max : (int64_t)c;
}

static void test_task_backoff_bounds(void **state)
{
	static const struct task_backoff cases[] = {
		{ 30000, 3600000 }, { 2000, 4000 }, { 1000, 1000 }, { 0, 0 }, { 0, 5000 },
		{ 1, INT64_MAX }, { 250, 1000 }, { 3, 7 }, { INT64_MAX / 2 + 1, INT64_MAX },
		{ 1000, INT64_MAX / 3 },
	};
	static const int huge[] = { 1000, 1000000, INT32_MAX };
	uint32_t seed = 0x9e3779b9u;

	(void)state;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		const struct task_backoff *b = &cases[c];
		int64_t prev_top = b->min_ms;

		for (int n = -1; n <= 70 + (int)(sizeof huge / sizeof huge[0]); n++) {
			int failures = n <= 70 ? n : huge[n - 71];
			int64_t ceil = ref_ceiling(b->min_ms, b->max_ms, failures);
			int64_t lo = task_backoff_delay(b, failures, 0);
			int64_t top = task_backoff_delay(b, failures, UINT32_MAX);

			/* r = 0 gives the minimum; the largest r comes close to the ceiling. */
			if (lo != b->min_ms)
				fail_msg("min %lld max %lld n %d: r=0 gave %lld", (long long)b->min_ms,
				         (long long)b->max_ms, failures, (long long)lo);
			if (top > ceil || (long double)top + 1 < (long double)b->min_ms +
			                                             0.999L * (long double)(ceil - b->min_ms))
				fail_msg("min %lld max %lld n %d: r=max gave %lld, ceiling %lld",
				         (long long)b->min_ms, (long long)b->max_ms, failures, (long long)top,
				         (long long)ceil);
			/* The ceiling never falls as failures grow. */
			if (top < prev_top)
				fail_msg("min %lld max %lld n %d: %lld after %lld", (long long)b->min_ms,
				         (long long)b->max_ms, failures, (long long)top, (long long)prev_top);
			prev_top = top;
			for (int k = 0; k < 300; k++) {
				int64_t d = task_backoff_delay(b, failures, xorshift32(&seed));

				if (d < b->min_ms || d > ceil)
					fail_msg("min %lld max %lld n %d: %lld outside [%lld, %lld]",
					         (long long)b->min_ms, (long long)b->max_ms, failures,
					         (long long)d, (long long)b->min_ms, (long long)ceil);
			}
		}
	}
	/* The documented default: 30 s, 60 s, 120 s ... up to an hour. */
	{
		const struct task_backoff b = { 30000, 3600000 };

		assert_int_equal(task_backoff_delay(&b, 1, UINT32_MAX), 30000);
		assert_true(task_backoff_delay(&b, 2, UINT32_MAX) > 59000);
		assert_true(task_backoff_delay(&b, 2, UINT32_MAX) <= 60000);
		assert_true(task_backoff_delay(&b, 8, UINT32_MAX) <= 3600000);
		assert_true(task_backoff_delay(&b, 8, UINT32_MAX) > 3590000);
		assert_int_equal(task_backoff_delay(&b, 8, UINT32_MAX / 2 + 1),
		                 30000 + (3600000 - 30000) / 2);
	}
}

/* A task in state s with the fields a task in that state has. */
static struct task *task_in_state(enum task_status s)
{
	struct task *t = task_new("transition", 1, NULL, "test", 3, NOW - 600000);

	assert_non_null(t);
	t->id = 7;
	t->status = s;
	t->updated_at = NOW - 60000;
	switch (s) {
	case TASK_PENDING:      /* waiting out the backoff of one failed attempt */
		t->retries = 1;
		t->eligible_at = NOW + 5000;
		t->last_error = strdup("earlier");
		assert_int_equal(task_attempt_begin(t, NOW - 90000), 0);
		assert_int_equal(task_attempt_end(t, NOW - 80000, "failed", "earlier"), 0);
		break;
	case TASK_CLAIMED:
		t->claimed_at = NOW - 1000;
		t->claim_expires_at = NOW + 299000;
		break;
	case TASK_RUNNING:
		t->started_at = NOW - 5000;
		t->lease_expires_at = NOW + 1795000;
		assert_int_equal(task_attempt_begin(t, t->started_at), 0);
		break;
	case TASK_DONE:
		t->finished_at = NOW - 1000;
		t->result = strdup("ok");
		break;
	case TASK_BLOCKED:
		t->retries = 3;
		t->finished_at = NOW - 1000;
		t->last_error = strdup("boom");
		t->blocked_reason = strdup("failed 3 of 3 attempts");
		break;
	case TASK_CANCELLED:
	case TASK_SKIPPED:
		t->finished_at = NOW - 1000;
		break;
	default:
		fail_msg("no such state %d", (int)s);
	}
	return t;
}

static int apply_verb(struct task *t, enum task_verb v, const struct task_backoff *b)
{
	switch (v) {
	case TASK_VERB_DONE: return task_done(t, NOW, "the result");
	case TASK_VERB_FAIL: return task_fail(t, NOW, "failed", "it broke", b);
	case TASK_VERB_RETRY: return task_retry(t, NOW);
	case TASK_VERB_CANCEL: return task_cancel(t, NOW, "not needed");
	case TASK_VERB_SKIP: return task_skip(t, NOW);
	}
	return -2;
}

static char *task_text(const struct task *t)
{
	cJSON *j = task_to_json(t);
	char *text;

	assert_non_null(j);
	text = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	assert_non_null(text);
	return text;
}

static const char *attempt_field(const struct task *t, int i, const char *key)
{
	const cJSON *a = cJSON_GetArrayItem(t->attempts, i);
	const cJSON *v = a ? cJSON_GetObjectItem(a, key) : NULL;

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Every state x every verb against the table documented in task.h. */
static void test_task_transition_table(void **state)
{
#define S(x) (1u << (x))
	static const struct {
		enum task_verb verb;
		const char *name;
		unsigned allowed;
		enum task_status to;
		const char *outcome;          /* of an attempt the verb closes */
	} verbs[] = {
		{ TASK_VERB_DONE, "done", S(TASK_PENDING) | S(TASK_CLAIMED) | S(TASK_RUNNING), TASK_DONE, "done" },
		{ TASK_VERB_FAIL, "fail", S(TASK_CLAIMED) | S(TASK_RUNNING), TASK_PENDING, "failed" },
		{ TASK_VERB_RETRY, "retry",
		  S(TASK_PENDING) | S(TASK_BLOCKED) | S(TASK_CANCELLED) | S(TASK_SKIPPED), TASK_PENDING, NULL },
		{ TASK_VERB_CANCEL, "cancel",
		  S(TASK_PENDING) | S(TASK_CLAIMED) | S(TASK_RUNNING) | S(TASK_BLOCKED), TASK_CANCELLED, "cancelled" },
		{ TASK_VERB_SKIP, "skip", S(TASK_PENDING) | S(TASK_CLAIMED) | S(TASK_BLOCKED), TASK_SKIPPED, NULL },
	};
#undef S
	const struct task_backoff b = { 2000, 4000 };
	int allowed_pairs = 0;

	(void)state;
	for (size_t v = 0; v < sizeof verbs / sizeof verbs[0]; v++) {
		for (int s = 0; s < TASK__STATUS_COUNT; s++) {
			struct task *t = task_in_state((enum task_status)s);
			int want = (verbs[v].allowed >> s) & 1u;
			int attempts = cJSON_GetArraySize(t->attempts), retries = t->retries;
			char *before = task_text(t), *after;
			int rc;

			if (task_can(t, verbs[v].verb) != want)
				fail_msg("task_can(%s, %s) = %d", task_status_name((enum task_status)s),
				         verbs[v].name, !want);
			rc = apply_verb(t, verbs[v].verb, &b);
			after = task_text(t);
			if (!want) {
				if (rc != -1)
					fail_msg("%s on %s: %d, want -1", verbs[v].name,
					         task_status_name((enum task_status)s), rc);
				if (strcmp(before, after) != 0)
					fail_msg("%s on %s was refused but changed the task:\n%s\n%s",
					         verbs[v].name, task_status_name((enum task_status)s), before, after);
			} else {
				allowed_pairs++;
				if (rc != 0 || t->status != verbs[v].to)
					fail_msg("%s on %s: rc %d, now %s", verbs[v].name,
					         task_status_name((enum task_status)s), rc, task_status_name(t->status));
				assert_int_equal(t->updated_at, NOW);
				assert_int_equal(t->claimed_at, 0);
				assert_int_equal(t->claim_expires_at, 0);
				assert_int_equal(t->lease_expires_at, 0);
				if (t->status == TASK_DONE || t->status == TASK_CANCELLED || t->status == TASK_SKIPPED)
					assert_int_equal(t->finished_at, NOW);
				/* No attempt is left open. */
				for (int i = 0; i < cJSON_GetArraySize(t->attempts); i++)
					assert_non_null(attempt_field(t, i, "ended_at"));
				if (s == TASK_RUNNING || (s == TASK_CLAIMED && verbs[v].verb == TASK_VERB_FAIL)) {
					/* The run (or the claim that failed to start) is one closed attempt. */
					assert_int_equal(cJSON_GetArraySize(t->attempts), 1);
					assert_string_equal(attempt_field(t, 0, "ended_at"), "2027-01-15T08:00:00Z");
					assert_string_equal(attempt_field(t, 0, "outcome"), verbs[v].outcome);
				} else {
					assert_int_equal(cJSON_GetArraySize(t->attempts), attempts);
				}
				switch (verbs[v].verb) {
				case TASK_VERB_DONE:
					assert_string_equal(t->result, "the result");
					break;
				case TASK_VERB_FAIL:
					assert_int_equal(t->retries, retries + 1);
					assert_string_equal(t->last_error, "it broke");
					assert_string_equal(attempt_field(t, 0, "error"), "it broke");
					assert_int_equal(t->eligible_at, NOW + 2000);   /* failure 1: min */
					assert_int_equal(t->finished_at, 0);
					break;
				case TASK_VERB_RETRY:
					assert_int_equal(t->retries, 0);
					assert_int_equal(t->eligible_at, 0);
					assert_int_equal(t->finished_at, 0);
					assert_null(t->blocked_reason);
					break;
				case TASK_VERB_CANCEL:
					if (s == TASK_RUNNING)
						assert_string_equal(attempt_field(t, 0, "error"), "not needed");
					break;
				case TASK_VERB_SKIP:
					break;
				}
				/* The new state is a valid task: it survives its JSON form. */
				{
					cJSON *j = cJSON_Parse(after);
					char *cause = NULL;
					struct task *back = task_from_json(j, &cause);

					if (!back)
						fail_msg("%s on %s: %s", verbs[v].name,
						         task_status_name((enum task_status)s), cause);
					assert_int_equal(back->status, t->status);
					task_free(back);
					cJSON_Delete(j);
				}
			}
			cJSON_free(before);
			cJSON_free(after);
			task_free(t);
		}
	}
	assert_int_equal(allowed_pairs, 3 + 2 + 4 + 4 + 3);
}

/* fail on a claimed task (it never started) counts one attempt; the last one blocks. */
static void test_task_fail_claimed(void **state)
{
	const struct task_backoff b = { 30000, 3600000 };
	struct task *t = task_in_state(TASK_CLAIMED);

	(void)state;
	t->max_retries = 2;
	assert_int_equal(task_fail(t, NOW, "failed", "spawn failed", &b), 0);
	assert_int_equal(t->status, TASK_PENDING);
	assert_int_equal(t->retries, 1);
	assert_int_equal(cJSON_GetArraySize(t->attempts), 1);
	assert_string_equal(attempt_field(t, 0, "started_at"), "2027-01-15T08:00:00Z");
	assert_string_equal(attempt_field(t, 0, "ended_at"), "2027-01-15T08:00:00Z");
	assert_string_equal(attempt_field(t, 0, "outcome"), "failed");
	assert_string_equal(attempt_field(t, 0, "error"), "spawn failed");
	assert_string_equal(t->last_error, "spawn failed");
	assert_int_equal(t->eligible_at, NOW + 30000);       /* the first failure waits min */
	assert_null(t->blocked_reason);

	/* claimed again, fails again without an error text: the outcome is the error */
	t->status = TASK_CLAIMED;
	t->claimed_at = NOW + 40000;
	t->claim_expires_at = NOW + 340000;
	assert_int_equal(task_fail(t, NOW + 50000, "timeout", "", &b), 0);
	assert_int_equal(t->status, TASK_BLOCKED);
	assert_int_equal(t->retries, 2);
	assert_int_equal(cJSON_GetArraySize(t->attempts), 2);
	assert_string_equal(attempt_field(t, 1, "outcome"), "timeout");
	assert_string_equal(attempt_field(t, 1, "error"), "timeout");
	assert_string_equal(t->last_error, "timeout");
	assert_int_equal(t->eligible_at, 0);
	assert_int_equal(t->finished_at, NOW + 50000);
	assert_int_equal(t->claim_expires_at, 0);
	assert_non_null(t->blocked_reason);
	assert_non_null(strstr(t->blocked_reason, "2 of 2"));
	assert_non_null(strstr(t->blocked_reason, "timeout"));
	assert_non_null(strstr(t->blocked_reason, "governor retry T-07"));
	task_free(t);

	/* A lapsed claim returns to pending and is no attempt; a lapsed lease is one. */
	t = task_in_state(TASK_CLAIMED);
	assert_int_equal(task_expire(t, NOW + 298000, &b), 0);
	assert_int_equal(task_expire(t, NOW + 299000, &b), 1);
	assert_int_equal(t->status, TASK_PENDING);
	assert_int_equal(t->retries, 0);
	assert_int_equal(cJSON_GetArraySize(t->attempts), 0);
	task_free(t);
	t = task_in_state(TASK_RUNNING);
	assert_int_equal(task_expire(t, NOW + 1795000, &b), 1);
	assert_int_equal(t->status, TASK_PENDING);
	assert_int_equal(t->retries, 1);
	assert_string_equal(attempt_field(t, 0, "outcome"), "lease_expired");
	assert_int_equal(t->eligible_at, NOW + 1795000 + 30000);
	task_free(t);
}

static unsigned long add_in_state(struct queue *q, enum task_status s, unsigned long after,
                                  int64_t eligible_at)
{
	struct task *t = new_task("dep", 1, NULL);

	t->status = s;
	t->after = after;
	t->eligible_at = eligible_at;
	switch (s) {
	case TASK_CLAIMED:
		t->claimed_at = NOW - 1000, t->claim_expires_at = NOW + 299000;
		break;
	case TASK_RUNNING:
		t->started_at = NOW - 1000, t->lease_expires_at = NOW + 1000000;
		assert_int_equal(task_attempt_begin(t, t->started_at), 0);
		break;
	case TASK_PENDING:
		break;
	default:
		t->finished_at = NOW - 1000;
	}
	return add(q, t);
}

/*
 * T-01 cancelled <- T-02 <- T-03 <- T-12 (a chain); T-04 done <- T-05; T-06 lease lapses on
 * its last attempt <- T-07; T-08 skipped <- T-09; T-10 running <- T-11; T-14 <- T-13 (the
 * dependant has the lower id) with T-14 <- T-01.
 */
static void plant_dependants(int dirfd)
{
	struct queue *q = begin(dirfd);
	struct task *t;

	assert_int_equal(add_in_state(q, TASK_CANCELLED, 0, 0), 1);
	assert_int_equal(add_in_state(q, TASK_PENDING, 1, 0), 2);
	assert_int_equal(add_in_state(q, TASK_PENDING, 2, 0), 3);
	assert_int_equal(add_in_state(q, TASK_DONE, 0, 0), 4);
	assert_int_equal(add_in_state(q, TASK_PENDING, 4, 0), 5);
	t = new_task("lapsing", 1, NULL);
	t->status = TASK_RUNNING, t->started_at = NOW - 3600000, t->lease_expires_at = NOW - 1;
	t->retries = 2, t->max_retries = 3;
	assert_int_equal(task_attempt_begin(t, t->started_at), 0);
	assert_int_equal(add(q, t), 6);
	assert_int_equal(add_in_state(q, TASK_PENDING, 6, 0), 7);
	assert_int_equal(add_in_state(q, TASK_SKIPPED, 0, 0), 8);
	assert_int_equal(add_in_state(q, TASK_PENDING, 8, 0), 9);
	assert_int_equal(add_in_state(q, TASK_RUNNING, 0, 0), 10);
	assert_int_equal(add_in_state(q, TASK_PENDING, 10, 0), 11);
	assert_int_equal(add_in_state(q, TASK_PENDING, 3, 0), 12);
	assert_int_equal(add_in_state(q, TASK_PENDING, 14, 0), 13);
	assert_int_equal(add_in_state(q, TASK_PENDING, 1, 0), 14);
	commit(q);
	queue_free(q);
}

static void check_dependants(struct queue *q)
{
	static const struct { unsigned long id; enum task_status status; const char *reason; } want[] = {
		{ 2, TASK_BLOCKED, "depends on T-01, which is cancelled" },
		{ 3, TASK_BLOCKED, "depends on T-02, which is blocked" },
		{ 5, TASK_PENDING, NULL },
		{ 6, TASK_BLOCKED, NULL },
		{ 7, TASK_BLOCKED, "depends on T-06, which is blocked" },
		{ 9, TASK_BLOCKED, "depends on T-08, which is skipped" },
		{ 11, TASK_PENDING, NULL },
		{ 12, TASK_BLOCKED, "depends on T-03, which is blocked" },
		{ 13, TASK_BLOCKED, "depends on T-14, which is blocked" },
		{ 14, TASK_BLOCKED, "depends on T-01, which is cancelled" },
	};

	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		struct task *t = get(q, want[i].id);

		if (queue_find(q, want[i].id)->status != want[i].status || t->status != want[i].status)
			fail_msg("T-%02lu: entry %s, task %s, want %s", want[i].id,
			         task_status_name((enum task_status)queue_find(q, want[i].id)->status),
			         task_status_name(t->status), task_status_name(want[i].status));
		if (want[i].reason) {
			assert_non_null(t->blocked_reason);
			assert_string_equal(t->blocked_reason, want[i].reason);
			assert_int_equal(t->finished_at, NOW);
			assert_int_equal(queue_find(q, want[i].id)->deadline, NOW);
		}
		task_free(t);
	}
}

static void test_queue_expire_dependants(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	char *cause = NULL, *before, *after;
	int64_t until;

	plant_dependants(f->fd);
	before = slurp(f->fd, QUEUE_JOURNAL, NULL);

	/* A read-only view: the entries and the tasks read agree; nothing is written. */
	q = load(f->fd);
	assert_int_equal(queue_expire(q, NOW, &cause), 1 + 7);
	check_dependants(q);
	assert_int_equal(queue_eligible(q, queue_find(q, 5), NOW, &until), 1);
	assert_int_equal(queue_eligible(q, queue_find(q, 11), NOW, &until), 0);
	assert_int_equal(until, 0);
	queue_free(q);
	after = slurp(f->fd, QUEUE_JOURNAL, NULL);
	assert_string_equal(before, after);
	free(after);
	free(before);

	/* In a transaction the blocks are recorded, each with its reason. */
	q = begin(f->fd);
	assert_int_equal(queue_expire(q, NOW, &cause), 1 + 7);
	check_dependants(q);
	commit(q);
	queue_free(q);
	assert_int_equal(journal_lines(f->fd), 1 + 14 + 8);
	q = load(f->fd);
	check_dependants(q);
	assert_int_equal(queue_expire(q, NOW, &cause), 0);
	queue_free(q);
	assert_null(cause);
}

static void test_queue_eligible(void **state)
{
	struct fixture *f = *state;
	struct queue *q = begin(f->fd);
	int64_t until = -1;

	assert_int_equal(add_in_state(q, TASK_PENDING, 0, 0), 1);
	assert_int_equal(add_in_state(q, TASK_PENDING, 0, NOW + 5000), 2);
	assert_int_equal(add_in_state(q, TASK_PENDING, 0, NOW - 1000), 3);
	assert_int_equal(add_in_state(q, TASK_PENDING, 5, 0), 4);
	assert_int_equal(add_in_state(q, TASK_RUNNING, 0, 0), 5);
	assert_int_equal(add_in_state(q, TASK_DONE, 0, 0), 6);
	assert_int_equal(add_in_state(q, TASK_PENDING, 6, 0), 7);
	assert_int_equal(add_in_state(q, TASK_PENDING, 99, 0), 8);      /* archived (or gone) */
	assert_int_equal(add_in_state(q, TASK_PENDING, 5, NOW + 5000), 9);
	assert_int_equal(add_in_state(q, TASK_PENDING, 6, NOW + 5000), 10);
	assert_int_equal(add_in_state(q, TASK_CLAIMED, 0, 0), 11);
	assert_int_equal(add_in_state(q, TASK_PENDING, 11, 0), 12);
	commit(q);
	queue_free(q);

	q = load(f->fd);
	static const struct { unsigned long id; int64_t now; int eligible; int64_t until; } rows[] = {
		{ 1, NOW, 1, 0 },
		{ 2, NOW, 0, NOW + 5000 },              /* time alone holds it back */
		{ 2, NOW + 4999, 0, NOW + 5000 },
		{ 2, NOW + 5000, 1, 0 },
		{ 3, NOW, 1, 0 },
		{ 4, NOW, 0, 0 },                       /* its dependency is running */
		{ 5, NOW, 0, 0 },                       /* not pending */
		{ 6, NOW, 0, 0 },
		{ 7, NOW, 1, 0 },                       /* its dependency is done */
		{ 8, NOW, 1, 0 },
		{ 9, NOW, 0, 0 },                       /* the dependency holds it, not the time */
		{ 9, NOW + 9000, 0, 0 },
		{ 10, NOW, 0, NOW + 5000 },
		{ 10, NOW + 5000, 1, 0 },
		{ 11, NOW, 0, 0 },
		{ 12, NOW, 0, 0 },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		int got = queue_eligible(q, queue_find(q, rows[i].id), rows[i].now, &until);

		if (got != rows[i].eligible || until != rows[i].until)
			fail_msg("T-%02lu at NOW%+lld: eligible %d until %lld, want %d until %lld",
			         rows[i].id, (long long)(rows[i].now - NOW), got, (long long)until,
			         rows[i].eligible, (long long)rows[i].until);
	}
	queue_free(q);
}

/* Lines of a file in the archive dir (0 when it does not exist). */
static size_t archive_lines(int dirfd, const char *month, const char *must_contain)
{
	char name[64];
	char *text;
	size_t n = 0;

	snprintf(name, sizeof name, QUEUE_ARCHIVE_DIR "/%s.jsonl", month);
	text = slurp(dirfd, name, NULL);
	if (!text)
		return 0;
	if (must_contain)
		assert_non_null(strstr(text, must_contain));
	for (char *line = text, *nl; *line; line = nl + 1) {
		cJSON *j;
		char *cause = NULL;
		struct task *t;

		nl = strchr(line, '\n');
		assert_non_null(nl);
		*nl = '\0';
		j = cJSON_Parse(line);
		assert_non_null(j);
		t = task_from_json(j, &cause);
		if (!t)
			fail_msg("%s: %s", name, cause);
		assert_true(t->status == TASK_DONE || t->status == TASK_BLOCKED ||
		            t->status == TASK_CANCELLED || t->status == TASK_SKIPPED);
		task_free(t);
		cJSON_Delete(j);
		n++;
	}
	free(text);
	return n;
}

static void finish(struct queue *q, unsigned long id, enum task_status s, int64_t at)
{
	struct task *t = get(q, id);

	t->status = s;
	t->finished_at = at;
	put(q, t);
	task_free(t);
}

static void test_queue_archive(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	char *cause = NULL;
	const int64_t before = gm_ms(2026, 11, 21, 0, 0, 0);

	q = begin(f->fd);
	for (int i = 1; i <= 8; i++)
		add(q, new_task("archivable", 1, NULL));
	commit(q);
	queue_free(q);
	q = begin(f->fd);
	finish(q, 1, TASK_DONE, gm_ms(2026, 10, 31, 23, 59, 59));
	finish(q, 2, TASK_BLOCKED, gm_ms(2026, 11, 1, 0, 0, 0));
	finish(q, 3, TASK_CANCELLED, gm_ms(2026, 11, 15, 0, 0, 0));
	finish(q, 4, TASK_SKIPPED, gm_ms(2026, 11, 20, 23, 59, 59));
	finish(q, 7, TASK_DONE, before);                     /* not before `before` */
	{
		struct task *t = get(q, 6);

		t->status = TASK_RUNNING, t->started_at = NOW, t->lease_expires_at = NOW + 1000;
		put(q, t);
		task_free(t);
		t = get(q, 8);
		t->status = TASK_CLAIMED, t->claimed_at = NOW, t->claim_expires_at = NOW + 1000;
		put(q, t);
		task_free(t);
	}
	commit(q);
	queue_free(q);

	/* In an append-only transaction: refused. */
	q = begin_flags(f->fd, QUEUE_APPEND_ONLY);
	if (queue_count(q) == 0) {
		assert_true(queue_archive(q, before, &cause) < 0);
		assert_non_null(cause);
		free(cause);
		cause = NULL;
	}
	queue_free(q);

	/* A change staged in the same transaction is committed first, and archived with the rest. */
	q = begin(f->fd);
	finish(q, 5, TASK_DONE, gm_ms(2026, 11, 2, 0, 0, 0));
	assert_int_equal(queue_archive(q, before, &cause), 5);
	assert_int_equal(queue_archived_count(q), 5);
	assert_int_equal(queue_count(q), 3);
	assert_null(queue_find(q, 1));
	assert_non_null(queue_find(q, 7));
	queue_free(q);

	assert_int_equal(archive_lines(f->fd, "2026-10", "\"id\":\"T-01\""), 1);
	assert_int_equal(archive_lines(f->fd, "2026-11", "\"id\":\"T-05\""), 4);
	assert_int_equal(mode_of(f->fd, QUEUE_ARCHIVE_DIR), 0700);
	assert_int_equal(mode_of(f->fd, QUEUE_ARCHIVE_DIR "/2026-11.jsonl"), 0600);
	/* The archive keeps the task's latest line, not an earlier one. */
	{
		char *text = slurp(f->fd, QUEUE_ARCHIVE_DIR "/2026-10.jsonl", NULL);

		assert_non_null(strstr(text, "\"status\":\"done\""));
		free(text);
	}
	/* The journal holds the rest; the header keeps the count and the last id. */
	assert_int_equal(journal_lines(f->fd), 1 + 3);
	{
		char *h = journal_line(f->fd, 1);

		assert_non_null(strstr(h, "\"last_id\":8"));
		assert_non_null(strstr(h, "\"archived_count\":5"));
		free(h);
	}

	/* Across a reload, with or without the index; ids go on from 8. */
	for (int pass = 0; pass < 2; pass++) {
		if (pass)
			unlinkat(f->fd, QUEUE_INDEX, 0);
		q = load(f->fd);
		assert_int_equal(queue_archived_count(q), 5);
		assert_int_equal(queue_last_id(q), 8);
		assert_int_equal(queue_count(q), 3);
		queue_free(q);
	}
	q = begin(f->fd);
	assert_int_equal(queue_archive(q, before, &cause), 0);   /* nothing more */
	assert_int_equal(add(q, new_task("next", 1, NULL)), 9);
	commit(q);
	queue_free(q);
	q = begin(f->fd);
	assert_int_equal(queue_archive(q, before + 1, &cause), 1);    /* T-07 now */
	assert_int_equal(queue_archived_count(q), 6);
	queue_free(q);
	assert_int_equal(archive_lines(f->fd, "2026-11", "\"id\":\"T-07\""), 5);
	q = load(f->fd);
	assert_int_equal(queue_archived_count(q), 6);
	assert_int_equal(queue_last_id(q), 9);
	assert_int_equal(queue_count(q), 3);                        /* 6, 8, 9 */
	queue_free(q);
	assert_null(cause);
}

/* Commits archive what finished archive_after_ms ago (by the real clock); 0 = never. */
static void test_queue_archive_on_commit(void **state)
{
	struct fixture *f = *state;
	struct queue_options o;
	struct queue *q;

	q = begin(f->fd);                     /* archive_after_ms = 0 */
	for (int i = 1; i <= 3; i++)
		add(q, new_task("p", 1, NULL));
	commit(q);
	queue_free(q);
	q = begin(f->fd);
	finish(q, 1, TASK_DONE, gm_ms(2020, 1, 2, 3, 4, 5));
	finish(q, 2, TASK_DONE, time_now_ms() - 1000);
	commit(q);
	queue_free(q);
	assert_true(faccessat(f->fd, QUEUE_ARCHIVE_DIR, F_OK, AT_SYMLINK_NOFOLLOW) < 0);
	q = load(f->fd);
	assert_int_equal(queue_count(q), 3);
	queue_free(q);

	/* The default, 7 days: the next commit moves T-01 only. */
	q = begin(f->fd);
	queue_default_options(&o);
	queue_set_options(q, &o);
	finish(q, 3, TASK_CANCELLED, time_now_ms());
	commit(q);
	assert_int_equal(queue_archived_count(q), 1);
	queue_free(q);
	assert_int_equal(archive_lines(f->fd, "2020-01", "\"id\":\"T-01\""), 1);
	q = load(f->fd);
	assert_int_equal(queue_count(q), 2);
	assert_null(queue_find(q, 1));
	assert_int_equal(queue_archived_count(q), 1);
	queue_free(q);
}

/* Tasks from more months than one archive pass has seen before: each line lands once. */
static void test_queue_archive_many_months(void **state)
{
	struct fixture *f = *state;
	struct queue *q;
	char *cause = NULL;
	const int months = 80;

	q = begin(f->fd);
	for (int i = 1; i <= months + 1; i++)
		add(q, new_task("old", 1, NULL));
	commit(q);
	queue_free(q);
	q = begin(f->fd);
	for (int i = 1; i <= months; i++)
		finish(q, (unsigned long)i, TASK_DONE, gm_ms(2010 + (i - 1) / 12, 1 + (i - 1) % 12, 3, 0, 0, 0));
	/* a second task in the last month */
	finish(q, (unsigned long)months + 1, TASK_DONE,
	       gm_ms(2010 + (months - 1) / 12, 1 + (months - 1) % 12, 4, 0, 0, 0));
	assert_int_equal(queue_archive(q, gm_ms(2020, 1, 1, 0, 0, 0), &cause), months + 1);
	queue_free(q);
	for (int i = 1; i <= months; i++) {
		char month[16];

		snprintf(month, sizeof month, "%04d-%02d", 2010 + (i - 1) / 12, 1 + (i - 1) % 12);
		if (archive_lines(f->fd, month, NULL) != (size_t)(i == months ? 2 : 1))
			fail_msg("archive/%s.jsonl has %zu lines", month, archive_lines(f->fd, month, NULL));
	}
}

struct history_scan {
	long count, first, last;
	int ordered;
};

static int scan_history(const char *line, size_t len, void *arg)
{
	struct history_scan *s = arg;
	cJSON *j = cJSON_ParseWithLength(line, len);
	const cJSON *n = cJSON_GetObjectItem(j, "n");

	assert_true(cJSON_IsNumber(n));
	if (s->count == 0)
		s->first = (long)n->valuedouble;
	else if ((long)n->valuedouble != s->last + 1 && n->valuedouble != -1)
		s->ordered = 0;
	s->last = (long)n->valuedouble;
	s->count++;
	cJSON_Delete(j);
	return 0;
}

/* The history log rotates past HISTORY_MAX_BYTES; history_each reads both files in order. */
static void test_history_rotation(void **state)
{
	struct fixture *f = *state;
	char line[1024], pad[1000];
	long n = 0, rotated_at[2] = { -1, -1 };
	int rotations = 0;
	struct history_scan scan = { 0, 0, 0, 1 };
	struct stat st;

	memset(pad, 'x', sizeof pad - 1);
	pad[sizeof pad - 1] = '\0';
	while (rotations < 2) {
		int len = snprintf(line, sizeof line, "{\"n\":%ld,\"pad\":\"%.950s\"}", n, pad);

		assert_int_equal(history_append(f->fd, line, (size_t)len), 0);
		if (fstatat(f->fd, HISTORY_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			assert_int_equal(errno, ENOENT);           /* just rotated */
			rotated_at[rotations++] = n;
			assert_true(size_of(f->fd, HISTORY_OLD_FILE) > (off_t)HISTORY_MAX_BYTES);
			assert_true(size_of(f->fd, HISTORY_OLD_FILE) < (off_t)HISTORY_MAX_BYTES + 2048);
			assert_int_equal(mode_of(f->fd, HISTORY_OLD_FILE), 0600);
		} else {
			assert_true(st.st_size <= (off_t)HISTORY_MAX_BYTES);
		}
		n++;
		assert_true(n < 20000);
	}
	/* A fresh log after the rotation; the lines before the first rotation are gone. */
	assert_int_equal(history_append(f->fd, "{\"n\":-1}", 8), 0);
	assert_int_equal(size_of(f->fd, HISTORY_FILE), 9);
	assert_int_equal(history_each(f->fd, scan_history, &scan), 0);
	assert_true(scan.ordered);
	assert_int_equal(scan.first, rotated_at[0] + 1);
	assert_int_equal(scan.last, -1);
	assert_int_equal(scan.count, rotated_at[1] - rotated_at[0] + 1);
}

/* --- the state dir ---------------------------------------------------------------------------- */

static void test_statedir_openat(void **state)
{
	struct fixture *f = *state;
	int fd;

	/* A regular file of ours, 0600: fine, and O_CLOEXEC is added. */
	write_file(f->fd, "good", "x", 0600);
	fd = statedir_openat(f->fd, "good", O_RDONLY);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	/* Created files are 0600 whatever the caller asks. */
	fd = statedir_openat(f->fd, "new", O_RDWR | O_CREAT);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(mode_of(f->fd, "new"), 0600);

	assert_int_equal(symlinkat("good", f->fd, "link"), 0);
	errno = 0;
	assert_int_equal(statedir_openat(f->fd, "link", O_RDONLY), -1);
	assert_int_equal(errno, ELOOP);
	errno = 0;
	assert_int_equal(statedir_openat(f->fd, "link", O_RDWR | O_CREAT), -1);
	assert_int_equal(errno, ELOOP);

	write_file(f->fd, "open", "x", 0666);
	errno = 0;
	assert_int_equal(statedir_openat(f->fd, "open", O_RDONLY), -1);
	assert_int_equal(errno, EPERM);
	write_file(f->fd, "groupw", "x", 0620);
	errno = 0;
	assert_int_equal(statedir_openat(f->fd, "groupw", O_RDONLY), -1);
	assert_int_equal(errno, EPERM);
	write_file(f->fd, "readable", "x", 0644);   /* readable by others is not a threat */
	fd = statedir_openat(f->fd, "readable", O_RDONLY);
	assert_true(fd >= 0);
	close(fd);

	assert_int_equal(mkdirat(f->fd, "subdir", 0700), 0);
	errno = 0;
	assert_int_equal(statedir_openat(f->fd, "subdir", O_RDONLY), -1);
	assert_true(errno == EINVAL || errno == EISDIR);
}

static void test_statedir_queue_file_refused(void **state)
{
	struct fixture *f = *state;
	struct queue *q = NULL;
	char *cause = NULL;

	write_file(f->fd, "elsewhere.jsonl", HEADER TASK_OK("T-01"), 0600);
	assert_int_equal(symlinkat("elsewhere.jsonl", f->fd, QUEUE_JOURNAL), 0);
	assert_int_equal(queue_load(f->fd, &q, &cause), QUEUE_EIO);
	assert_non_null(strstr(cause, "symbolic link"));
	free(cause);
	cause = NULL;
	assert_int_equal(queue_begin(f->fd, 0, &q, &cause), QUEUE_EIO);
	assert_non_null(strstr(cause, "symbolic link"));
	free(cause);
	cause = NULL;
	assert_int_equal(unlinkat(f->fd, QUEUE_JOURNAL, 0), 0);

	write_file(f->fd, QUEUE_JOURNAL, HEADER TASK_OK("T-01"), 0666);
	assert_int_equal(queue_load(f->fd, &q, &cause), QUEUE_EIO);
	assert_non_null(strstr(cause, "chmod"));
	free(cause);
}

static void test_statedir_open(void **state)
{
	struct fixture *f = *state;
	char path[512], link[512];
	char *cause = NULL;
	struct stat st;
	int fd;

	/* Created with missing parents, 0700. */
	snprintf(path, sizeof path, "%s/a/b/state", f->dir);
	fd = statedir_open(path, 1, &cause);
	if (fd < 0)
		fail_msg("statedir_open: %s", cause);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	/* Opening it again, existing, is fine. */
	fd = statedir_open(path, 1, &cause);
	assert_true(fd >= 0);
	close(fd);

	/* Missing and not to be created. */
	snprintf(path, sizeof path, "%s/missing", f->dir);
	assert_int_equal(statedir_open(path, 0, &cause), -1);
	assert_non_null(strstr(cause, "No such file"));
	free(cause);
	cause = NULL;
	assert_int_equal(faccessat(f->fd, "missing", F_OK, 0), -1);

	/* Writable by others. */
	snprintf(path, sizeof path, "%s/open", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chmod(path, 0777), 0);
	assert_int_equal(statedir_open(path, 0, &cause), -1);
	assert_non_null(cause);
	assert_non_null(strstr(cause, "chmod"));
	assert_non_null(strstr(cause, path));
	free(cause);
	cause = NULL;
	assert_int_equal(chmod(path, 0770), 0);
	assert_int_equal(statedir_open(path, 0, &cause), -1);
	free(cause);
	cause = NULL;

	/* A symlink in place of the dir. */
	snprintf(path, sizeof path, "%s/a", f->dir);
	snprintf(link, sizeof link, "%s/link", f->dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(statedir_open(link, 0, &cause), -1);
	assert_non_null(cause);
	free(cause);
	cause = NULL;

	assert_int_equal(statedir_open("", 1, &cause), -1);
	assert_non_null(cause);
	free(cause);
}

/* --- the data lock ---------------------------------------------------------------------------- */

static int wait_child(pid_t pid, long ms)
{
	int status = 0;

	for (long waited = 0; waited <= ms; waited += 5) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1;
		msleep(5);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* Poll fd for reading; 1 when readable within ms. */
static int readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int rc;

	while ((rc = poll(&p, 1, ms)) < 0 && errno == EINTR)
		;
	return rc > 0;
}

struct child_report {
	int rc;
	size_t len;
	int64_t got_ms;
};

static void test_data_lock_blocks(void **state)
{
	struct fixture *f = *state;
	int go[2], report[2];
	struct child_report rep = { 0 };
	struct queue *q;
	int64_t released_ms;
	pid_t pid;

	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	assert_int_equal(pipe2(report, O_CLOEXEC), 0);
	/* Fork before taking the lock, so the child shares no descriptor of it. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct queue *cq = NULL;
		char *cause = NULL, c;
		struct child_report r = { 0 };

		close(go[1]);
		close(report[0]);
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		r.rc = queue_begin(f->fd, 0, &cq, &cause);
		r.got_ms = mono_ms();
		if (r.rc == QUEUE_OK) {
			r.len = queue_count(cq);
			queue_free(cq);
		}
		free(cause);
		_exit(write(report[1], &r, sizeof r) == sizeof r ? 0 : 3);
	}
	close(go[0]);
	close(report[1]);

	q = begin(f->fd);
	assert_int_equal(write(go[1], "g", 1), 1);
	/* The child is now waiting in queue_begin: it must not get the lock while we hold it. */
	assert_false(readable(report[0], 300));
	add(q, new_task("written under the lock", 1, NULL));
	commit(q);
	released_ms = mono_ms();
	queue_free(q);

	assert_true(readable(report[0], 1500));
	assert_int_equal(read(report[0], &rep, sizeof rep), (ssize_t)sizeof rep);
	assert_int_equal(wait_child(pid, 1000), 0);
	assert_int_equal(rep.rc, QUEUE_OK);
	assert_true(rep.got_ms >= released_ms);
	assert_int_equal(rep.len, 1);     /* it saw our commit: it read after we let go */
	close(go[1]);
	close(report[0]);
}

/* Readers take no lock: a load during a transaction sees the last committed version. */
static void test_data_lock_readers_free(void **state)
{
	struct fixture *f = *state;
	struct queue *w, *r;

	w = begin(f->fd);
	add(w, new_task("first", 1, NULL));
	commit(w);
	queue_free(w);
	w = begin(f->fd);
	add(w, new_task("not yet", 1, NULL));
	r = load(f->fd);
	assert_int_equal(queue_count(r), 1);
	queue_free(r);
	commit(w);
	r = load(f->fd);
	assert_int_equal(queue_count(r), 2);
	queue_free(r);
	queue_free(w);
}

/* --- the decision lock ------------------------------------------------------------------------ */

static void test_lock_busy_and_release(void **state)
{
	struct fixture *f = *state;
	struct lock *a = NULL, *b = NULL;
	struct lock_holder h = { 0 };
	char *cause = NULL;
	int64_t before = time_now_ms();

	assert_int_equal(lock_acquire(f->fd, 60000, &a, &h, &cause), LOCK_ACQUIRED);
	assert_non_null(a);
	assert_int_equal(mode_of(f->fd, LOCK_FILE), 0600);

	h = (struct lock_holder){ 0 };
	assert_int_equal(lock_acquire(f->fd, 60000, &b, &h, &cause), LOCK_BUSY);
	assert_null(b);
	assert_int_equal(h.pid, getpid());
	assert_true(h.acquired_at >= before - 1000 && h.acquired_at <= time_now_ms() + 1000);
	assert_int_equal(h.expires_at - h.acquired_at, 60000);
	/* A NULL holder is fine. */
	assert_int_equal(lock_acquire(f->fd, 60000, &b, NULL, &cause), LOCK_BUSY);

	lock_release(a);
	assert_int_equal(lock_acquire(f->fd, 60000, &b, &h, &cause), LOCK_ACQUIRED);
	assert_non_null(b);
	lock_release(b);
	lock_release(NULL);
}

static void test_lock_ttl_break(void **state)
{
	struct fixture *f = *state;
	struct lock *old = NULL, *fresh = NULL, *third = NULL;
	struct lock_holder h = { 0 };
	char *cause = NULL, *text;
	char want[32];
	ino_t ino;

	int64_t t0 = mono_ms();
	int rc;

	assert_int_equal(lock_acquire(f->fd, 50, &old, &h, &cause), LOCK_ACQUIRED);
	ino = inode_of(f->fd, LOCK_FILE);
	/* Before the TTL it is busy (checked only when this ran fast enough to be sure)... */
	rc = lock_acquire(f->fd, 60000, &fresh, &h, &cause);
	if (mono_ms() - t0 < 40)
		assert_int_equal(rc, LOCK_BUSY);
	if (rc == LOCK_ACQUIRED)
		lock_release(fresh), fresh = NULL;
	msleep(100);
	/* ...after it the holder (alive, never released) is broken. */
	assert_int_equal(lock_acquire(f->fd, 60000, &fresh, &h, &cause), LOCK_ACQUIRED);
	assert_non_null(fresh);
	assert_true(inode_of(f->fd, LOCK_FILE) != ino);
	text = slurp(f->fd, LOCK_FILE, NULL);
	snprintf(want, sizeof want, "pid=%ld ", (long)getpid());
	assert_true(strncmp(text, want, strlen(want)) == 0);
	free(text);
	assert_int_equal(mode_of(f->fd, LOCK_FILE), 0600);
	assert_int_equal(count_tmp_files(f->fd), 0);
	/* The new holder's TTL is its own: the next caller is refused. */
	assert_int_equal(lock_acquire(f->fd, 60000, &third, &h, &cause), LOCK_BUSY);
	assert_null(third);
	lock_release(old);
	assert_int_equal(lock_acquire(f->fd, 60000, &third, &h, &cause), LOCK_BUSY);
	lock_release(fresh);
	assert_int_equal(lock_acquire(f->fd, 60000, &third, &h, &cause), LOCK_ACQUIRED);
	lock_release(third);
}

static void test_lock_holder_killed(void **state)
{
	struct fixture *f = *state;
	struct lock *l = NULL;
	struct lock_holder h = { 0 };
	char *cause = NULL, c = 0;
	int ready[2];
	pid_t pid;

	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct lock *cl = NULL;
		char *ccause = NULL;

		close(ready[0]);
		if (lock_acquire(f->fd, 60000, &cl, NULL, &ccause) != LOCK_ACQUIRED)
			_exit(2);
		if (write(ready[1], "r", 1) != 1)
			_exit(3);
		for (int i = 0; i < 1000; i++)   /* at most 10 s; the parent kills us long before */
			msleep(10);
		_exit(4);
	}
	close(ready[1]);
	assert_true(readable(ready[0], 2000));
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);

	assert_int_equal(lock_acquire(f->fd, 60000, &l, &h, &cause), LOCK_BUSY);
	assert_int_equal(h.pid, pid);
	assert_int_equal(kill(pid, SIGKILL), 0);
	{
		int status = wait_child(pid, 2000);

		assert_true(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	}
	/* Its TTL (60 s) has not run out, yet the lock is free at once. */
	assert_int_equal(lock_acquire(f->fd, 60000, &l, &h, &cause), LOCK_ACQUIRED);
	lock_release(l);
}

/* Every descriptor a module holds on to is close-on-exec: a spawned task inherits no lock. */
static void test_lock_cloexec(void **state)
{
	struct fixture *f = *state;
	struct lock *l = NULL;
	struct queue *q = NULL;
	char *cause = NULL;
	int checked = 0;

	assert_int_equal(lock_acquire(f->fd, 60000, &l, NULL, &cause), LOCK_ACQUIRED);
	q = begin(f->fd);
	add(q, new_task("p", 1, NULL));
	commit(q);       /* the transaction now holds the journal open too */
	for (int fd = 3; fd < MAX_FDS; fd++) {
		int flags = fcntl(fd, F_GETFD);

		if (flags < 0 || baseline_fds[fd])
			continue;
		if (!(flags & FD_CLOEXEC))
			fail_msg("descriptor %d is not close-on-exec", fd);
		checked++;
	}
	/* The state dir, the decision lock, the data lock and the journal at least. */
	assert_true(checked >= 4);
	queue_free(q);
	lock_release(l);
}

/* --- history ---------------------------------------------------------------------------------- */

static void test_history_append(void **state)
{
	static const char *const lines[] = {
		"{\"status\":\"NO_TASKS\"}", "{\"status\":\"READY\",\"task\":\"T-01\"}", "{}",
	};
	struct fixture *f = *state;
	char *text, *p;
	size_t len, n = 0;

	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(history_append(f->fd, lines[i], strlen(lines[i])), 0);
		text = slurp(f->fd, HISTORY_FILE, NULL);
		n = 0;
		for (p = text; *p; p++)
			n += *p == '\n';
		assert_int_equal(n, i + 1);
		free(text);
	}
	text = slurp(f->fd, HISTORY_FILE, &len);
	p = text;
	for (size_t i = 0; i < 3; i++) {
		size_t l = strlen(lines[i]);

		assert_memory_equal(p, lines[i], l);
		assert_int_equal(p[l], '\n');
		p += l + 1;
	}
	assert_int_equal((size_t)(p - text), len);
	free(text);
	assert_int_equal(mode_of(f->fd, HISTORY_FILE), 0600);

	/* A history file others may write to is refused. */
	assert_int_equal(fchmodat(f->fd, HISTORY_FILE, 0622, 0), 0);
	errno = 0;
	assert_int_equal(history_append(f->fd, "x", 1), -1);
	assert_int_equal(errno, EPERM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_round_trip),
		cmocka_unit_test(test_time_offsets_fractions),
		cmocka_unit_test(test_time_invalid),
		cmocka_unit_test(test_task_id),
		cmocka_unit_test(test_task_priority),
		cmocka_unit_test(test_task_prompt),
		cmocka_unit_test_setup_teardown(test_queue_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_add_commit_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_ids_never_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_put_latest_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_torn_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statedir_replace_backup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_compaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_index_is_a_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_commit_outside_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_unknown_keys_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_expire, setup, teardown),
		cmocka_unit_test(test_task_backoff_bounds),
		cmocka_unit_test(test_task_transition_table),
		cmocka_unit_test(test_task_fail_claimed),
		cmocka_unit_test_setup_teardown(test_queue_expire_dependants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_eligible, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_archive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_archive_on_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_archive_many_months, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statedir_openat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statedir_queue_file_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statedir_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_lock_blocks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_lock_readers_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_busy_and_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_ttl_break, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_holder_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_cloexec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_append, setup, teardown),
	};

	for (int fd = 3; fd < MAX_FDS; fd++)
		baseline_fds[fd] = fcntl(fd, F_GETFD) >= 0;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
