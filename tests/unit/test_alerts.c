/* test_alerts.c: the alert outbox: its parser and format, dedupe, cap, marks, texts, the files. */
#define _GNU_SOURCE /* nftw */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "governor/alerts.h"
#include "queue/statedir.h"
#include "queue/timefmt.h"

static char dir[256];
static int statefd = -1;

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(p);
	else
		unlink(p);
	return 0;
}

/* A fresh state dir for each test that touches files. */
static int setup_dir(void **state)
{
	char *cause = NULL;
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/test_alerts.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	statefd = statedir_open(dir, 1, &cause);
	free(cause);
	return statefd < 0 ? -1 : 0;
}

static int teardown_dir(void **state)
{
	(void)state;
	if (statefd >= 0)
		close(statefd);
	statefd = -1;
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static struct alert make(const char *id, const char *text)
{
	struct alert a = { .kind = ALERT_STARVED, .at = 1764079200000 };
	snprintf(a.id, sizeof a.id, "%s", id);
	snprintf(a.text, sizeof a.text, "%s", text);
	return a;
}

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* --- the parser ------------------------------------------------------------------------------ */

#define GOOD "{\"id\":\"a\",\"kind\":\"starved\",\"at\":\"2026-11-25T14:00:00Z\",\"text\":\"t\",\"sent\":false}"

static void test_parse_good(void **state)
{
	static const char *const good[] = {
		"", "  \n", "[]", "[\n]\n", "[" GOOD "]",
		"[" GOOD ",{\"id\":\"b\",\"kind\":\"future_kind\",\"at\":\"2026-11-25T14:00:00.5+01:00\","
		"\"text\":\"\",\"sent\":true,\"sent_at\":\"x\",\"unknown\":[1,{}]}]",
	};
	static const int sizes[] = { 0, 0, 0, 0, 1, 2 };
	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		cJSON *box = NULL;
		char *cause = NULL;
		if (alerts_parse(good[i], strlen(good[i]), &box, &cause) != 0)
			fail_msg("refused <%s>: %s", good[i], cause);
		assert_true(cJSON_IsArray(box));
		assert_int_equal(cJSON_GetArraySize(box), sizes[i]);
		cJSON_Delete(box);
	}
}

static void test_parse_bad(void **state)
{
	static const struct { const char *text; const char *why; } bad[] = {
		{ "{}", "not a JSON array" },
		{ "null", "not a JSON array" },
		{ "[", "not valid JSON" },
		{ "[1]", "alert 1: not an object" },
		{ "[{}]", "alert 1: no \"id\"" },
		{ "[" GOOD ",{\"id\":\"\",\"kind\":\"k\",\"at\":\"2026-11-25T14:00:00Z\",\"text\":\"t\",\"sent\":false}]",
		  "alert 2: no \"id\"" },
		{ "[{\"id\":\"a\",\"kind\":1,\"at\":\"2026-11-25T14:00:00Z\",\"text\":\"t\",\"sent\":false}]", "kind" },
		{ "[{\"id\":\"a\",\"kind\":\"k\",\"at\":\"yesterday\",\"text\":\"t\",\"sent\":false}]", "\"at\"" },
		{ "[{\"id\":\"a\",\"kind\":\"k\",\"at\":\"2026-11-25T14:00:00Z\",\"sent\":false}]", "\"text\"" },
		{ "[{\"id\":\"a\",\"kind\":\"k\",\"at\":\"2026-11-25T14:00:00Z\",\"text\":\"t\",\"sent\":0}]", "\"sent\"" },
		{ "[{\"id\":\"a\\u0000b\",\"kind\":\"k\",\"at\":\"2026-11-25T14:00:00Z\",\"text\":\"t\",\"sent\":false}]", "NUL" },
		{ "[] []", "not valid JSON" },
		{ "[{\"id\":\"a\",\"kind\":\"k\",\"at\":\"2026-11-25T14:00:00Z\",\"text\":\"t\",\"sent\":false,\"sent\":true}]",
		  "twice" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cJSON *box = (cJSON *)1;
		char *cause = NULL;
		if (alerts_parse(bad[i].text, strlen(bad[i].text), &box, &cause) != -1)
			fail_msg("accepted <%s>", bad[i].text);
		assert_null(box);
		assert_non_null(cause);
		if (!strstr(cause, bad[i].why))
			fail_msg("<%s>: '%s' does not say '%s'", bad[i].text, cause, bad[i].why);
		free(cause);
	}
	/* a raw NUL byte inside the text */
	cJSON *box;
	char *cause = NULL, raw[] = "[{\"id\":\"a\0\"}]";
	assert_int_equal(alerts_parse(raw, sizeof raw - 1, &box, &cause), -1);
	free(cause);
}

/* --- the outbox as data ---------------------------------------------------------------------- */

static void test_add_format_roundtrip(void **state)
{
	cJSON *box = cJSON_CreateArray(), *back = NULL;
	struct alert a = make("one", "a \"quoted\" text\\ with é");
	char *cause = NULL;
	(void)state;
	assert_int_equal(alerts_add(box, &a, "host1"), 1);
	assert_int_equal(alerts_add(box, &a, "host1"), 0);          /* same id: not again */
	a = make("two", "second");
	snprintf(a.task, sizeof a.task, "T-07");
	a.kind = ALERT_TASK_BLOCKED;
	assert_int_equal(alerts_add(box, &a, NULL), 1);
	assert_int_equal(cJSON_GetArraySize(box), 2);

	const cJSON *first = cJSON_GetArrayItem(box, 0), *second = cJSON_GetArrayItem(box, 1);
	assert_string_equal(str(first, "kind"), "starved");
	assert_string_equal(str(first, "at"), "2025-11-25T14:00:00Z");
	assert_string_equal(str(first, "host"), "host1");
	assert_null(str(first, "task"));
	assert_null(str(first, "source"));
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(first, "sent")));
	assert_string_equal(str(second, "task"), "T-07");
	assert_null(str(second, "host"));

	char *text = alerts_format(box);
	assert_non_null(text);
	assert_true(strncmp(text, "[\n{", 3) == 0);
	assert_non_null(strstr(text, "},\n{"));                    /* one alert a line */
	assert_string_equal(text + strlen(text) - 4, "}\n]\n");
	assert_int_equal(alerts_parse(text, strlen(text), &back, &cause), 0);
	assert_true(cJSON_Compare(box, back, 1));
	free(text);
	cJSON_Delete(back);

	cJSON *empty = cJSON_CreateArray();
	text = alerts_format(empty);
	assert_string_equal(text, "[]\n");
	free(text);
	cJSON_Delete(empty);
	cJSON_Delete(box);
}

