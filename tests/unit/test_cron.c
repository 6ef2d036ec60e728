/* test_cron.c: the cron parser and cron_next, as literal rows of expression, after -> next. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "queue/cron.h"
#include "queue/timefmt.h"

struct row {
	const char *expr, *after, *next;    /* next NULL: cron_next fails */
};

static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static int64_t at(const char *rfc3339)
{
	int64_t ms;
	if (time_parse(rfc3339, &ms) < 0)
		fail_msg("bad time in the table: %s", rfc3339);
	return ms;
}

static void check_rows(const struct row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct cron c;
		char *cause = NULL, got[TIME_RFC3339_MAX];
		int64_t next = 0;
		if (cron_parse(rows[i].expr, &c, &cause) < 0)
			fail_msg("row %zu: '%s' does not parse: %s", i, rows[i].expr, cause);
		int rc = cron_next(&c, at(rows[i].after), &next);
		if (!rows[i].next) {
			if (rc != -1)
				fail_msg("row %zu: '%s' after %s: expected no match, got %s", i, rows[i].expr,
				         rows[i].after, time_format(next, got));
			continue;
		}
		if (rc != 0)
			fail_msg("row %zu: '%s' after %s: no match, expected %s", i, rows[i].expr,
			         rows[i].after, rows[i].next);
		if (next != at(rows[i].next))
			fail_msg("row %zu: '%s' after %s: expected %s, got %s", i, rows[i].expr,
			         rows[i].after, rows[i].next, time_format(next, got));
	}
}

