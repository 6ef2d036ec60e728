/*
 * cron.c: parse five-field cron expressions into bit sets and find the next matching minute.
 *
 * Why it is built this way:
 *  1. Each field becomes a bit set, so matching is a mask test and "the next matching hour" is
 *     a scan of at most 60 bits.
 *  2. cron_next walks the local calendar (year, month, day, hour, minute) with its own
 *     arithmetic and jumps from one matching value to the next, so even an expression that
 *     never matches costs a few thousand steps (one per day for CRON_SEARCH_YEARS), not one
 *     localtime call per minute.
 *  3. Only a candidate that matches every field is turned into an instant, by mktime with
 *     every tm_isdst guess and a localtime_r round trip: a wall-clock time that does not
 *     exist (the hour skipped in spring) fails the round trip and is skipped; one that exists
 *     twice (the hour repeated in autumn) takes its earlier instant.  Because the earliest
 *     instant of a wall-clock time never decreases as the wall clock advances, scanning wall
 *     clock from the local time of after+1min cannot miss a match.
 */
#include "queue/cron.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CRON_STEPS_MAX 1000000L    /* a safety net; the walk needs a few thousand at most */

struct field {
	const char *name;
	int lo, hi;
	const char *const *names;  /* three-letter names for lo, lo+1, ...; NULL when none */
	int nnames;
};

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
};
static const char *const day_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

static const struct field fields[5] = {
	{ "minute", 0, 59, NULL, 0 },
	{ "hour", 0, 23, NULL, 0 },
	{ "day-of-month", 1, 31, NULL, 0 },
	{ "month", 1, 12, month_names, 12 },
	{ "day-of-week", 0, 7, day_names, 7 },
};

static const struct { const char *alias, *expr; } aliases[] = {
	{ "@hourly", "0 * * * *" },
	{ "@daily", "0 0 * * *" },
	{ "@midnight", "0 0 * * *" },
	{ "@weekly", "0 0 * * 0" },
	{ "@monthly", "0 0 1 * *" },
	{ "@yearly", "0 0 1 1 *" },
	{ "@annually", "0 0 1 1 *" },
};