static void test_trim_drops_sent_first(void **state)
{
	cJSON *box = cJSON_CreateArray();
	char id[8];
	(void)state;
	for (int i = 1; i <= 5; i++) {
		snprintf(id, sizeof id, "%d", i);
		struct alert a = make(id, "t");
		assert_int_equal(alerts_add(box, &a, NULL), 1);
	}
	assert_int_equal(alerts_mark(box, "2", 1, NULL), 0);
	assert_int_equal(alerts_mark(box, "4", 1, NULL), 0);
	assert_int_equal(alerts_unsent(box), 3);
	assert_int_equal(alerts_trim(box, 5), 0);
	assert_int_equal(alerts_trim(box, 3), 2);                   /* the two sent ones */
	assert_string_equal(str(cJSON_GetArrayItem(box, 0), "id"), "1");
	assert_string_equal(str(cJSON_GetArrayItem(box, 1), "id"), "3");
	assert_string_equal(str(cJSON_GetArrayItem(box, 2), "id"), "5");
	assert_int_equal(alerts_trim(box, 1), 2);                   /* then the oldest */
	assert_string_equal(str(cJSON_GetArrayItem(box, 0), "id"), "5");
	cJSON_Delete(box);
}

static void test_mark(void **state)
{
	cJSON *box = cJSON_CreateArray();
	struct alert a = make("x", "t");
	(void)state;
	alerts_add(box, &a, NULL);
	assert_int_equal(alerts_mark(box, "nope", 1, NULL), -1);
	assert_int_equal(alerts_mark(box, "x", 1764079200000, "HTTP 500"), 0);
	assert_int_equal(alerts_mark(box, "x", 1764079201000, "timed out"), 0);
	const cJSON *e = cJSON_GetArrayItem(box, 0);
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(e, "tries")->valueint, 2);
	assert_string_equal(str(e, "error"), "timed out");
	assert_string_equal(str(e, "tried_at"), "2025-11-25T14:00:01Z");
	assert_int_equal(alerts_unsent(box), 1);
	assert_int_equal(alerts_mark(box, "x", 1764079202000, NULL), 0);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "sent")));
	assert_string_equal(str(e, "sent_at"), "2025-11-25T14:00:02Z");
	assert_int_equal(alerts_unsent(box), 0);
	/* still a valid outbox */
	char *text = alerts_format(box), *cause = NULL;
	cJSON *back;
	assert_int_equal(alerts_parse(text, strlen(text), &back, &cause), 0);
	free(text);
	cJSON_Delete(back);
	cJSON_Delete(box);
}

