/* test_schedule.c: schedules.json (validation, round trip, corruption) and when schedules are due. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "queue/queue.h"
#include "queue/schedule.h"
#include "queue/statedir.h"
#include "queue/timefmt.h"

#define MIN INT64_C(60000)

/* A stand-in for config_parse_duration: "<n>m", "<n>h" or "<n>s". */
static int minutes(const char *text, int64_t *ms)
{
	char *end;
	long n = strtol(text, &end, 10);
	if (end == text || n < 0 || n > 100000)
		return -1;
	if (strcmp(end, "m") == 0)
		*ms = n * MIN;
	else if (strcmp(end, "h") == 0)
		*ms = n * 60 * MIN;
	else if (strcmp(end, "s") == 0)
		*ms = n * 1000;
	else
		return -1;
	return 0;
}

static int64_t at(const char *rfc3339)
{
	int64_t ms;
	if (time_parse(rfc3339, &ms) < 0)
		fail_msg("bad time: %s", rfc3339);
	return ms;
}

static void test_schedule_names(void **state)
{
	(void)state;
	static const char *const good[] = { "a", "nightly", "A-b_9", "0", "-", "_x" };
	static const char *const bad[] = { "", "a b", "a/b", "a.b", "ä", "a\n", "nightly!" };
	char longest[SCHEDULE_NAME_MAX + 2];
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		assert_int_equal(schedule_name_check(good[i]), 0);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(schedule_name_check(bad[i]), -1);
	memset(longest, 'x', SCHEDULE_NAME_MAX);
	longest[SCHEDULE_NAME_MAX] = '\0';
	assert_int_equal(schedule_name_check(longest), 0);
	longest[SCHEDULE_NAME_MAX] = 'x';
	longest[SCHEDULE_NAME_MAX + 1] = '\0';
	assert_int_equal(schedule_name_check(longest), -1);
}

static void test_schedule_rules(void **state)
{
	(void)state;
	struct schedule s = { 0 };
	char *cause = NULL;
	assert_int_equal(schedule_set_rule(&s, SCHEDULE_EVERY, "15m", minutes, &cause), 0);
	assert_true(s.every_ms == 15 * MIN);
	assert_string_equal(s.spec, "15m");
	assert_int_equal(schedule_set_rule(&s, SCHEDULE_EVERY, "30s", minutes, &cause), -1);
	assert_non_null(strstr(cause, "shorter than one minute"));
	free(cause);
	assert_int_equal(schedule_set_rule(&s, SCHEDULE_EVERY, "87601h", minutes, &cause), -1);
	assert_non_null(strstr(cause, "longer than 3650 days"));
	free(cause);
	assert_int_equal(schedule_set_rule(&s, SCHEDULE_EVERY, "87600h", minutes, &cause), 0);
	assert_int_equal(schedule_set_rule(&s, SCHEDULE_EVERY, "soon", minutes, &cause), -1);
	assert_non_null(strstr(cause, "not a duration"));
	free(cause);
	assert_string_equal(s.spec, "87600h");  /* a failed change leaves the rule as it was */
	assert_int_equal(schedule_set_rule(&s, SCHEDULE_CRON, "0 24 * * *", minutes, &cause), -1);
	assert_non_null(strstr(cause, "hour field"));
	free(cause);
	assert_int_equal(schedule_set_rule(&s, SCHEDULE_CRON, "@daily", minutes, &cause), 0);
	assert_int_equal(s.rule, SCHEDULE_CRON);
	assert_int_equal(schedule_set_rule(&s, SCHEDULE_MANUAL, "ignored", minutes, &cause), 0);
	assert_null(s.spec);
	schedule_release(&s);
}

