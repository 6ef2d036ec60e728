/*
 * cron.h: five-field cron expressions (Vixie cron syntax) and the next time one matches.
 *
 * Pure: no I/O, no clock, no allocation except the cause string.  Times are evaluated in the
 * process's local time zone (TZ, else /etc/localtime); see docs/schedules.md.
 *
 *   struct cron c;
 *   char *cause;
 *   if (cron_parse("30 9-17 * * mon-fri", &c, &cause) < 0) { report(cause); free(cause); }
 *   int64_t next;
 *   if (cron_next(&c, now_ms, &next) < 0) ...   // no match within CRON_SEARCH_YEARS
 *
 * Syntax: "minute hour day-of-month month day-of-week", separated by blanks.  Each field is a
 * comma list of items; an item is "*", a number N, a range A-B (A <= B), or "*" or a range
 * followed by "/STEP" (STEP >= 1).  Months may be named jan-dec, days sun-sat (three letters,
 * any case).  Day of week 0-7, both 0 and 7 are Sunday (a range ending on Sunday, "fri-sun" or
 * "5-0", ends on 7).  Ranges: minute 0-59, hour 0-23,
 * day of month 1-31, month 1-12.  Aliases: @hourly, @daily (@midnight), @weekly, @monthly,
 * @yearly (@annually).
 *
 * Day matching follows Vixie cron: when the day-of-month or the day-of-week field starts with
 * "*", a day must match both fields; when neither does, a day matching either field matches
 * ("0 0 1 * mon" runs on the 1st and on every Monday).
 */
#ifndef QUEUE_CRON_H
#define QUEUE_CRON_H

#include <stdbool.h>
#include <stdint.h>

#define CRON_EXPR_MAX 256        /* longer expressions are refused */
#define CRON_SEARCH_YEARS 8      /* cron_next gives up after this (Feb 29 can be 8 years away) */

/* A parsed expression: bit i set = value i matches.  A plain value; tests write literals. */
struct cron {
	uint64_t minute;   /* bits 0-59 */
	uint32_t hour;     /* bits 0-23 */
	uint32_t dom;      /* bits 1-31 */
	uint16_t month;    /* bits 1-12 */
	uint8_t dow;       /* bits 0-6, 0 = Sunday (7 is folded into 0) */
	bool dom_star;     /* the day-of-month field starts with '*' */
	bool dow_star;     /* the day-of-week field starts with '*' */
};

/*
 * Parse expr into *out.  0, or -1 with *cause (caller frees) naming the field and the
 * offending text, e.g. "hour field: 24 is out of range 0-23".
 */
int cron_parse(const char *expr, struct cron *out, char **cause);

/*
 * The first whole minute strictly after after_ms whose local time matches c, into *next_ms.
 * A local time that does not exist (skipped when clocks go forward) never matches; a local time
 * that occurs twice (when clocks go back) matches at its first occurrence only.  0, or -1 when
 * nothing matches within CRON_SEARCH_YEARS ("0 0 30 2 *") or the time cannot be represented.
 */
int cron_next(const struct cron *c, int64_t after_ms, int64_t *next_ms);

#endif