static int fail(char **cause, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(char **cause, const char *fmt, ...)
{
	char buf[CRON_EXPR_MAX + 200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (cause)
		*cause = strdup(buf);
	return -1;
}

/* A number or a name at *p, advanced past it. */
static int parse_value(const char **p, const struct field *f, int *v, char **cause)
{
	const char *s = *p;
	if (isdigit((unsigned char)*s)) {
		long n = 0;
		for (; isdigit((unsigned char)*s); s++)
			if ((n = n * 10 + (*s - '0')) > 9999)
				return fail(cause, "%s field: number '%.*s' is out of range %d-%d", f->name,
				            (int)strspn(*p, "0123456789"), *p, f->lo, f->hi);
		if (n < f->lo || n > f->hi)
			return fail(cause, "%s field: %ld is out of range %d-%d", f->name, n, f->lo, f->hi);
		*v = (int)n;
		*p = s;
		return 0;
	}
	if (isalpha((unsigned char)*s)) {
		size_t len = 0;
		while (isalpha((unsigned char)s[len]))
			len++;
		for (int i = 0; f->names && len == 3 && i < f->nnames; i++)
			if (strncasecmp(s, f->names[i], 3) == 0) {
				*v = f->lo + i;
				*p = s + len;
				return 0;
			}
		if (!f->names)
			return fail(cause, "%s field: '%.*s' is not a number", f->name, (int)len, s);
		return fail(cause, "%s field: unknown name '%.*s' (use %s-%s)", f->name, (int)len, s,
		            f->names[0], f->names[f->nnames - 1]);
	}
	if (!*s || *s == ',')
		return fail(cause, "%s field: a value is missing", f->name);
	return fail(cause, "%s field: unexpected '%c'", f->name, *s);
}

/* One field's text (no blanks) into a bit set. */
static int parse_field(const char *text, const struct field *f, uint64_t *bits, char **cause)
{
	const char *p = text;
	*bits = 0;
	for (;;) {
		int lo, hi, step = 1, single = 0;
		if (*p == '*') {
			lo = f->lo;
			hi = f->hi;
			p++;
		} else {
			if (parse_value(&p, f, &lo, cause) < 0)
				return -1;
			hi = lo;
			single = 1;
			if (*p == '-') {
				p++;
				if (parse_value(&p, f, &hi, cause) < 0)
					return -1;
				single = 0;
				if (f->names == day_names && hi == 0)
					hi = 7;              /* fri-sun: Sunday ends a range as 7 */
				if (hi < lo)
					return fail(cause, "%s field: range %d-%d runs backwards", f->name, lo, hi);
			}
		}
		if (*p == '/') {
			const char *s = ++p;
			long n = 0;
			int count = f->hi - f->lo + 1;
			if (single)
				return fail(cause, "%s field: a step needs '*' or a range before it (%d-%d/N)",
				            f->name, lo, f->hi);
			if (!isdigit((unsigned char)*p))
				return fail(cause, "%s field: the step after '/' must be a number", f->name);
			for (; isdigit((unsigned char)*p) && n <= count; p++)
				n = n * 10 + (*p - '0');
			if (n < 1 || n > count)
				return fail(cause, "%s field: step '%.*s' is out of range 1-%d", f->name,
				            (int)strspn(s, "0123456789"), s, count);
			step = (int)n;
		}
		for (int v = lo; v <= hi; v += step)
			*bits |= UINT64_C(1) << v;
		if (*p == '\0')
			return 0;
		if (*p != ',')
			return fail(cause, "%s field: unexpected '%c'", f->name, *p);
		p++;
	}
}

static int parse_fields(const char *expr, struct cron *out, char **cause)
{
	char buf[CRON_EXPR_MAX + 1], *field[5];
	size_t len = strlen(expr);
	int n = 0;
	memcpy(buf, expr, len + 1);
	for (char *p = buf; *p;) {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (!*p)
			break;
		if (n < 5)
			field[n] = p;
		n++;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	if (n != 5)
		return fail(cause,
		            "expected 5 fields (minute hour day-of-month month day-of-week) or an alias "
		            "such as @daily, got %d", n);
	uint64_t bits[5];
	for (int i = 0; i < 5; i++)
		if (parse_field(field[i], &fields[i], &bits[i], cause) < 0)
			return -1;
	*out = (struct cron){
		.minute = bits[0],
		.hour = (uint32_t)bits[1],
		.dom = (uint32_t)bits[2],
		.month = (uint16_t)bits[3],
		.dow = (uint8_t)((bits[4] | bits[4] >> 7) & 0x7f),   /* 7 is Sunday, like 0 */
		.dom_star = field[2][0] == '*',
		.dow_star = field[4][0] == '*',
	};
	return 0;
}

int cron_parse(const char *expr, struct cron *out, char **cause)
{
	if (strlen(expr) > CRON_EXPR_MAX)
		return fail(cause, "longer than %d characters", CRON_EXPR_MAX);
	for (const unsigned char *s = (const unsigned char *)expr; *s; s++)
		if (*s < 0x20 && *s != '\t')
			return fail(cause, "contains a control character");
	const char *p = expr + strspn(expr, " \t");
	if (*p == '@') {
		size_t len = strcspn(p, " \t");
		if (p[len + strspn(p + len, " \t")] != '\0')
			return fail(cause, "an alias such as %.*s stands alone", (int)len, p);
		for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
			if (strlen(aliases[i].alias) == len && strncasecmp(p, aliases[i].alias, len) == 0)
				return parse_fields(aliases[i].expr, out, cause);
		return fail(cause, "unknown alias '%.*s' (use @hourly, @daily, @weekly, @monthly or @yearly)",
		            (int)len, p);
	}
	return parse_fields(expr, out, cause);
}

/* --- the next match ----------------------------------------------------------------------- */

static int days_in_month(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : days[m - 1];
}

/* 0 = Sunday (Sakamoto's method, proleptic Gregorian calendar, y > 0). */
static int weekday(int y, int m, int d)
{
	static const int t[12] = { 0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4 };
	if (m < 3)
		y--;
	return (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
}

/* The smallest set bit in [from, hi], or -1. */
static int next_bit(uint64_t bits, int from, int hi)
{
	for (int i = from; i <= hi; i++)
		if (bits & (UINT64_C(1) << i))
			return i;
	return -1;
}

static int day_matches(const struct cron *c, int y, int m, int d)
{
	int dom = (c->dom >> d) & 1, dow = (c->dow >> weekday(y, m, d)) & 1;
	return c->dom_star || c->dow_star ? dom && dow : dom || dow;
}

/* The earliest instant whose local time is y-m-d h:mi:00; -1 when there is none. */
static int local_instant(int y, int m, int d, int h, int mi, int64_t *out)
{
	static const int guesses[3] = { -1, 0, 1 };
	int64_t best = INT64_MAX;
	for (int i = 0; i < 3; i++) {
		struct tm tm = {
			.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d,
			.tm_hour = h, .tm_min = mi, .tm_isdst = guesses[i],
		}, back;
		time_t t = mktime(&tm);
		if (t == (time_t)-1 || !localtime_r(&t, &back))
			continue;
		if (back.tm_year != y - 1900 || back.tm_mon != m - 1 || back.tm_mday != d ||
		    back.tm_hour != h || back.tm_min != mi || back.tm_sec != 0)
			continue;
		if ((int64_t)t < best)
			best = (int64_t)t;
	}
	*out = best;
	return best == INT64_MAX ? -1 : 0;
}

int cron_next(const struct cron *c, int64_t after_ms, int64_t *next_ms)
{
	/* Refuse what cannot match, and times localtime cannot take back to a year. */
	if (!c->minute || !c->hour || !c->dom || !c->month || !c->dow)
		return -1;
	if (after_ms < 0 || after_ms > INT64_C(200000000000000))   /* ~ year 8300 */
		return -1;
	time_t start = (time_t)((after_ms / 60000 + 1) * 60);
	struct tm tm;
	if (!localtime_r(&start, &tm))
		return -1;
	int y = tm.tm_year + 1900, mo = tm.tm_mon + 1, d = tm.tm_mday, h = tm.tm_hour, mi = tm.tm_min;
	int last_year = y + CRON_SEARCH_YEARS;

	for (long steps = 0; steps < CRON_STEPS_MAX; steps++) {
		if (y > last_year)
			return -1;
		if (!(c->month & (1u << mo))) {
			int next = next_bit(c->month, mo + 1, 12);
			if (next < 0) {
				y++;
				next = next_bit(c->month, 1, 12);
			}
			mo = next;
			d = 1, h = 0, mi = 0;
			continue;
		}
		if (d > days_in_month(y, mo)) {
			if (++mo > 12)
				mo = 1, y++;
			d = 1, h = 0, mi = 0;
			continue;
		}
		if (!day_matches(c, y, mo, d)) {
			d++, h = 0, mi = 0;
			continue;
		}
		int hour = next_bit(c->hour, h, 23);
		if (hour < 0) {
			d++, h = 0, mi = 0;
			continue;
		}
		if (hour != h)
			h = hour, mi = 0;
		int minute = next_bit(c->minute, mi, 59);
		if (minute < 0) {
			if (++h > 23)
				h = 0, d++;
			mi = 0;
			continue;
		}
		mi = minute;
		int64_t t;
		if (local_instant(y, mo, d, h, mi, &t) == 0 && t * 1000 > after_ms) {
			*next_ms = t * 1000;
			return 0;
		}
		if (++mi > 59) {
			mi = 0;
			if (++h > 23)
				h = 0, d++;
		}
	}
	return -1;
}