static void test_schedule_next(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	struct schedule s = { .enabled = true };
	int64_t now = at("2026-11-25T14:07:30.250Z"), next;
	assert_int_equal(schedule_set_rule(&s, SCHEDULE_EVERY, "15m", minutes, NULL), 0);

	/* new: one period from now, on a whole second */
	schedule_next(&s, now, &next);
	assert_true(next == at("2026-11-25T14:22:30Z"));
	/* not yet due: unchanged */
	s.next_run = at("2026-11-25T14:10:00Z");
	schedule_next(&s, now, &next);
	assert_true(next == s.next_run);
	assert_false(schedule_due(&s, now));
	/* ten periods overdue: the next point on the grid after now, not ten runs */
	s.next_run = at("2026-11-25T11:37:00Z");
	assert_true(schedule_due(&s, now));
	schedule_next(&s, now, &s.next_run);    /* may write where it reads */
	assert_true(s.next_run == at("2026-11-25T14:22:00Z"));
	/* exactly on a grid point: the next one */
	s.next_run = at("2026-11-25T14:07:30Z");
	schedule_next(&s, at("2026-11-25T14:07:30Z"), &next);
	assert_true(next == at("2026-11-25T14:22:30Z"));
	/* disabled or manual: never due */
	s.next_run = at("2026-11-25T11:37:00Z");
	s.enabled = false;
	assert_false(schedule_due(&s, now));
	s.enabled = true;

	assert_int_equal(schedule_set_rule(&s, SCHEDULE_CRON, "0 3 * * *", minutes, NULL), 0);
	schedule_next(&s, now, &next);
	assert_true(next == at("2026-11-26T03:00:00Z"));
	assert_int_equal(schedule_set_rule(&s, SCHEDULE_CRON, "0 0 30 2 *", minutes, NULL), 0);
	schedule_next(&s, now, &next);
	assert_true(next == 0);

	assert_int_equal(schedule_set_rule(&s, SCHEDULE_MANUAL, NULL, minutes, NULL), 0);
	schedule_next(&s, now, &next);
	assert_true(next == 0);
	assert_false(schedule_due(&s, now));
	schedule_release(&s);
}

static const char good_doc[] =
	"{\"version\":1,\"schedules\":[\n"
	"{\"name\":\"q15\",\"enabled\":true,\"rule\":\"every\",\"every\":\"15m\","
	"\"next_run\":\"2026-11-25T14:15:00Z\",\"last_run\":\"2026-11-25T14:00:00Z\",\"run_count\":3,"
	"\"last_task_id\":\"T-07\",\"priority\":2,\"model\":\"m1\",\"prompt\":\"quarterly\","
	"\"created_at\":\"2026-11-25T13:15:00Z\"},\n"
	"{\"name\":\"nightly\",\"enabled\":false,\"rule\":\"cron\",\"cron\":\"0 3 * * *\","
	"\"next_run\":null,\"last_run\":null,\"run_count\":0,\"last_task_id\":null,\"priority\":-5,"
	"\"model\":null,\"prompt\":\"reflect\",\"created_at\":\"2026-11-25T13:15:00Z\",\"later\":1},\n"
	"{\"name\":\"by-hand\",\"enabled\":true,\"rule\":\"manual\",\"next_run\":null,\"last_run\":null,"
	"\"run_count\":0,\"last_task_id\":null,\"priority\":1,\"model\":null,\"prompt\":\"now\","
	"\"created_at\":\"2026-11-25T13:15:00Z\"}\n"
	"]}\n";

static void test_schedules_parse(void **state)
{
	(void)state;
	struct schedules s;
	char *cause = NULL;
	assert_int_equal(schedules_parse(good_doc, strlen(good_doc), minutes, &s, &cause), QUEUE_OK);
	assert_int_equal(s.n, 3);
	struct schedule *q = schedules_find(&s, "q15");
	assert_non_null(q);
	assert_int_equal(q->rule, SCHEDULE_EVERY);
	assert_true(q->every_ms == 15 * MIN);
	assert_true(q->next_run == at("2026-11-25T14:15:00Z"));
	assert_int_equal(q->run_count, 3);
	assert_int_equal(q->last_task_id, 7);
	assert_int_equal(q->priority, 2);
	assert_string_equal(q->model, "m1");
	struct schedule *n = schedules_find(&s, "nightly");
	assert_false(n->enabled);
	assert_null(n->model);
	assert_int_equal(n->priority, -5);
	assert_true(n->next_run == 0);
	assert_null(schedules_find(&s, "nope"));
	schedules_remove(&s, 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.items[0].name, "nightly");
	schedules_release(&s);
	/* empty */
	const char *empty = "{\"version\":1,\"schedules\":[]}";
	assert_int_equal(schedules_parse(empty, strlen(empty), minutes, &s, &cause), QUEUE_OK);
	assert_int_equal(s.n, 0);
	schedules_release(&s);
}

struct corrupt {
	const char *doc, *want;
};