/* 2026-11-25 is a Wednesday. */
static const struct row utc_rows[] = {
	{ "* * * * *", "2026-11-25T14:00:00Z", "2026-11-25T14:01:00Z" },
	{ "* * * * *", "2026-11-25T14:00:30Z", "2026-11-25T14:01:00Z" },
	{ "* * * * *", "2026-11-25T14:00:59.999Z", "2026-11-25T14:01:00Z" },
	{ "* * * * *", "2026-11-25T23:59:00Z", "2026-11-26T00:00:00Z" },
	{ "0 * * * *", "2026-11-25T14:00:00Z", "2026-11-25T15:00:00Z" },
	{ "0 * * * *", "2026-11-25T13:59:59Z", "2026-11-25T14:00:00Z" },
	{ "*/15 * * * *", "2026-11-25T14:07:00Z", "2026-11-25T14:15:00Z" },
	{ "*/15 * * * *", "2026-11-25T14:45:00Z", "2026-11-25T15:00:00Z" },
	{ "*/7 * * * *", "2026-11-25T14:56:00Z", "2026-11-25T15:00:00Z" },
	{ "5-20/5 * * * *", "2026-11-25T14:21:00Z", "2026-11-25T15:05:00Z" },
	{ "5-20/5 * * * *", "2026-11-25T14:05:00Z", "2026-11-25T14:10:00Z" },
	{ "0,30 9-17 * * *", "2026-11-25T17:30:00Z", "2026-11-26T09:00:00Z" },
	{ "0,30 9-17 * * *", "2026-11-25T08:10:00Z", "2026-11-25T09:00:00Z" },
	{ "0 8-18/4 * * *", "2026-11-25T16:00:00Z", "2026-11-26T08:00:00Z" },
	{ "1,2,3 4 * * *", "2026-11-25T04:02:00Z", "2026-11-25T04:03:00Z" },
	{ "0 0 * * *", "2026-12-31T23:59:00Z", "2027-01-01T00:00:00Z" },
	{ "0 0 1 * *", "2026-01-31T12:00:00Z", "2026-02-01T00:00:00Z" },
	{ "0 0 31 * *", "2026-04-01T00:00:00Z", "2026-05-31T00:00:00Z" },
	{ "0 0 29 2 *", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z" },
	{ "0 0 29 2 *", "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z" },   /* 2100 is no leap year */
	{ "59 23 31 12 *", "2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z" },
	{ "0 12 * * mon-fri", "2026-11-28T00:00:00Z", "2026-11-30T12:00:00Z" },
	{ "0 12 * * 1-5", "2026-11-27T12:00:00Z", "2026-11-30T12:00:00Z" },
	{ "0 12 * * 0", "2026-11-25T00:00:00Z", "2026-11-29T12:00:00Z" },
	{ "0 12 * * 7", "2026-11-25T00:00:00Z", "2026-11-29T12:00:00Z" },
	{ "0 12 * * sun", "2026-11-25T00:00:00Z", "2026-11-29T12:00:00Z" },
	{ "0 12 * * SUN", "2026-11-25T00:00:00Z", "2026-11-29T12:00:00Z" },
	{ "0 0 * * 5-7", "2026-11-25T00:00:00Z", "2026-11-27T00:00:00Z" },
	{ "0 0 * * fri-sun", "2026-11-28T00:00:00Z", "2026-11-29T00:00:00Z" },
	{ "0 0 * * */2", "2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z" },   /* sun, tue, thu, sat */
	/* Vixie: both days restricted -> either matches; one starts with '*' -> both must. */
	{ "0 0 1 * mon", "2026-11-25T00:00:00Z", "2026-11-30T00:00:00Z" },
	{ "0 0 1 * mon", "2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z" },
	{ "0 0 * * mon", "2026-11-25T00:00:00Z", "2026-11-30T00:00:00Z" },
	{ "0 0 */2 * mon", "2026-11-25T00:00:00Z", "2026-12-07T00:00:00Z" },
	{ "0 0 13 * fri", "2026-11-25T00:00:00Z", "2026-11-27T00:00:00Z" },
	{ "0 0 30 2 mon", "2026-11-25T00:00:00Z", "2027-02-01T00:00:00Z" },
	{ "0 0 1 jan,jul *", "2026-11-25T00:00:00Z", "2027-01-01T00:00:00Z" },
	{ "0 0 1 JUL-aug *", "2026-07-01T00:00:00Z", "2026-08-01T00:00:00Z" },
	{ "0 0 1 */3 *", "2026-11-25T00:00:00Z", "2027-01-01T00:00:00Z" },   /* jan, apr, jul, oct */
	{ "0 0 1 2-12/3 *", "2026-11-25T00:00:00Z", "2027-02-01T00:00:00Z" },
	{ "  0   0\t* * *  ", "2026-11-25T00:00:00Z", "2026-11-26T00:00:00Z" },
	{ "@hourly", "2026-11-25T14:10:00Z", "2026-11-25T15:00:00Z" },
	{ "@daily", "2026-11-25T14:10:00Z", "2026-11-26T00:00:00Z" },
	{ "@midnight", "2026-11-25T14:10:00Z", "2026-11-26T00:00:00Z" },
	{ "@weekly", "2026-11-25T14:10:00Z", "2026-11-29T00:00:00Z" },
	{ "@monthly", "2026-11-25T14:10:00Z", "2026-12-01T00:00:00Z" },
	{ "@yearly", "2026-11-25T14:10:00Z", "2027-01-01T00:00:00Z" },
	{ "@Annually", "2026-11-25T14:10:00Z", "2027-01-01T00:00:00Z" },
	/* never */
	{ "0 0 30 2 *", "2026-11-25T00:00:00Z", NULL },
	{ "0 0 31 2,4,6,9,11 *", "2026-11-25T00:00:00Z", NULL },
	{ "0 0 31 4 *", "2026-11-25T00:00:00Z", NULL },
};

static void test_cron_next_utc(void **state)
{
	(void)state;
	set_tz("UTC");
	check_rows(utc_rows, sizeof utc_rows / sizeof utc_rows[0]);
}

/*
 * Europe/Berlin, 2026: clocks go forward on 29 March at 02:00 CET (01:00Z) to 03:00 CEST, and
 * back on 25 October at 03:00 CEST (01:00Z) to 02:00 CET.
 */
static const struct row berlin_rows[] = {
	{ "0 0 * * *", "2026-03-28T12:00:00Z", "2026-03-28T23:00:00Z" },     /* 00:00 CET */
	{ "0 0 * * *", "2026-07-01T12:00:00Z", "2026-07-01T22:00:00Z" },     /* 00:00 CEST */
	/* spring: 02:00-02:59 does not exist and is skipped */
	{ "30 2 * * *", "2026-03-28T12:00:00Z", "2026-03-30T00:30:00Z" },
	{ "0 3 * * *", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z" },
	{ "*/30 * * * *", "2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z" },
	{ "0 * * * *", "2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z" },
	{ "59 1 * * *", "2026-03-28T12:00:00Z", "2026-03-29T00:59:00Z" },
	/* autumn: 02:00-02:59 happens twice and matches the first time only */
	{ "30 2 * * *", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z" },
	{ "30 2 * * *", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z" },
	{ "0 * * * *", "2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z" },
	{ "*/15 * * * *", "2026-10-25T00:50:00Z", "2026-10-25T02:00:00Z" },
	{ "*/15 * * * *", "2026-10-25T01:10:00Z", "2026-10-25T02:00:00Z" },  /* from 02:10 CET */
	{ "@daily", "2026-10-25T12:00:00Z", "2026-10-25T23:00:00Z" },
};

static void test_cron_next_dst(void **state)
{
	(void)state;
	const char *dir = getenv("TZDIR");
	char path[512];
	snprintf(path, sizeof path, "%s/Europe/Berlin", dir && *dir ? dir : "/usr/share/zoneinfo");
	if (access(path, R_OK) != 0) {
		print_message("no tzdata at %s: skipped\n", path);
		skip();
	}
	set_tz("Europe/Berlin");
	check_rows(berlin_rows, sizeof berlin_rows / sizeof berlin_rows[0]);
	set_tz("UTC");
}

static void test_cron_parse_bits(void **state)
{
	(void)state;
	struct cron c;
	assert_int_equal(cron_parse("0,59 */6 1-3,31 jan,dec sun,7", &c, NULL), 0);
	assert_true(c.minute == ((UINT64_C(1) << 0) | (UINT64_C(1) << 59)));
	assert_int_equal(c.hour, (1u << 0) | (1u << 6) | (1u << 12) | (1u << 18));
	assert_int_equal(c.dom, (1u << 1) | (1u << 2) | (1u << 3) | (1u << 31));
	assert_int_equal(c.month, (1u << 1) | (1u << 12));
	assert_int_equal(c.dow, 1u << 0);
	assert_false(c.dom_star);
	assert_false(c.dow_star);
	assert_int_equal(cron_parse("* * * * *", &c, NULL), 0);
	assert_true(c.minute == (UINT64_C(1) << 60) - 1);
	assert_int_equal(c.hour, (1u << 24) - 1);
	assert_int_equal(c.dom, 0xfffffffeu);
	assert_int_equal(c.month, 0x1ffe);
	assert_int_equal(c.dow, 0x7f);
	assert_true(c.dom_star && c.dow_star);
	assert_int_equal(cron_parse("0 0 */2 * 1", &c, NULL), 0);
	assert_true(c.dom_star);       /* Vixie: a field starting with '*' counts as unrestricted */
	assert_false(c.dow_star);
}

struct bad {
	const char *expr, *want;     /* want: a piece of the cause */
};

static const struct bad bad_rows[] = {
	{ "", "expected 5 fields" },
	{ "   ", "got 0" },
	{ "* * * *", "got 4" },
	{ "* * * * * *", "got 6" },
	{ "60 * * * *", "minute field: 60 is out of range 0-59" },
	{ "* 24 * * *", "hour field: 24 is out of range 0-23" },
	{ "* * 0 * *", "day-of-month field: 0 is out of range 1-31" },
	{ "* * 32 * *", "day-of-month field" },
	{ "* * * 0 *", "month field: 0 is out of range 1-12" },
	{ "* * * 13 *", "month field" },
	{ "* * * * 8", "day-of-week field: 8 is out of range 0-7" },
	{ "99999999999999999999 * * * *", "minute field: number" },
	{ "*/0 * * * *", "minute field: step '0'" },
	{ "* */25 * * *", "hour field: step '25' is out of range 1-24" },
	{ "* * * * */", "day-of-week field: the step after '/' must be a number" },
	{ "5/10 * * * *", "minute field: a step needs" },
	{ "5-3 * * * *", "minute field: range 5-3 runs backwards" },
	{ "* * * * fri-mon", "day-of-week field: range 5-1 runs backwards" },
	{ "1,,2 * * * *", "minute field: a value is missing" },
	{ "1, * * * *", "minute field: a value is missing" },
	{ ",1 * * * *", "minute field: a value is missing" },
	{ "* 1- * * *", "hour field: a value is missing" },
	{ "a * * * *", "minute field: 'a' is not a number" },
	{ "* * * foo *", "month field: unknown name 'foo' (use jan-dec)" },
	{ "* * * * monday", "day-of-week field: unknown name 'monday'" },
	{ "* * * mon *", "month field: unknown name 'mon'" },
	{ "* * jan * *", "day-of-month field: 'jan' is not a number" },
	{ "* * * * 1x", "day-of-week field: unexpected 'x'" },
	{ "*x * * * *", "minute field: unexpected 'x'" },
	{ "-1 * * * *", "minute field: unexpected '-'" },
	{ "* * * * 1-2-3", "day-of-week field: unexpected '-'" },
	{ "@reboot", "unknown alias '@reboot'" },
	{ "@daily 5", "stands alone" },
	{ "@", "unknown alias" },
	{ "0 0 * * *\n", "control character" },
};

static void test_cron_parse_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad_rows / sizeof bad_rows[0]; i++) {
		struct cron c;
		char *cause = NULL;
		if (cron_parse(bad_rows[i].expr, &c, &cause) != -1)
			fail_msg("'%s' parsed", bad_rows[i].expr);
		if (!cause || !strstr(cause, bad_rows[i].want))
			fail_msg("'%s': cause '%s' lacks '%s'", bad_rows[i].expr, cause ? cause : "(null)",
			         bad_rows[i].want);
		free(cause);
	}
	char longer[CRON_EXPR_MAX + 10];
	memset(longer, '1', sizeof longer - 1);
	longer[sizeof longer - 1] = '\0';
	char *cause = NULL;
	struct cron c;
	assert_int_equal(cron_parse(longer, &c, &cause), -1);
	assert_non_null(strstr(cause, "longer than"));
	free(cause);
	/* a NULL cause is allowed */
	assert_int_equal(cron_parse("x", &c, NULL), -1);
}

static void test_cron_next_limits(void **state)
{
	(void)state;
	struct cron c = { 0 };
	int64_t next = 0;
	set_tz("UTC");
	assert_int_equal(cron_next(&c, at("2026-11-25T00:00:00Z"), &next), -1);   /* empty sets */
	assert_int_equal(cron_parse("* * * * *", &c, NULL), 0);
	assert_int_equal(cron_next(&c, -1, &next), -1);
	assert_int_equal(cron_next(&c, INT64_MAX, &next), -1);
	assert_int_equal(cron_next(&c, 0, &next), 0);
	assert_true(next == 60000);
	/* the walk is cheap even when nothing matches: 1000 failed searches well under a second */
	assert_int_equal(cron_parse("0 0 31 2 *", &c, NULL), 0);
	clock_t t0 = clock();
	for (int i = 0; i < 1000; i++)
		assert_int_equal(cron_next(&c, at("2026-11-25T00:00:00Z"), &next), -1);
	assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 1.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cron_next_utc),
		cmocka_unit_test(test_cron_next_dst),
		cmocka_unit_test(test_cron_parse_bits),
		cmocka_unit_test(test_cron_parse_bad),
		cmocka_unit_test(test_cron_next_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
