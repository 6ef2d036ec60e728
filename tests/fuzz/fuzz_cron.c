/*
 * fuzz_cron.c: cron_parse on arbitrary text, and cron_next of what it accepts: the next time
 * is after the start, on a whole minute, and its local time matches the expression.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "queue/cron.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A zone with daylight saving time, so skipped and repeated local times are exercised. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	return 0;
}

static int matches(const struct cron *c, int64_t ms)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	if (!localtime_r(&secs, &tm))
		return 0;
	int dom = (c->dom >> tm.tm_mday) & 1, dow = (c->dow >> tm.tm_wday) & 1;
	int day = c->dom_star || c->dow_star ? dom && dow : dom || dow;
	return ((c->minute >> tm.tm_min) & 1) && ((c->hour >> tm.tm_hour) & 1) &&
	       ((c->month >> (tm.tm_mon + 1)) & 1) && day;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char expr[CRON_EXPR_MAX + 64];
	if (size < 8 || size - 8 >= sizeof expr)
		return 0;
	/* The first 8 bytes pick a start time within about 60 years of 2000. */
	uint64_t r;
	memcpy(&r, data, 8);
	int64_t start = 946684800000LL + (int64_t)(r % (60ULL * 366 * 86400 * 1000));
	memcpy(expr, data + 8, size - 8);
	expr[size - 8] = '\0';

	struct cron c;
	char *cause = NULL;
	if (cron_parse(expr, &c, &cause) < 0) {
		if (!cause)
			abort();
		free(cause);
		return 0;
	}
	int64_t next;
	if (cron_next(&c, start, &next) < 0)
		return 0;
	if (next <= start || next % 60000 != 0 || !matches(&c, next)) {
		fprintf(stderr, "'%s' after %lld: next %lld is wrong\n", expr, (long long)start,
		        (long long)next);
		abort();
	}
	return 0;
}