#define ONE(fields) "{\"version\":1,\"schedules\":[{" fields "}]}"
#define OK_FIELDS "\"enabled\":true,\"run_count\":0,\"priority\":1,\"prompt\":\"p\",\"created_at\":\"2026-11-25T13:15:00Z\""

static const struct corrupt corrupt_rows[] = {
	{ "", "not valid JSON" },
	{ "{\"version\":1,\"schedules\":[", "not valid JSON" },
	{ "[]", "expected {\"version\":1" },
	{ "{\"version\":2,\"schedules\":[]}", "version 2" },
	{ "{\"schedules\":[]}", "expected" },
	{ "{\"version\":1,\"schedules\":{}}", "expected" },
	{ "{\"version\":1,\"schedules\":[7]}", "schedule 1: not an object" },
	{ ONE("\"name\":\"a b\",\"rule\":\"manual\"," OK_FIELDS), "\"name\" must be" },
	{ ONE("\"rule\":\"manual\"," OK_FIELDS), "\"name\" must be" },
	{ ONE("\"name\":\"x\",\"rule\":\"weekly\"," OK_FIELDS), "('x'): \"rule\" must be" },
	{ ONE("\"name\":\"x\",\"rule\":\"every\"," OK_FIELDS), "rule \"every\" needs a string \"every\"" },
	{ ONE("\"name\":\"x\",\"rule\":\"every\",\"every\":\"10s\"," OK_FIELDS), "shorter than one minute" },
	{ ONE("\"name\":\"x\",\"rule\":\"cron\",\"cron\":\"0 0 * *\"," OK_FIELDS), "\"cron\" '0 0 * *': expected 5 fields" },
	{ ONE("\"name\":\"x\",\"rule\":\"manual\",\"enabled\":\"yes\",\"run_count\":0,\"priority\":1,\"prompt\":\"p\",\"created_at\":\"2026-11-25T13:15:00Z\""), "\"enabled\"" },
	{ ONE("\"name\":\"x\",\"rule\":\"manual\",\"enabled\":true,\"run_count\":-1,\"priority\":1,\"prompt\":\"p\",\"created_at\":\"2026-11-25T13:15:00Z\""), "\"run_count\"" },
	{ ONE("\"name\":\"x\",\"rule\":\"manual\",\"enabled\":true,\"run_count\":1.5,\"priority\":1,\"prompt\":\"p\",\"created_at\":\"2026-11-25T13:15:00Z\""), "\"run_count\"" },
	{ ONE("\"name\":\"x\",\"rule\":\"manual\",\"enabled\":true,\"run_count\":0,\"priority\":1001,\"prompt\":\"p\",\"created_at\":\"2026-11-25T13:15:00Z\""), "\"priority\"" },
	{ ONE("\"name\":\"x\",\"rule\":\"manual\",\"enabled\":true,\"run_count\":0,\"priority\":\"high\",\"prompt\":\"p\",\"created_at\":\"2026-11-25T13:15:00Z\""), "\"priority\"" },
	{ ONE("\"name\":\"x\",\"rule\":\"manual\",\"enabled\":true,\"run_count\":0,\"priority\":1,\"prompt\":\" \",\"created_at\":\"2026-11-25T13:15:00Z\""), "prompt is empty" },
	{ ONE("\"name\":\"x\",\"rule\":\"manual\",\"enabled\":true,\"run_count\":0,\"priority\":1,\"prompt\":7,\"created_at\":\"2026-11-25T13:15:00Z\""), "\"prompt\" must be a string" },
	{ ONE("\"name\":\"x\",\"rule\":\"manual\",\"enabled\":true,\"run_count\":0,\"priority\":1,\"prompt\":\"p\""), "\"created_at\"" },
	{ ONE("\"name\":\"x\",\"rule\":\"manual\",\"next_run\":\"tomorrow\"," OK_FIELDS), "\"next_run\"" },
	{ ONE("\"name\":\"x\",\"rule\":\"manual\",\"last_run\":5," OK_FIELDS), "\"last_run\"" },
	{ ONE("\"name\":\"x\",\"rule\":\"manual\",\"last_task_id\":\"X-1\"," OK_FIELDS), "\"last_task_id\"" },
	{ ONE("\"name\":\"x\",\"rule\":\"manual\",\"model\":\"\"," OK_FIELDS), "\"model\"" },
	{ "{\"version\":1,\"schedules\":[{\"name\":\"x\",\"rule\":\"manual\"," OK_FIELDS "},"
	  "{\"name\":\"x\",\"rule\":\"manual\"," OK_FIELDS "}]}", "schedule 2 ('x'): the name is used twice" },
};