static void test_payload(void **state)
{
	const char *text = "line one\nquote \" backslash \\ tab\t é ✓";
	char *body = alerts_payload(text);
	(void)state;
	cJSON *j = cJSON_Parse(body);
	assert_true(cJSON_IsObject(j));
	assert_int_equal(cJSON_GetArraySize(j), 1);
	assert_string_equal(str(j, "text"), text);
	cJSON_Delete(j);
	free(body);
}

static void test_urls(void **state)
{
	static const char *const ok[] = {
		"", "http://127.0.0.1:8080/hook", "https://hooks.slack.com/services/T0/B0/xyz",
		"https://h", "http://h/a@b", "http://h?x=@",
	};
	static const char *const bad[] = {
		"ftp://h/x", "hooks.slack.com/x", "http://", "http:///x", "http://user:pw@h/x",
		"https://token@h", "http://h/a b", "http://h/\tx", "HTTP://h/",
	};
	static const struct { const char *in, *out; } redact[] = {
		{ "https://hooks.slack.com/services/T0/B0/xyz", "https://hooks.slack.com/..." },
		{ "http://127.0.0.1:8080", "http://127.0.0.1:8080" },
		{ "http://127.0.0.1:8080/", "http://127.0.0.1:8080/..." },
		{ "http://h?token=secret", "http://h/..." },
		{ "", "" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (alerts_url_problem(ok[i]))
			fail_msg("refused <%s>: %s", ok[i], alerts_url_problem(ok[i]));
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (!alerts_url_problem(bad[i]))
			fail_msg("accepted <%s>", bad[i]);
	assert_non_null(strstr(alerts_url_problem("http://u:p@h/"), "credentials"));
	for (size_t i = 0; i < sizeof redact / sizeof redact[0]; i++) {
		char *r = alerts_url_redact(redact[i].in);
		assert_string_equal(r, redact[i].out);
		free(r);
	}
}

/* --- texts ----------------------------------------------------------------------------------- */

static int valid_utf8(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		int n = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3
		      : (*p & 0xF8) == 0xF0 ? 4 : 0;
		if (!n)
			return 0;
		for (int i = 1; i < n; i++)
			if ((p[i] & 0xC0) != 0x80)
				return 0;
		p += n;
	}
	return 1;
}

static void test_texts(void **state)
{
	struct task t = { .id = 7, .retries = 3, .max_retries = 3, .last_error = "exit status 1",
	                  .finished_at = 1764079200000, .attempts = cJSON_CreateArray() };
	struct alert a;
	(void)state;
	alert_task_blocked(&a, &t, 1764079201000);
	assert_string_equal(a.text, "governor: task T-07 blocked after 3 failed attempts: exit status 1");
	assert_string_equal(a.task, "T-07");
	assert_string_equal(a.id, "task_blocked:T-07:2025-11-25T14:00:00Z:0");
	assert_int_equal(a.kind, ALERT_TASK_BLOCKED);
	assert_string_equal(alert_kind_name(a.kind), "task_blocked");

	t.retries = 0;
	t.blocked_reason = "depends on T-03, which is cancelled";
	alert_task_blocked(&a, &t, 1764079201000);
	assert_string_equal(a.text, "governor: task T-07 blocked: depends on T-03, which is cancelled");

	/* control characters become spaces, a stray byte '?', and a long text ends in "..." */
	char err[3000];
	memset(err, 0, sizeof err);
	strcpy(err, "line\none\t\x01 \xff end ");
	for (size_t n = strlen(err); n + 2 < sizeof err; n += 2)
		memcpy(err + n, "é", 2);
	t.retries = 3;
	t.last_error = err;
	alert_task_blocked(&a, &t, 1764079201000);
	assert_non_null(strstr(a.text, ": line one   ? end é"));
	assert_true(strlen(a.text) < ALERTS_TEXT_MAX);
	assert_true(strlen(a.text) > ALERTS_TEXT_MAX - 8);
	assert_string_equal(a.text + strlen(a.text) - 3, "...");
	assert_true(valid_utf8(a.text));
	cJSON_Delete(t.attempts);

	alert_starved(&a, 1764079200000, 1764079200000 + 6 * 3600 * 1000LL, 4, "cpu_load",
	              "CPU 95% > 80%");
	assert_string_equal(a.text, "governor: lane starved: 4 tasks pending and none started for 6h "
	                            "(since 2025-11-25T14:00:00Z); last deferral: cpu_load (CPU 95% > 80%)");
	assert_string_equal(a.id, "starved:2025-11-25T14:00:00.000Z");
	alert_starved(&a, 1764079200000, 1764079200000 + 90 * 1000, 1, NULL, NULL);
	assert_string_equal(a.text, "governor: lane starved: 1 task pending and none started for 90s "
	                            "(since 2025-11-25T14:00:00Z)");

	alert_source_failing(&a, "sessions.gw", 3, 1764079200042, "HTTP 502", 1764079260000);
	assert_string_equal(a.text, "governor: source sessions.gw failed 3 times running: HTTP 502");
	assert_string_equal(a.source, "sessions.gw");
	assert_string_equal(a.id, "source_failing:sessions.gw:2025-11-25T14:00:00.042Z");
	alert_source_failing(&a, "limits.gpu", 1, 1764079200000, NULL, 1764079260000);
	assert_string_equal(a.text, "governor: source limits.gpu failed 1 time running");
}

/* --- on disk --------------------------------------------------------------------------------- */

static cJSON *read_box(void)
{
	cJSON *box = NULL;
	char *cause = NULL;
	if (alerts_read(statefd, &box, &cause) != 0)
		fail_msg("alerts_read: %s", cause);
	return box;
}

static int exists(const char *name)
{
	struct stat st;
	return fstatat(statefd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void test_raise_read_clear(void **state)
{
	struct alert a[2] = { make("a", "first"), make("b", "second") };
	char *note = NULL, *cause = NULL;
	struct stat st;
	cJSON *box;
	(void)state;
	box = read_box();                              /* nothing yet: empty, nothing created */
	assert_int_equal(cJSON_GetArraySize(box), 0);
	cJSON_Delete(box);
	assert_false(exists("alerts"));

	assert_int_equal(alerts_raise(statefd, "box", a, 2, &note, &cause), 2);
	assert_null(note);
	assert_int_equal(alerts_raise(statefd, "box", a, 2, &note, &cause), 0);   /* duplicates */
	box = read_box();
	assert_int_equal(cJSON_GetArraySize(box), 2);
	assert_string_equal(str(cJSON_GetArrayItem(box, 1), "text"), "second");
	cJSON_Delete(box);
	assert_int_equal(fstatat(statefd, "alerts", &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(fstatat(statefd, "alerts/pending.json", &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(exists("alerts/unsent"));

	assert_int_equal(alerts_clear(statefd, 1, &box, &cause), 0);   /* dry run: only reads */
	assert_int_equal(cJSON_GetArraySize(box), 2);
	cJSON_Delete(box);
	assert_int_equal(alerts_clear(statefd, 0, &box, &cause), 0);
	assert_int_equal(cJSON_GetArraySize(box), 2);
	cJSON_Delete(box);
	box = read_box();
	assert_int_equal(cJSON_GetArraySize(box), 0);
	cJSON_Delete(box);
	assert_false(exists("alerts/unsent"));
}

static void write_file(const char *name, const char *text)
{
	int fd = openat(statefd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_corrupt_outbox(void **state)
{
	struct alert a = make("a", "first");
	char *note = NULL, *cause = NULL, buf[64] = "";
	cJSON *box = NULL;
	(void)state;
	assert_int_equal(mkdirat(statefd, "alerts", 0700), 0);
	write_file("alerts/pending.json", "[{\"id\":");
	assert_int_equal(alerts_read(statefd, &box, &cause), -2);
	assert_non_null(strstr(cause, "corrupt"));
	free(cause);
	cause = NULL;
	assert_int_equal(alerts_clear(statefd, 0, &box, &cause), -2);  /* not emptied blindly */
	free(cause);
	cause = NULL;

	assert_int_equal(alerts_raise(statefd, "box", &a, 1, &note, &cause), 1);
	assert_non_null(note);
	assert_non_null(strstr(note, "pending.json.bad"));
	free(note);
	int fd = openat(statefd, "alerts/pending.json.bad", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof buf - 1), 7);
	close(fd);
	assert_string_equal(buf, "[{\"id\":");
	box = read_box();
	assert_int_equal(cJSON_GetArraySize(box), 1);
	cJSON_Delete(box);
}

static void test_alerts_dir_symlink(void **state)
{
	struct alert a = make("a", "first");
	char *note = NULL, *cause = NULL, target[300];
	(void)state;
	snprintf(target, sizeof target, "%s/elsewhere", dir);
	assert_int_equal(mkdir(target, 0700), 0);
	assert_int_equal(symlinkat(target, statefd, "alerts"), 0);
	assert_int_equal(alerts_raise(statefd, "box", &a, 1, &note, &cause), -1);
	assert_non_null(strstr(cause, "symbolic link"));
	free(cause);
}

/* Several processes raising at once: every alert arrives (the lock is what makes this true). */
static void test_concurrent_raise(void **state)
{
	enum { PROCS = 8, EACH = 25 };
	(void)state;
	for (int p = 0; p < PROCS; p++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			for (int i = 0; i < EACH; i++) {
				char id[32], *note = NULL, *cause = NULL;
				snprintf(id, sizeof id, "p%d-%d", p, i);
				struct alert a = make(id, id);
				if (alerts_raise(statefd, "box", &a, 1, &note, &cause) != 1)
					_exit(1);
			}
			_exit(0);
		}
	}
	for (int p = 0; p < PROCS; p++) {
		int status;
		assert_true(wait(&status) > 0);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	cJSON *box = read_box();
	assert_int_equal(cJSON_GetArraySize(box), PROCS * EACH);
	cJSON_Delete(box);
}

static void test_cap(void **state)
{
	struct alert *a = calloc(ALERTS_MAX + 10, sizeof *a);
	char *note = NULL, *cause = NULL, id[16];
	(void)state;
	for (int i = 0; i < ALERTS_MAX + 10; i++) {
		snprintf(id, sizeof id, "%d", i);
		a[i] = make(id, "t");
	}
	assert_int_equal(alerts_raise(statefd, "box", a, ALERTS_MAX + 10, &note, &cause), ALERTS_MAX + 10);
	cJSON *box = read_box();
	assert_int_equal(cJSON_GetArraySize(box), ALERTS_MAX);
	assert_string_equal(str(cJSON_GetArrayItem(box, 0), "id"), "10");   /* the oldest went */
	cJSON_Delete(box);
	free(a);
}

static void test_deliver_failure_stays(void **state)
{
	struct alert a = make("a", "first");
	char *note = NULL, *cause = NULL, *failure = NULL;
	(void)state;
	/* Nothing unsent: a no-op that reports nothing. */
	assert_int_equal(alerts_deliver(statefd, "http://127.0.0.1:9/secret/path", "/nonexistent", &failure), 0);
	assert_null(failure);

	assert_int_equal(alerts_raise(statefd, "box", &a, 1, &note, &cause), 1);
	assert_int_equal(alerts_deliver(statefd, "http://127.0.0.1:9/secret/path", "/nonexistent", &failure), 0);
	assert_non_null(failure);
	assert_null(strstr(failure, "secret"));             /* the URL's path never shows */
	assert_non_null(strstr(failure, "http://127.0.0.1:9/..."));
	cJSON *box = read_box();
	const cJSON *e = cJSON_GetArrayItem(box, 0);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(e, "sent")));
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(e, "tries")->valueint, 1);
	assert_null(strstr(str(e, "error"), "secret"));
	cJSON_Delete(box);
	free(failure);
	assert_true(exists("alerts/unsent"));
}

static void test_stale_unsent_flag(void **state)
{
	struct alert a = make("a", "first");
	char *note = NULL, *cause = NULL, *failure = NULL;
	cJSON *box;
	(void)state;
	assert_int_equal(alerts_raise(statefd, "box", &a, 1, &note, &cause), 1);
	box = read_box();
	alerts_mark(box, "a", 1, NULL);
	char *text = alerts_format(box);
	write_file("alerts/pending.json", text);
	free(text);
	cJSON_Delete(box);
	assert_true(exists("alerts/unsent"));
	/* All sent already: nothing is posted (the helper does not even exist), the flag goes. */
	assert_int_equal(alerts_deliver(statefd, "http://127.0.0.1:9/x", "/nonexistent", &failure), 0);
	assert_null(failure);
	assert_false(exists("alerts/unsent"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_add_format_roundtrip),
		cmocka_unit_test(test_trim_drops_sent_first),
		cmocka_unit_test(test_mark),
		cmocka_unit_test(test_payload),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_texts),
		cmocka_unit_test_setup_teardown(test_raise_read_clear, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_corrupt_outbox, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_alerts_dir_symlink, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_concurrent_raise, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_cap, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_deliver_failure_stays, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_stale_unsent_flag, setup_dir, teardown_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