static void test_schedules_corrupt(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof corrupt_rows / sizeof corrupt_rows[0]; i++) {
		struct schedules s;
		char *cause = NULL;
		const char *doc = corrupt_rows[i].doc;
		int rc = schedules_parse(doc, strlen(doc), minutes, &s, &cause);
		if (rc != QUEUE_ECORRUPT)
			fail_msg("row %zu parsed (%d): %s", i, rc, doc);
		if (!cause || !strstr(cause, corrupt_rows[i].want) || !strstr(cause, SCHEDULE_FILE) ||
		    !strstr(cause, "left as it is"))
			fail_msg("row %zu: cause '%s' lacks '%s'", i, cause ? cause : "(null)", corrupt_rows[i].want);
		assert_int_equal(s.n, 0);
		assert_null(s.items);
		free(cause);
	}
}

static void test_schedules_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_schedule.XXXXXX", *cause = NULL;
	assert_non_null(mkdtemp(dir));
	int fd = statedir_open(dir, 0, &cause);
	assert_true(fd >= 0);
	struct schedules s, back;

	/* no file: empty, no error */
	assert_int_equal(schedules_read(fd, minutes, &s, &cause), QUEUE_OK);
	assert_int_equal(s.n, 0);
	/* round trip, one schedule a line, and a .bak of the previous version */
	assert_int_equal(schedules_parse(good_doc, strlen(good_doc), minutes, &s, &cause), QUEUE_OK);
	assert_int_equal(schedules_write(fd, &s, &cause), QUEUE_OK);
	assert_int_equal(schedules_write(fd, &s, &cause), QUEUE_OK);
	assert_int_equal(faccessat(fd, SCHEDULE_FILE ".bak", F_OK, 0), 0);
	assert_int_equal(schedules_read(fd, minutes, &back, &cause), QUEUE_OK);
	assert_int_equal(back.n, s.n);
	for (size_t i = 0; i < s.n; i++) {
		cJSON *a = schedule_to_json(&s.items[i]), *b = schedule_to_json(&back.items[i]);
		assert_true(cJSON_Compare(a, b, 1));
		cJSON_Delete(a);
		cJSON_Delete(b);
	}
	char *text;
	size_t len, lines = 0;
	assert_int_equal(statedir_read(fd, SCHEDULE_FILE, 1 << 20, &text, &len), 0);
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	assert_int_equal(lines, s.n + 2);
	assert_int_equal(strncmp(text, "{\"version\":1,\"schedules\":[\n", 27), 0);
	free(text);
	struct stat st;
	assert_int_equal(fstatat(fd, SCHEDULE_FILE, &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	schedules_release(&back);
	schedules_release(&s);
	/* an empty set is written as an empty list */
	assert_int_equal(schedules_write(fd, &s, &cause), QUEUE_OK);
	assert_int_equal(schedules_read(fd, minutes, &back, &cause), QUEUE_OK);
	assert_int_equal(back.n, 0);
	/* corrupt: an error, and the file is as it was */
	int wfd = openat(fd, SCHEDULE_FILE, O_WRONLY | O_TRUNC);
	assert_true(wfd >= 0);
	assert_int_equal(write(wfd, "{oops", 5), 5);
	close(wfd);
	assert_int_equal(schedules_read(fd, minutes, &back, &cause), QUEUE_ECORRUPT);
	assert_non_null(strstr(cause, "not valid JSON"));
	free(cause);
	/* a symlink is refused */
	unlinkat(fd, SCHEDULE_FILE, 0);
	assert_int_equal(symlinkat("/etc/passwd", fd, SCHEDULE_FILE), 0);
	assert_int_equal(schedules_read(fd, minutes, &back, &cause), QUEUE_EIO);
	assert_non_null(strstr(cause, "symbolic link"));
	free(cause);

	unlinkat(fd, SCHEDULE_FILE, 0);
	unlinkat(fd, SCHEDULE_FILE ".bak", 0);
	close(fd);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schedule_names),
		cmocka_unit_test(test_schedule_rules),
		cmocka_unit_test(test_schedule_next),
		cmocka_unit_test(test_schedules_parse),
		cmocka_unit_test(test_schedules_corrupt),
		cmocka_unit_test(test_schedules_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
